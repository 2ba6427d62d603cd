/** Whether a forwarded port has a server behind it (QEMU's user network accepts before the guest does). */
import net from "node:net";

/**
 * True when `host:port` sends something matching `greeting` within `timeoutMs` (default: any
 * byte). QEMU's user network accepts every connection on a forwarded port and closes it when
 * the guest refuses, so "connected" alone says nothing; a greeting (SSH's `SSH-2.0-…`) does.
 */
export function greets(
  host: string,
  port: number,
  greeting: RegExp = /[\s\S]/,
  timeoutMs = 2000,
): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = net.createConnection({ host, port });
    let buf = "";
    const done = (ok: boolean) => {
      sock.destroy();
      resolve(ok);
    };
    sock.setTimeout(timeoutMs, () => done(false));
    sock.on("data", (d) => {
      buf += d.toString("latin1");
      if (greeting.test(buf)) done(true);
    });
    sock.on("error", () => done(false));
    sock.on("close", () => done(greeting.test(buf)));
  });
}

/** True when `host:port` accepts and keeps a connection open for `holdMs` (servers that speak second: HTTP, WinRM). */
export function accepts(host: string, port: number, holdMs = 500): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = net.createConnection({ host, port });
    let open = false;
    const t = setTimeout(() => {
      sock.destroy();
      resolve(open);
    }, holdMs + 2000);
    sock.on("connect", () => {
      open = true;
      setTimeout(() => {
        clearTimeout(t);
        sock.destroy();
        resolve(open);
      }, holdMs);
    });
    sock.on("error", () => {
      open = false;
    });
    sock.on("close", () => {
      open = false;
      clearTimeout(t);
      resolve(false);
    });
  });
}
