/**
 * Test helper: a local TCP address whose connects hang like a filtered host's.
 *
 * An unroutable address (10.255.255.1) is no good here: sandboxes and CI proxies often accept
 * every outbound connection at once. Instead a child process listens with a backlog of 1 (Node takes 0 for its default, 511) and
 * then blocks its event loop, so it never accepts: the kernel queues a couple of connections
 * (made here), and drops the SYN of every later one, which stays pending until the OS gives up
 * (minutes).
 * Not part of the published package (excluded from the build).
 */
import { type ChildProcess, spawn } from "node:child_process";
import { connect, type Socket } from "node:net";

const CHILD = `
const net = require("node:net");
const s = net.createServer();
s.listen({ host: "127.0.0.1", port: 0, backlog: 1 }, () => {
  process.stdout.write(s.address().port + "\\n");
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0);
});
`;

export interface Blackhole {
  host: string;
  port: number;
  close(): Promise<void>;
}

/** Start a listener that never accepts, with its accept queue already full. */
export async function startBlackhole(): Promise<Blackhole> {
  const child: ChildProcess = spawn(process.execPath, ["-e", CHILD], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  const filler: Socket[] = [];
  const close = async () => {
    for (const s of filler) s.destroy();
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((r) => child.once("exit", r));
      child.kill("SIGKILL");
      await exited;
    }
  };
  try {
    const port = await new Promise<number>((resolve, reject) => {
      let out = "";
      child.stdout?.on("data", (c: Buffer) => {
        out += c.toString();
        if (out.includes("\n")) resolve(Number(out.trim()));
      });
      child.once("error", reject);
      child.once("exit", (code) => reject(new Error(`blackhole listener exited (${code})`)));
    });
    // Fill the accept queue: these connects complete in the kernel until it is full (backlog + 1
    // on Linux); the first one that stays pending shows the next ones hang too.
    for (let i = 0; ; i++) {
      if (i === 8) throw new Error("the blackhole listener's accept queue never filled");
      const s = connect({ host: "127.0.0.1", port });
      s.on("error", () => {});
      filler.push(s);
      const connected = await new Promise<boolean>((resolve, reject) => {
        const t = setTimeout(() => resolve(false), 300);
        s.once("connect", () => {
          clearTimeout(t);
          resolve(true);
        });
        s.once("error", (err) => {
          clearTimeout(t);
          reject(err);
        });
      });
      if (!connected) {
        s.destroy();
        break;
      }
    }
    return { host: "127.0.0.1", port, close };
  } catch (err) {
    await close();
    throw err;
  }
}
