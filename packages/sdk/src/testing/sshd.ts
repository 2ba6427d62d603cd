/**
 * A throwaway OpenSSH server for tests: Debian's /usr/sbin/sshd on 127.0.0.1, a free port, a temporary
 * host key, its own authorized_keys file and, when running as root and asked for, a throwaway user with
 * a password. Everything lives in one temporary directory removed by `stop()`.
 */
import { type ChildProcess, execFile, execFileSync, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { appendFile, chmod, mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { createConnection, createServer } from "node:net";
import { tmpdir, userInfo } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";

const run = promisify(execFile);

/** The sshd binary; `KILN_TEST_SSHD` overrides it (e.g. to check how suites behave without one). */
export const SSHD_PATH = process.env.KILN_TEST_SSHD ?? "/usr/sbin/sshd";
export const SSH_KEYGEN_PATH = "/usr/bin/ssh-keygen";

/** useradd/userdel fail while another process holds /etc/passwd's lock (parallel test files): retry a few times. */
async function runRetrying(cmd: string, args: string[]): Promise<void> {
  for (let i = 0; ; i++) {
    try {
      await run(cmd, args);
      return;
    } catch (err) {
      const text = String((err as { stderr?: unknown }).stderr ?? "");
      if (i >= 20 || !/lock|try again/i.test(text)) throw err;
      await new Promise((r) => setTimeout(r, 100 + Math.random() * 200));
    }
  }
}

/** Whether this machine can run {@link startSshd}; when not, `reason` says what to install. */
export function sshdAvailability(): { available: boolean; reason?: string } {
  if (process.platform !== "linux") return { available: false, reason: "the sshd test harness needs Linux" };
  if (!existsSync(SSHD_PATH))
    return { available: false, reason: `${SSHD_PATH} not found (apt-get install openssh-server)` };
  if (!existsSync(SSH_KEYGEN_PATH))
    return { available: false, reason: `${SSH_KEYGEN_PATH} not found (apt-get install openssh-client)` };
  return { available: true };
}

export interface StartSshdOptions {
  /** Allow password authentication (the throwaway user's password; only when running as root). */
  password?: boolean;
  /** Public key lines to put in authorized_keys at start. */
  authorizedKeys?: string[];
  /** Serve SFTP (default true). */
  sftp?: boolean;
  /** Port to listen on (default: a free one). */
  port?: number;
  /** Extra sshd_config lines. */
  extraConfig?: string[];
}

/** The account tests log in as. */
export interface SshdUser {
  username: string;
  /** Set when running as root: the throwaway user's random password (usable when `password: true`). */
  password: string | undefined;
  /** A directory the user owns, inside the temporary directory: put remote test files here. */
  home: string;
  uid: number;
}

export interface Sshd {
  host: string;
  port: number;
  /**
   * As root: a throwaway user (shell /bin/sh, home in the temp dir, no dotfiles) made with useradd and
   * removed by stop(), so tests never run the host's root dotfiles. Otherwise: the current user.
   */
  user: SshdUser;
  /** The server's host public key line. */
  hostPublicKey: string;
  /** The temporary directory holding config, keys and the pid file. */
  dir: string;
  /** The process id of the listening sshd (changes on restart). */
  readonly pid: number | undefined;
  addAuthorizedKey(publicKeyLine: string): Promise<void>;
  /** What sshd printed on stderr (the last 64 KiB). */
  logs(): string;
  /** Kill sshd and every session it spawned, like a machine going down; then start it again on the same port. */
  restart(opts?: { downMs?: number }): Promise<void>;
  /** Kill sshd and its sessions only (the port stays closed until start()). */
  kill(): Promise<void>;
  /** Start sshd again after kill(). */
  start(): Promise<void>;
  /** Kill sshd and all its sessions, delete the temporary directory and the throwaway user. Idempotent. */
  stop(): Promise<void>;
}

const live = new Set<Sshd>();

/** Stop every sshd started by this module (for afterAll hooks). */
export async function stopAllSshd(): Promise<void> {
  await Promise.all([...live].map((s) => s.stop()));
}

/** A TCP port that was free a moment ago on 127.0.0.1. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const addr = srv.address();
      const port = typeof addr === "object" && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

/** Resolves once something on host:port answers with an SSH banner. */
export async function waitForSshBanner(
  host: string,
  port: number,
  timeoutMs: number,
  alive?: () => boolean,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const sock = createConnection({ host, port });
      const done = (v: boolean): void => {
        sock.destroy();
        resolve(v);
      };
      sock.setTimeout(1000, () => done(false));
      sock.once("data", (d) => done(d.toString("latin1").startsWith("SSH-")));
      sock.once("error", () => done(false));
      sock.once("close", () => done(false));
    });
    if (ok) return;
    if (alive && !alive()) throw new Error("sshd exited before accepting connections");
    if (Date.now() > deadline)
      throw new Error(`sshd did not answer on ${host}:${port} within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Pids of every descendant of `pid` (from /proc). */
function descendants(pid: number): number[] {
  const children = new Map<number, number[]>();
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, "utf8");
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      const list = children.get(ppid) ?? [];
      list.push(Number(name));
      children.set(ppid, list);
    } catch {
      /* gone */
    }
  }
  const out: number[] = [];
  const stack = [pid];
  while (stack.length) {
    const p = stack.pop() as number;
    for (const c of children.get(p) ?? []) {
      out.push(c);
      stack.push(c);
    }
  }
  return out;
}

/** Pids of processes whose command line mentions `needle`. */
export function processesMentioning(needle: string): number[] {
  const out: number[] = [];
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    try {
      if (readFileSync(`/proc/${name}/cmdline`, "utf8").includes(needle)) out.push(Number(name));
    } catch {
      /* gone */
    }
  }
  return out;
}

/** Pids of processes owned by `uid` (from /proc). */
function processesOfUid(uid: number): number[] {
  const out: number[] = [];
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const m = /^Uid:\s+(\d+)/m.exec(readFileSync(`/proc/${name}/status`, "utf8"));
      if (m && Number(m[1]) === uid) out.push(Number(name));
    } catch {
      /* gone */
    }
  }
  return out;
}

function killPid(pid: number): void {
  try {
    process.kill(pid, "SIGKILL");
  } catch {
    /* already gone */
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

export async function startSshd(opts: StartSshdOptions = {}): Promise<Sshd> {
  const avail = sshdAvailability();
  if (!avail.available) throw new Error(`cannot start sshd: ${avail.reason ?? "unavailable"}`);
  const isRoot = process.getuid?.() === 0;
  const dir = await mkdtemp(join(tmpdir(), "kiln-sshd-"));
  await chmod(dir, 0o755); // a throwaway user must reach its home inside
  let proc: ChildProcess | undefined;
  let stderr = "";
  let stopped = false;
  let throwaway: string | undefined;
  const port = opts.port ?? (await freePort());
  const host = "127.0.0.1";
  const config = join(dir, "sshd_config");
  const authorizedKeys = join(dir, "authorized_keys");

  const killTree = async (): Promise<void> => {
    const p = proc;
    proc = undefined;
    if (!p?.pid) return;
    const pids = [p.pid, ...descendants(p.pid)];
    for (const pid of pids) {
      try {
        process.kill(pid, "SIGKILL");
      } catch {
        /* already gone */
      }
    }
    if (p.exitCode === null && p.signalCode === null)
      await new Promise<void>((r) => p.once("exit", () => r()));
    const until = Date.now() + 5000;
    while (pids.some(alive) && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
  };

  const spawnSshd = async (): Promise<void> => {
    const child = spawn(SSHD_PATH, ["-D", "-e", "-f", config], { stdio: ["ignore", "ignore", "pipe"] });
    proc = child;
    child.stderr?.on("data", (d: Buffer) => {
      stderr = (stderr + d.toString()).slice(-65536);
    });
    let exited = false;
    child.once("exit", () => {
      exited = true;
    });
    try {
      await waitForSshBanner(host, port, 10_000, () => !exited);
    } catch (err) {
      await killTree();
      throw new Error(`${(err as Error).message}\n--- sshd said ---\n${stderr}`);
    }
  };

  const cleanup = async (): Promise<void> => {
    await killTree();
    if (throwaway) {
      const uid = Number((await run("id", ["-u", throwaway]).catch(() => ({ stdout: "" }))).stdout.trim());
      if (uid > 0) for (const pid of processesOfUid(uid)) killPid(pid);
      await runRetrying("userdel", ["-f", throwaway]).catch(() => {});
    }
    await rm(dir, { recursive: true, force: true });
  };

  try {
    await run(SSH_KEYGEN_PATH, [
      "-q",
      "-t",
      "ed25519",
      "-N",
      "",
      "-C",
      "kiln-test-host",
      "-f",
      join(dir, "host_ed25519"),
    ]);
    const hostPublicKey = readFileSync(join(dir, "host_ed25519.pub"), "utf8").trim();
    await writeFile(authorizedKeys, (opts.authorizedKeys ?? []).map((k) => `${k.trim()}\n`).join(""), {
      mode: 0o644,
    });
    const home = join(dir, "home");
    await mkdir(home, { mode: 0o755 });
    let user: SshdUser;
    if (isRoot) {
      const username = `kiln-t-${randomBytes(4).toString("hex")}`;
      const password = `pw-${randomBytes(12).toString("base64url")}`;
      await runRetrying("useradd", ["-M", "-d", home, "-s", "/bin/sh", username]);
      throwaway = username;
      await run("chown", [username, home]);
      await new Promise<void>((resolve, reject) => {
        const c = spawn("chpasswd", [], { stdio: ["pipe", "ignore", "pipe"] });
        let err = "";
        c.stderr.on("data", (d: Buffer) => (err += d.toString()));
        c.once("error", reject);
        c.once("exit", (code) => (code === 0 ? resolve() : reject(new Error(`chpasswd failed: ${err}`))));
        c.stdin.end(`${username}:${password}\n`);
      });
      const uid = Number((await run("id", ["-u", username])).stdout.trim());
      user = { username, password, home, uid };
    } else {
      user = { username: userInfo().username, password: undefined, home, uid: process.getuid?.() ?? -1 };
    }
    if (isRoot && !existsSync("/run/sshd")) await mkdir("/run/sshd", { recursive: true, mode: 0o755 });
    const lines = [
      `Port ${port}`,
      `ListenAddress ${host}`,
      `HostKey ${join(dir, "host_ed25519")}`,
      `PidFile ${join(dir, "sshd.pid")}`,
      `AuthorizedKeysFile ${authorizedKeys}`,
      "PubkeyAuthentication yes",
      `PasswordAuthentication ${opts.password ? "yes" : "no"}`,
      "KbdInteractiveAuthentication no",
      "PermitRootLogin no",
      "UsePAM no",
      "StrictModes no",
      "MaxStartups 100",
      "MaxAuthTries 10",
      "LogLevel VERBOSE",
      "PrintMotd no",
      "AllowTcpForwarding yes",
      ...(opts.sftp === false ? [] : ["Subsystem sftp internal-sftp"]),
      ...(opts.extraConfig ?? []),
    ];
    await writeFile(config, `${lines.join("\n")}\n`, { mode: 0o600 });
    await spawnSshd();

    const sshd: Sshd = {
      host,
      port,
      user,
      hostPublicKey,
      dir,
      get pid() {
        return proc?.pid;
      },
      async addAuthorizedKey(line: string) {
        await appendFile(authorizedKeys, `${line.trim()}\n`);
      },
      logs: () => stderr,
      async kill() {
        await killTree();
      },
      async start() {
        if (stopped) throw new Error("sshd was stopped");
        if (!proc) await spawnSshd();
      },
      async restart(o?: { downMs?: number }) {
        await killTree();
        await new Promise((r) => setTimeout(r, o?.downMs ?? 500));
        if (!stopped) await spawnSshd();
      },
      async stop() {
        if (stopped) return;
        stopped = true;
        live.delete(sshd);
        await cleanup();
      },
    };
    live.add(sshd);
    return sshd;
  } catch (err) {
    await cleanup();
    throw err;
  }
}

// Last resort: never leave an sshd behind when the test process exits abruptly.
process.once("exit", () => {
  for (const s of live) {
    const pid = s.pid;
    if (pid) for (const p of [pid, ...descendants(pid)]) killPid(p);
    if (process.getuid?.() === 0 && s.user.username.startsWith("kiln-t-")) {
      for (const p of processesOfUid(s.user.uid)) killPid(p);
      try {
        execFileSync("userdel", ["-f", s.user.username], { stdio: "ignore" });
      } catch {
        /* best effort */
      }
    }
    rmSync(s.dir, { recursive: true, force: true });
  }
});
