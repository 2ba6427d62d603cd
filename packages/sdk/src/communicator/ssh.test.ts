import { execFileSync, spawn } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { createReadStream, createWriteStream, existsSync } from "node:fs";
import {
  chmod,
  lstat,
  mkdir,
  mkdtemp,
  readFile,
  readlink,
  rm,
  stat,
  symlink,
  writeFile,
} from "node:fs/promises";
import { createServer, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PassThrough, Writable } from "node:stream";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import {
  freePort,
  processesMentioning,
  type Sshd,
  sshdAvailability,
  startSshd,
  stopAllSshd,
} from "../testing/sshd.js";
import type { CommunicatorError } from "./errors.js";
import {
  generateTemporaryKeyPair,
  type TemporaryKeyFile,
  type TemporaryKeyPair,
  writeTemporaryPrivateKey,
} from "./keys.js";
import { SSHCommunicator, type SSHConfig } from "./ssh.js";

const avail = sshdAvailability();
const mustRun = process.env.CI === "true";
const skip = !avail.available && !mustRun;
if (skip) {
  // biome-ignore lint/suspicious/noConsole: tell the developer why a suite is skipped
  console.warn(`[kiln] skipping the SSH communicator tests: ${avail.reason ?? "sshd unavailable"}`);
}
const isRoot = process.getuid?.() === 0;

async function sha256File(path: string): Promise<string> {
  const h = createHash("sha256");
  for await (const chunk of createReadStream(path, { highWaterMark: 1024 * 1024 })) h.update(chunk as Buffer);
  return h.digest("hex");
}

async function rejection(p: Promise<unknown>): Promise<CommunicatorError> {
  try {
    await p;
  } catch (err) {
    return err as CommunicatorError;
  }
  throw new Error("expected a rejection");
}

describe.skipIf(skip)(
  `SSH communicator against a real OpenSSH server${skip ? ` (skipped: ${avail.reason})` : ""}`,
  () => {
    let sshd: Sshd;
    let key: TemporaryKeyPair;
    let keyFile: TemporaryKeyFile;
    let work: string;
    const comms: SSHCommunicator[] = [];
    const extraServers: Sshd[] = [];

    beforeAll(async () => {
      if (!avail.available)
        throw new Error(
          `CI=true requires the sshd tests to run, but ${avail.reason ?? "sshd is unavailable"}`,
        );
      key = generateTemporaryKeyPair();
      sshd = await startSshd({ password: true, authorizedKeys: [key.publicKey] });
      keyFile = await writeTemporaryPrivateKey(key.privateKey);
      work = await mkdtemp(join(tmpdir(), "kiln-ssh-test-"));
    });

    afterEach(async () => {
      await Promise.all(comms.splice(0).map((c) => c.close()));
    });

    afterAll(async () => {
      await Promise.all(comms.splice(0).map((c) => c.close()));
      await stopAllSshd();
      await keyFile?.dispose();
      if (work) await rm(work, { recursive: true, force: true });
    });

    function make(over: Partial<SSHConfig> = {}): SSHCommunicator {
      const c = new SSHCommunicator({
        ssh_host: sshd.host,
        ssh_port: sshd.port,
        ssh_username: sshd.user.username,
        ssh_private_key: key.privateKey,
        ssh_timeout: "20s",
        retry: { initialMs: 100, maxMs: 500 },
        ...over,
      });
      comms.push(c);
      return c;
    }

    /**
     * OpenSSH delivers "signal" requests only to privilege-separated sessions, not to root logins (nor
     * when sshd itself runs unprivileged): only then can we check that a stopped command really died.
     */
    async function killableSession(): Promise<{ c: SSHCommunicator; killable: boolean }> {
      const c = make();
      await c.connect();
      return { c, killable: isRoot };
    }

    describe("authentication", () => {
      it("logs in with a private key file", async () => {
        const c = make({ ssh_private_key: undefined, ssh_private_key_file: keyFile.path });
        await c.connect();
        const r = await c.run("id -un");
        expect(r).toMatchObject({ exitCode: 0 });
        expect(r.stdout.trim()).toBe(sshd.user.username);
        expect(c.hostKeyFingerprint).toMatch(/^SHA256:/);
      });

      it.skipIf(!isRoot)("logs in with a password (throwaway user)", async () => {
        const u = sshd.user;
        const c = make({ ssh_private_key: undefined, ssh_password: u.password });
        await c.connect();
        expect((await c.run("id -un")).stdout.trim()).toBe(u.username);
      });

      it("fails clearly and quickly on a wrong password, without leaking it", async () => {
        const lines: string[] = [];
        const secret = "wrong-Secret-123";
        const c = make({
          ssh_private_key: undefined,
          ssh_password: secret,
          ssh_handshake_attempts: 2,
          log: (l) => lines.push(l),
        });
        const t0 = Date.now();
        const err = await rejection(c.connect());
        expect(Date.now() - t0).toBeLessThan(10_000);
        expect(err.code).toBe("KILN_SSH_AUTH_FAILED");
        expect(err.message).toMatch(/authentication failed for user/);
        expect(err.message).toMatch(/tried: password/);
        expect(err.message).not.toContain(secret);
        expect(lines.join("\n")).not.toContain(secret);
        expect(c.connected).toBe(false);
      });

      it("fails clearly on a key the server does not accept and names the methods", async () => {
        const other = generateTemporaryKeyPair();
        const c = make({ ssh_private_key: other.privateKey, ssh_handshake_attempts: 1 });
        const err = await rejection(c.connect());
        expect(err.code).toBe("KILN_SSH_AUTH_FAILED");
        expect(err.message).toContain("publickey (in-memory key)");
        expect(err.message).toContain("the server accepts: publickey");
        expect(err.message).not.toContain("PRIVATE KEY");
      });

      it("logs in with a temporary RSA key pair added to authorized_keys", async () => {
        const rsa = generateTemporaryKeyPair("rsa", 3072);
        await sshd.addAuthorizedKey(rsa.publicKey);
        const file = await writeTemporaryPrivateKey(rsa.privateKey);
        try {
          const c = make({ ssh_private_key: undefined, ssh_private_key_file: file.path });
          await c.connect();
          expect((await c.run("echo ok")).stdout).toBe("ok\n");
        } finally {
          await file.dispose();
        }
        expect(existsSync(file.path)).toBe(false);
      });

      it.skipIf(!existsSync("/usr/bin/ssh-agent"))("logs in through ssh-agent (ssh_agent_auth)", async () => {
        const sock = join(work, "agent.sock");
        const agent = spawn("/usr/bin/ssh-agent", ["-D", "-a", sock], { stdio: "ignore" });
        const saved = process.env.SSH_AUTH_SOCK;
        try {
          for (let i = 0; i < 100 && !existsSync(sock); i++) await new Promise((r) => setTimeout(r, 20));
          execFileSync("/usr/bin/ssh-add", ["-q", keyFile.path], {
            env: { ...process.env, SSH_AUTH_SOCK: sock },
            stdio: "ignore",
          });
          process.env.SSH_AUTH_SOCK = sock;
          const c = make({ ssh_private_key: undefined, ssh_agent_auth: true });
          await c.connect();
          expect((await c.run("echo agent")).stdout).toBe("agent\n");
          delete process.env.SSH_AUTH_SOCK;
          await expect(
            make({ ssh_private_key: undefined, ssh_agent_auth: true }).connect(),
          ).rejects.toMatchObject({
            code: "KILN_SSH_CONFIG",
            message: expect.stringContaining("SSH_AUTH_SOCK"),
          });
        } finally {
          if (saved === undefined) delete process.env.SSH_AUTH_SOCK;
          else process.env.SSH_AUTH_SOCK = saved;
          agent.kill("SIGTERM");
        }
      });

      it("forwards the local agent when asked (ssh_disable_agent_forwarding unset), and not otherwise", async () => {
        const sock = join(work, "fwd-agent.sock");
        const agent = spawn("/usr/bin/ssh-agent", ["-D", "-a", sock], { stdio: "ignore" });
        const saved = process.env.SSH_AUTH_SOCK;
        try {
          for (let i = 0; i < 100 && !existsSync(sock); i++) await new Promise((r) => setTimeout(r, 20));
          execFileSync("/usr/bin/ssh-add", ["-q", keyFile.path], {
            env: { ...process.env, SSH_AUTH_SOCK: sock },
            stdio: "ignore",
          });
          process.env.SSH_AUTH_SOCK = sock;
          const fwd = make({ ssh_agent_forwarding: true });
          await fwd.connect();
          const listed = await fwd.run("ssh-add -l");
          expect(listed.stdout).toContain(key.fingerprint);
          const plain = make();
          await plain.connect();
          expect((await plain.run('echo "${SSH_AUTH_SOCK:-none}"')).stdout).toBe("none\n");
        } finally {
          if (saved === undefined) delete process.env.SSH_AUTH_SOCK;
          else process.env.SSH_AUTH_SOCK = saved;
          agent.kill("SIGTERM");
        }
      });

      it("checks a pinned host key or known_hosts file when given, and rejects a mismatch", async () => {
        await make({ ssh_host_key: sshd.hostPublicKey }).connect();
        const kh = join(work, "known_hosts");
        await writeFile(kh, `[${sshd.host}]:${sshd.port} ${sshd.hostPublicKey}\n`);
        await make({ ssh_known_hosts_file: kh }).connect();
        const wrong = generateTemporaryKeyPair().publicKey;
        const err = await rejection(make({ ssh_host_key: wrong }).connect());
        expect(err.code).toBe("KILN_SSH_HOST_KEY_MISMATCH");
        expect(err.message).toContain("SHA256:");
      });

      it("connects through a bastion host with forwardOut", async () => {
        const c = make({
          ssh_bastion_host: sshd.host,
          ssh_bastion_port: sshd.port,
          ssh_bastion_private_key_file: keyFile.path,
        });
        await c.connect();
        expect((await c.run("echo via-bastion")).stdout).toBe("via-bastion\n");
        const bad = make({
          ssh_bastion_host: sshd.host,
          ssh_bastion_port: sshd.port,
          ssh_bastion_password: "nope-not-it",
        });
        const err = await rejection(bad.connect());
        expect(err.code).toBe("KILN_SSH_AUTH_FAILED");
        expect(err.message).toContain("bastion host");
        expect(err.message).not.toContain("nope-not-it");
      });
    });

    describe("connecting while the machine boots", () => {
      it("retries while the port is closed and succeeds once sshd starts", async () => {
        const port = await freePort();
        const lines: string[] = [];
        const c = make({ ssh_port: port, log: (l) => lines.push(l) });
        const connecting = c.connect();
        await new Promise((r) => setTimeout(r, 1500));
        const late = await startSshd({ port, authorizedKeys: [key.publicKey] });
        extraServers.push(late);
        await connecting;
        expect((await c.run("echo up")).stdout).toBe("up\n");
        expect(lines.some((l) => /waiting for SSH .*ECONNREFUSED/.test(l))).toBe(true);
        await c.close();
        await late.stop();
      });

      it("gives up after ssh_timeout with the last error", async () => {
        const port = await freePort();
        const c = make({ ssh_port: port, ssh_timeout: "1s" });
        const t0 = Date.now();
        const err = await rejection(c.connect());
        expect(Date.now() - t0).toBeLessThan(3000);
        expect(err.code).toBe("KILN_SSH_TIMEOUT");
        expect(err.message).toContain("ECONNREFUSED");
      });

      it("cancels promptly on abort and leaves no socket open", async () => {
        const sockets: Socket[] = [];
        const closed: Promise<void>[] = [];
        const server = createServer((s) => {
          sockets.push(s);
          closed.push(new Promise((r) => s.once("close", () => r())));
          s.on("error", () => {});
          s.resume(); // read, so that the client's FIN is seen
        }); // accepts TCP but never speaks SSH: a guest whose sshd hangs
        await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
        const addr = server.address();
        const port = typeof addr === "object" && addr ? addr.port : 0;
        try {
          const c = make({ ssh_port: port });
          const ac = new AbortController();
          const p = c.connect(ac.signal);
          while (sockets.length === 0) await new Promise((r) => setTimeout(r, 20));
          const t0 = Date.now();
          ac.abort();
          const err = await rejection(p);
          expect(err.code).toBe("KILN_SSH_ABORTED");
          expect(Date.now() - t0).toBeLessThan(500);
          await Promise.race([
            Promise.all(closed),
            new Promise((_, rej) => setTimeout(() => rej(new Error("socket left open")), 2000)),
          ]);
          expect(sockets.every((s) => s.destroyed)).toBe(true);
        } finally {
          await new Promise<void>((r) => server.close(() => r()));
        }
      });
    });

    describe("exec", () => {
      it("streams stdout and stderr as they come and returns the exit code", async () => {
        const c = make();
        await c.connect();
        const events: { stream: string; text: string; at: number }[] = [];
        const t0 = Date.now();
        const r = await c.exec("echo out1; echo err1 >&2; sleep 0.6; echo out2; exit 3", {
          onStdout: (text) => events.push({ stream: "out", text, at: Date.now() - t0 }),
          onStderr: (text) => events.push({ stream: "err", text, at: Date.now() - t0 }),
        });
        const done = Date.now() - t0;
        expect(r).toEqual({ exitCode: 3 });
        expect(
          events
            .filter((e) => e.stream === "out")
            .map((e) => e.text)
            .join(""),
        ).toBe("out1\nout2\n");
        expect(
          events
            .filter((e) => e.stream === "err")
            .map((e) => e.text)
            .join(""),
        ).toBe("err1\n");
        const first = events.find((e) => e.text.includes("out1"));
        expect(first && done - first.at).toBeGreaterThan(400); // arrived before the command ended
      });

      it("reports success, non-zero codes, signals, env and no stdin", async () => {
        const c = make();
        await c.connect();
        expect(await c.exec("true")).toEqual({ exitCode: 0 });
        expect(await c.exec("exit 42")).toEqual({ exitCode: 42 });
        const killed = await c.exec("kill -TERM $$");
        expect(killed.exitCode).toBeNull();
        expect(killed.signal).toBe("SIGTERM");
        const env = await c.run('printf %s "$GREETING/$OTHER"', {
          env: { GREETING: 'it\'s a "b" $x', OTHER: "2" },
        });
        expect(env.stdout).toBe('it\'s a "b" $x/2');
        expect((await c.run("cat; echo end")).stdout).toBe("end\n");
        await expect(c.exec("true", { env: { "BAD-NAME": "x" } })).rejects.toMatchObject({
          code: "KILN_SSH_CONFIG",
        });
      });

      it("feeds a stream to stdin and hands back raw stdout/stderr bytes, with back-pressure", async () => {
        const c = make();
        await c.connect();
        // 8 MiB of random bytes (not UTF-8): what a relayed SFTP or dd session carries
        const data = randomBytes(8 * 1024 * 1024);
        const input = new PassThrough();
        const chunks: Buffer[] = [];
        let slow = 0;
        // a sink that is full after every chunk and drains a little later
        const out = new Writable({
          highWaterMark: 1,
          write(chunk: Buffer, _enc, done) {
            chunks.push(chunk);
            slow++;
            setTimeout(done, slow % 50 === 0 ? 5 : 0);
          },
        });
        const errChunks: Buffer[] = [];
        const err = new Writable({
          write(chunk: Buffer, _enc, done) {
            errChunks.push(chunk);
            done();
          },
        });
        const running = c.exec("cat; printf '\\377oops' >&2; exit 7", {
          stdin: input,
          stdout: out,
          stderr: err,
        });
        for (let i = 0; i < data.length; i += 1024 * 1024) input.write(data.subarray(i, i + 1024 * 1024));
        input.end();
        expect(await running).toEqual({ exitCode: 7 });
        expect(Buffer.concat(chunks).equals(data)).toBe(true);
        expect(Buffer.concat(errChunks)).toEqual(Buffer.from([0xff, ...Buffer.from("oops")]));
      });

      it("stops a command at timeoutMs", async () => {
        const { c, killable } = await killableSession();
        const t0 = Date.now();
        const err = await rejection(c.exec("sleep 31.25", { timeoutMs: 500 }));
        expect(err.code).toBe("KILN_SSH_EXEC_TIMEOUT");
        expect(Date.now() - t0).toBeLessThan(2000);
        await new Promise((r) => setTimeout(r, 300));
        const left = (await c.run("pgrep -u \"$(id -u)\" -f 'sleep 31[.]25' || true")).stdout.trim();
        if (killable) expect(left).toBe("");
        expect((await c.run("echo still-usable")).stdout).toBe("still-usable\n");
      });

      it("cancels a command on abort, closing the channel and killing the command", async () => {
        const { c, killable } = await killableSession();
        const ac = new AbortController();
        setTimeout(() => ac.abort(), 300);
        const err = await rejection(c.exec("sleep 32.5", { signal: ac.signal }));
        expect(err.code).toBe("KILN_SSH_ABORTED");
        // the remote command is gone too (sshd delivers the KILL signal, or hangs up on it)
        let left = "";
        for (let i = 0; i < 20; i++) {
          left = (await c.run("pgrep -u \"$(id -u)\" -f 'sleep 32[.]5' || true")).stdout.trim();
          if (left === "") break;
          await new Promise((r) => setTimeout(r, 100));
        }
        if (killable) expect(left).toBe("");
        expect((await c.run("echo still-usable")).stdout).toBe("still-usable\n");
      });

      it("refuses to run when not connected", async () => {
        const c = make();
        await expect(c.exec("true")).rejects.toMatchObject({ code: "KILN_SSH_NOT_CONNECTED" });
      });
    });

    describe("file transfer", () => {
      it("uploads and downloads 200 MB with matching sha256, streaming", async () => {
        const src = join(work, "big.bin");
        const out = createWriteStream(src);
        const h = createHash("sha256");
        for (let i = 0; i < 200; i++) {
          const chunk = randomBytes(1024 * 1024);
          h.update(chunk);
          if (!out.write(chunk)) await new Promise<void>((r) => out.once("drain", () => r()));
        }
        await new Promise<void>((r) => out.end(() => r()));
        const sum = h.digest("hex");
        const c = make();
        await c.connect();
        const remote = join(sshd.user.home, "remote-big.bin");
        let last = 0;
        let calls = 0;
        const t0 = Date.now();
        await c.upload(src, remote, {
          onProgress: (done, total) => {
            calls++;
            expect(done).toBeGreaterThanOrEqual(last);
            expect(total).toBe(200 * 1024 * 1024);
            last = done;
          },
        });
        const upMs = Date.now() - t0;
        expect(last).toBe(200 * 1024 * 1024);
        expect(calls).toBeGreaterThan(10);
        expect(await sha256File(remote)).toBe(sum);
        const back = join(work, "back.bin");
        const t1 = Date.now();
        await c.download(remote, back);
        const downMs = Date.now() - t1;
        expect((await stat(back)).size).toBe(200 * 1024 * 1024);
        expect(await sha256File(back)).toBe(sum);
        await Promise.all([rm(src), rm(remote), rm(back)]);
        expect(upMs + downMs).toBeLessThan(60_000);
      }, 90_000);

      it("uploads a Buffer with a mode and rejects a missing remote file on download", async () => {
        const c = make();
        await c.connect();
        const remote = join(sshd.user.home, "script.sh");
        await c.upload(Buffer.from("#!/bin/sh\necho hi\n"), remote, { mode: 0o750 });
        expect((await stat(remote)).mode & 0o777).toBe(0o750);
        expect((await c.run(remote)).stdout).toBe("hi\n");
        await c.upload(Buffer.alloc(0), join(sshd.user.home, "empty"));
        expect((await stat(join(sshd.user.home, "empty"))).size).toBe(0);
        const err = await rejection(c.download(join(sshd.user.home, "does-not-exist"), join(work, "x")));
        expect(err.code).toBe("KILN_SSH_TRANSFER_FAILED");
        expect(err.message).toContain("does-not-exist");
        expect(existsSync(join(work, "x"))).toBe(false);
      });

      it("uploads and downloads directories recursively with modes and symlinks", async () => {
        const local = join(work, "tree");
        await mkdir(join(local, "sub", "deeper"), { recursive: true });
        await mkdir(join(local, "empty"));
        await writeFile(join(local, "a.txt"), "alpha\n");
        await writeFile(join(local, "sub", "run.sh"), "#!/bin/sh\n", { mode: 0o755 });
        await writeFile(join(local, "sub", "deeper", "secret"), randomBytes(300_000), { mode: 0o600 });
        await chmod(join(local, "sub", "deeper"), 0o700);
        await symlink("a.txt", join(local, "link"));
        const c = make();
        await c.connect();
        const remote = join(sshd.user.home, "remote-tree");
        await c.uploadDir(local, remote);
        expect(await readFile(join(remote, "a.txt"), "utf8")).toBe("alpha\n");
        expect((await stat(join(remote, "sub", "run.sh"))).mode & 0o777).toBe(0o755);
        expect((await stat(join(remote, "sub", "deeper", "secret"))).mode & 0o777).toBe(0o600);
        expect((await stat(join(remote, "sub", "deeper"))).mode & 0o777).toBe(0o700);
        expect((await stat(join(remote, "empty"))).isDirectory()).toBe(true);
        expect(await readlink(join(remote, "link"))).toBe("a.txt");
        expect(await sha256File(join(remote, "sub", "deeper", "secret"))).toBe(
          await sha256File(join(local, "sub", "deeper", "secret")),
        );

        const back = join(work, "tree-back");
        await c.downloadDir(remote, back);
        expect(await readFile(join(back, "a.txt"), "utf8")).toBe("alpha\n");
        expect((await stat(join(back, "sub", "run.sh"))).mode & 0o777).toBe(0o755);
        expect((await stat(join(back, "sub", "deeper", "secret"))).mode & 0o777).toBe(0o600);
        expect((await stat(join(back, "sub", "deeper"))).mode & 0o777).toBe(0o700);
        expect((await lstat(join(back, "link"))).isSymbolicLink()).toBe(true);
        expect(await sha256File(join(back, "sub", "deeper", "secret"))).toBe(
          await sha256File(join(local, "sub", "deeper", "secret")),
        );
      });
      it("falls back to a remote shell (cat) for single files when the server has no SFTP", async () => {
        const nosftp = await startSshd({ sftp: false, authorizedKeys: [key.publicKey] });
        extraServers.push(nosftp);
        const lines: string[] = [];
        const c = make({
          ssh_port: nosftp.port,
          ssh_username: nosftp.user.username,
          log: (l) => lines.push(l),
        });
        await c.connect();
        const data = randomBytes(3 * 1024 * 1024 + 17);
        const remote = join(nosftp.user.home, "via-cat.bin");
        let last = 0;
        await c.upload(data, remote, { mode: 0o640, onProgress: (d) => (last = d) });
        expect(last).toBe(data.length);
        expect(lines.some((l) => l.includes("no SFTP"))).toBe(true);
        expect((await readFile(remote)).equals(data)).toBe(true);
        expect((await stat(remote)).mode & 0o777).toBe(0o640);
        const back = join(work, "via-cat.back");
        await c.download(remote, back);
        expect((await readFile(back)).equals(data)).toBe(true);
        expect((await stat(back)).mode & 0o777).toBe(0o640);
        const err = await rejection(c.uploadDir(work, join(nosftp.user.home, "d")));
        expect(err.code).toBe("KILN_SSH_TRANSFER_FAILED");
        expect(err.message).toContain("needs SFTP");
        const missing = await rejection(c.download(join(nosftp.user.home, "nope"), join(work, "nope")));
        expect(missing.code).toBe("KILN_SSH_TRANSFER_FAILED");
        expect(existsSync(join(work, "nope"))).toBe(false);
        await c.close();
        await nosftp.stop();
      });
    });

    describe("expect_disconnect and reconnect", () => {
      it("survives a command that drops the connection, then reconnects after the 'reboot'", async () => {
        const lines: string[] = [];
        const c = make({ log: (l) => lines.push(l) });
        await c.connect();
        const running = c.exec("sleep 30", { expectDisconnect: true });
        await new Promise((r) => setTimeout(r, 300));
        const restarting = sshd.restart({ downMs: 1500 });
        expect(await running).toEqual({ exitCode: null, disconnected: true });
        expect(c.connected).toBe(false);
        await expect(c.exec("true")).rejects.toMatchObject({ code: "KILN_SSH_NOT_CONNECTED" });
        await c.reconnect();
        await restarting;
        expect((await c.run("echo back")).stdout).toBe("back\n");
        expect(lines.some((l) => l.includes("waiting for SSH"))).toBe(true);
      });

      it("without expectDisconnect a dropped connection is an error", async () => {
        const c = make();
        await c.connect();
        const running = rejection(c.exec("sleep 30"));
        await new Promise((r) => setTimeout(r, 300));
        await sshd.restart({ downMs: 100 });
        const err = await running;
        expect(err.code).toBe("KILN_SSH_DISCONNECTED");
      });
    });

    describe("cleanup", () => {
      it("leaves no sshd process and no temporary directory behind", async () => {
        const dirs = [sshd.dir, ...extraServers.map((s) => s.dir)];
        const pid = sshd.pid;
        const user = isRoot ? sshd.user.username : undefined;
        await stopAllSshd();
        for (const d of dirs) {
          expect(existsSync(d)).toBe(false);
          expect(processesMentioning(join(d, "sshd_config"))).toEqual([]);
        }
        if (pid) expect(() => process.kill(pid, 0)).toThrow();
        if (user) expect((await readFile("/etc/passwd", "utf8")).includes(`${user}:`)).toBe(false);
      });
    });
  },
);
