/**
 * Packer's SSH options against a real OpenSSH server: ssh_pty, ssh_ciphers and
 * ssh_key_exchange_algorithms, ssh_local_tunnels / ssh_remote_tunnels, and ssh_proxy_* through a
 * SOCKS5 proxy (a small one here, speaking RFC 1928/1929, that records what it was asked).
 */
import { createServer, type Server, type Socket, connect as tcpConnect } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freePort, type Sshd, sshdAvailability, startSshd, stopAllSshd } from "../testing/sshd.js";
import { generateTemporaryKeyPair, type TemporaryKeyPair } from "./keys.js";
import { SSHCommunicator, type SSHConfig } from "./ssh.js";

const avail = sshdAvailability();
const skip = !avail.available && process.env.CI !== "true";

/** A SOCKS5 server (CONNECT only; optional username/password) that logs each request. */
function socks5(auth?: {
  user: string;
  pass: string;
}): Promise<{ port: number; seen: string[]; server: Server }> {
  const seen: string[] = [];
  const server = createServer((c: Socket) => {
    c.once("data", (hello) => {
      const methods = [...hello.subarray(2, 2 + (hello[1] ?? 0))];
      const want = auth ? 2 : 0;
      if (hello[0] !== 5 || !methods.includes(want)) return c.end(Buffer.from([5, 0xff]));
      c.write(Buffer.from([5, want]));
      const request = () =>
        c.once("data", (req) => {
          let host: string;
          let at: number;
          if (req[3] === 1) {
            host = [...req.subarray(4, 8)].join(".");
            at = 8;
          } else {
            const n = req[4] ?? 0;
            host = req.subarray(5, 5 + n).toString();
            at = 5 + n;
          }
          const port = req.readUInt16BE(at);
          seen.push(`${host}:${port}`);
          const up = tcpConnect(port, host, () => {
            c.write(Buffer.from([5, 0, 0, 1, 127, 0, 0, 1, 0, 0]));
            c.pipe(up).pipe(c);
          });
          up.on("error", () => c.end(Buffer.from([5, 5, 0, 1, 0, 0, 0, 0, 0, 0])));
        });
      if (!auth) return request();
      c.once("data", (a) => {
        const ul = a[1] ?? 0;
        const user = a.subarray(2, 2 + ul).toString();
        const pass = a.subarray(3 + ul, 3 + ul + (a[2 + ul] ?? 0)).toString();
        const ok = user === auth.user && pass === auth.pass;
        c.write(Buffer.from([1, ok ? 0 : 1]));
        if (ok) request();
        else c.end();
      });
    });
    c.on("error", () => {});
  });
  return new Promise((resolve) =>
    server.listen(0, "127.0.0.1", () =>
      resolve({ port: (server.address() as { port: number }).port, seen, server }),
    ),
  );
}

/** A TCP server that answers each line with "echo:<line>". */
function echo(): Promise<{ port: number; server: Server }> {
  const server = createServer((c) => {
    c.on("data", (d) => c.write(`echo:${d}`));
    c.on("error", () => {});
  });
  return new Promise((resolve) =>
    server.listen(0, "127.0.0.1", () =>
      resolve({ port: (server.address() as { port: number }).port, server }),
    ),
  );
}

function ask(port: number, text: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = tcpConnect(port, "127.0.0.1", () => s.write(text));
    s.once("data", (d) => {
      resolve(String(d));
      s.destroy();
    });
    s.on("error", reject);
  });
}

describe.skipIf(skip)("Packer's SSH options against a real OpenSSH server", () => {
  let sshd: Sshd;
  let key: TemporaryKeyPair;
  const servers: Server[] = [];
  const comms: SSHCommunicator[] = [];
  beforeAll(async () => {
    key = generateTemporaryKeyPair();
    sshd = await startSshd({ authorizedKeys: [key.publicKey] });
  });
  afterAll(async () => {
    for (const c of comms) await c.close();
    for (const s of servers) s.close();
    await stopAllSshd();
  });
  const comm = (extra: Partial<SSHConfig> = {}) => {
    const c = new SSHCommunicator({
      ssh_host: sshd.host,
      ssh_port: sshd.port,
      ssh_username: sshd.user.username,
      ssh_private_key: key.privateKey,
      ssh_timeout: "20s",
      ...extra,
    });
    comms.push(c);
    return c;
  };
  const out = async (c: SSHCommunicator, cmd: string) => {
    let text = "";
    const r = await c.exec(cmd, { onStdout: (s) => (text += s), onStderr: (s) => (text += s) });
    return { code: r.exitCode, text: text.trim() };
  };

  it("ssh_pty runs commands in a pseudo-terminal", async () => {
    const plain = comm();
    await plain.connect();
    expect((await out(plain, "tty")).text).toMatch(/not a tty/);
    const pty = comm({ ssh_pty: true });
    await pty.connect();
    expect((await out(pty, "tty")).text).toMatch(/^\/dev\/pts\/\d+$/);
  });

  it("ssh_ciphers and ssh_key_exchange_algorithms are what is offered", async () => {
    const c = comm({ ssh_ciphers: ["aes128-ctr"], ssh_key_exchange_algorithms: ["curve25519-sha256"] });
    await c.connect();
    expect((await out(c, "echo ok")).text).toBe("ok");
    // OpenSSH no longer accepts 3des-cbc: offering only it cannot connect
    const no = comm({ ssh_ciphers: ["3des-cbc"], ssh_timeout: "2s" });
    await expect(no.connect()).rejects.toThrow();
  });

  it("ssh_local_tunnels and ssh_remote_tunnels forward ports while connected", async () => {
    const e = await echo();
    servers.push(e.server);
    const local = await freePort();
    const remote = await freePort();
    const c = comm({
      ssh_local_tunnels: [`${local}:127.0.0.1:${e.port}`],
      ssh_remote_tunnels: [`${remote}:127.0.0.1:${e.port}`],
    });
    await c.connect();
    expect(await ask(local, "hi\n")).toBe("echo:hi\n");
    // the machine reaches this side's echo server through its own port
    const r = await out(c, `bash -c 'exec 3<>/dev/tcp/127.0.0.1/${remote}; echo there >&3; head -c 10 <&3'`);
    expect(r.text).toBe("echo:there");
    await c.close();
    await expect(ask(local, "x")).rejects.toThrow();
  });

  it("ssh_proxy_* connects through a SOCKS5 proxy, with its username and password", async () => {
    const p = await socks5({ user: "kiln", pass: "proxy-secret" });
    servers.push(p.server);
    const c = comm({
      ssh_proxy_host: "127.0.0.1",
      ssh_proxy_port: p.port,
      ssh_proxy_username: "kiln",
      ssh_proxy_password: "proxy-secret",
    });
    await c.connect();
    expect((await out(c, "echo through")).text).toBe("through");
    expect(p.seen).toEqual([`${sshd.host}:${sshd.port}`]);
    const wrong = comm({
      ssh_proxy_host: "127.0.0.1",
      ssh_proxy_port: p.port,
      ssh_proxy_username: "kiln",
      ssh_proxy_password: "nope",
      ssh_timeout: "2s",
    });
    await expect(wrong.connect()).rejects.toThrow(/SOCKS5 proxy/);
  });
});
