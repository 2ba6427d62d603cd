import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { chmod, chown, mkdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import { type Communicator, createRunContext, EventBus, type KilnEvent, type RunContext } from "@kiln/core";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { generateTemporaryKeyPair, type TemporaryKeyPair } from "../communicator/keys.js";
import { SSHCommunicator } from "../communicator/ssh.js";
import { CLEARED_KEYS, COMMUNICATOR, TEMPORARY_KEY } from "../state.js";
import { type Sshd, sshdAvailability, startSshd, stopAllSshd } from "../testing/sshd.js";
import {
  authorizedKeyBlob,
  clearAuthorizedKeysStep,
  clearKeysCommand,
  parseClearKeysReport,
} from "./clear-keys.js";

const avail = sshdAvailability();
const skip = !avail.available && process.env.CI !== "true";
if (skip) {
  // biome-ignore lint/suspicious/noConsole: tell the developer why a suite is skipped
  console.warn(`[kiln] skipping the ssh_clear_authorized_keys tests: ${avail.reason ?? "sshd unavailable"}`);
}
const isRoot = process.getuid?.() === 0;
const run = promisify(execFile);
const ci = process.env.CI === "true";
/** csh-family and fish login shells the command must survive (tcsh is FreeBSD's root shell; CI installs it). */
const SHELLS = ["/bin/tcsh", "/usr/bin/bsd-csh", "/usr/bin/fish"].filter(
  (s) => existsSync(s) || (ci && s === "/bin/tcsh"),
);
const hasSudo = existsSync("/usr/bin/sudo") || ci;

/** usermod, retried while a parallel test file holds /etc/passwd's lock. */
async function usermod(args: string[]): Promise<void> {
  for (let i = 0; ; i++) {
    try {
      await run("usermod", args);
      return;
    } catch (err) {
      if (i >= 20 || !/lock|try again/i.test(String((err as { stderr?: unknown }).stderr ?? ""))) throw err;
      await new Promise((r) => setTimeout(r, 100 + Math.random() * 200));
    }
  }
}

function context(
  comm: Communicator | undefined,
  publicKey?: string,
): { ctx: RunContext; events: KilnEvent[] } {
  const bus = new EventBus();
  const events: KilnEvent[] = [];
  bus.subscribe((e) => events.push(e));
  const { ctx } = createRunContext({
    run: { name: "b.t.s", build: "b", source: "s", type: "t", runUuid: "u" },
    ui: bus.ui("b.t.s"),
    baseDir: "/",
  });
  if (comm) ctx.state.put(COMMUNICATOR, comm);
  if (publicKey)
    ctx.state.put(TEMPORARY_KEY, { publicKey, privateKey: "", fingerprint: "", type: "ed25519" });
  return { events, ctx };
}

function lines(events: KilnEvent[], type: "message" | "error-line" | "say"): string[] {
  return events.filter((e) => e.type === type).map((e) => (e as { text: string }).text);
}

describe("clearKeysCommand", () => {
  it("matches the key's blob, quotes paths, and reaches root's file with sudo -n only when asked", () => {
    const k = generateTemporaryKeyPair();
    const blob = authorizedKeyBlob(k.publicKey);
    expect(k.publicKey).toContain(` ${blob} `);
    const cmd = clearKeysCommand(k.publicKey, ["~/.ssh/authorized_keys", "/etc/ssh/it's here"], true);
    expect(cmd).toContain(blob);
    expect(cmd).toContain(`"$HOME"/'.ssh/authorized_keys'`);
    expect(cmd).toContain(`'/etc/ssh/it'\\''s here'`);
    expect(cmd).toContain("sudo -n");
    expect(clearKeysCommand(k.publicKey, ["~/.ssh/authorized_keys"], false)).not.toContain("sudo");
    expect(() => authorizedKeyBlob("not a key")).toThrow();
  });

  it("is ONE line run through sh -c, so csh/tcsh and fish login shells pass it on unchanged", () => {
    const k = generateTemporaryKeyPair();
    for (const root of [true, false]) {
      const cmd = clearKeysCommand(k.publicKey, ["~/.ssh/authorized_keys"], root);
      expect(cmd).not.toMatch(/[\r\n]/);
      const m = /^sh -c '([^']*)' kiln-clear-keys "\$HOME"\/'\.ssh\/authorized_keys'$/.exec(cmd);
      expect(m, cmd).not.toBeNull();
      // No ! (csh history) and no backslash but printf's \n (fish reads \\ and \' inside quotes).
      expect((m?.[1] ?? "").replaceAll("\\n", "")).not.toMatch(/[!\\]/);
      // The sudo part lives inside the sh script, not in the login shell's syntax.
      expect(m?.[1]?.includes("sudo -n")).toBe(root);
    }
  });

  it("parses the report, including root's file when sudo -n is not possible", () => {
    expect(
      parseClearKeysReport(
        "kiln-clear-keys removed 2 /home/u/.ssh/authorized_keys\r\nkiln-clear-keys no-sudo 0 /root/.ssh/authorized_keys\n",
      ),
    ).toEqual([
      { status: "removed", removed: 2, file: "/home/u/.ssh/authorized_keys" },
      { status: "no-sudo", removed: 0, file: "/root/.ssh/authorized_keys" },
    ]);
  });

  it("does nothing unless ssh_clear_authorized_keys is set, the communicator is ssh and a temporary key exists", async () => {
    const calls: string[] = [];
    const fake = {
      exec: async (c: string) => {
        calls.push(c);
        return { exitCode: 0 };
      },
    } as unknown as Communicator;
    const key = generateTemporaryKeyPair().publicKey;
    for (const [o, k] of [
      [{}, key],
      [{ ssh_clear_authorized_keys: false }, key],
      [{ ssh_clear_authorized_keys: true, communicator: "none" as const }, key],
      [{ ssh_clear_authorized_keys: true, communicator: "ssh" }, undefined],
    ] as const) {
      const { ctx } = context(fake, k);
      await clearAuthorizedKeysStep({ communicator: "ssh", ...o }).run(ctx);
    }
    expect(calls).toEqual([]);
    const { ctx } = context(fake, key);
    await clearAuthorizedKeysStep({ ssh_clear_authorized_keys: true, communicator: "ssh" }).run(ctx);
    expect(calls).toHaveLength(1);
  });
});

describe.skipIf(skip)("ssh_clear_authorized_keys against a real OpenSSH server", () => {
  let sshd: Sshd;
  let temp: TemporaryKeyPair;
  let other: TemporaryKeyPair;
  const comms: SSHCommunicator[] = [];

  beforeAll(async () => {
    if (!avail.available) throw new Error(`CI=true requires sshd: ${avail.reason ?? "unavailable"}`);
    temp = generateTemporaryKeyPair("ed25519", undefined, "kiln-temporary-key");
    other = generateTemporaryKeyPair("ed25519", undefined, "someone@else");
    sshd = await startSshd({ authorizedKeys: [temp.publicKey] });
    await sshd.addAuthorizedKey(other.publicKey);
  });

  afterEach(async () => {
    await Promise.all(comms.splice(0).map((c) => c.close()));
  });

  afterAll(async () => {
    await Promise.all(comms.splice(0).map((c) => c.close()));
    await stopAllSshd();
  });

  async function connect(key: TemporaryKeyPair): Promise<SSHCommunicator> {
    const c = new SSHCommunicator({
      ssh_host: sshd.host,
      ssh_port: sshd.port,
      ssh_username: sshd.user.username,
      ssh_private_key: key.privateKey,
      ssh_timeout: "10s",
      ssh_handshake_attempts: 1,
      retry: { initialMs: 100, maxMs: 300 },
    });
    comms.push(c);
    await c.connect();
    return c;
  }

  it.skipIf(!isRoot)(
    "removes only the temporary key's lines from ~/.ssh/authorized_keys, in place",
    async () => {
      const ssh = join(sshd.user.home, ".ssh");
      await mkdir(ssh, { recursive: true, mode: 0o700 });
      const file = join(ssh, "authorized_keys");
      const keep = [
        "# managed by hand",
        other.publicKey,
        'from="10.0.0.0/8" ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHh0aGlzIGlzIG5vdCBhIHJlYWwga2V5IGF0IGFsbCEh ops@example',
        "",
      ];
      await writeFile(
        file,
        [keep[0], keep[1], temp.publicKey, keep[2], `no-pty,no-port-forwarding ${temp.publicKey}`, ""].join(
          "\n",
        ),
        { mode: 0o600 },
      );
      await chown(ssh, sshd.user.uid, -1);
      await chown(file, sshd.user.uid, -1);
      const before = await stat(file);

      const comm = await connect(temp);
      const { ctx, events } = context(comm, temp.publicKey);
      await clearAuthorizedKeysStep(
        { ssh_clear_authorized_keys: true, communicator: "ssh" },
        { root: false },
      ).run(ctx);

      expect(await readFile(file, "utf8")).toBe(keep.join("\n"));
      const after = await stat(file);
      expect(after.ino).toBe(before.ino);
      expect(after.uid).toBe(sshd.user.uid);
      expect(after.mode & 0o777).toBe(0o600);
      expect(ctx.state.get(CLEARED_KEYS)).toEqual([{ status: "removed", removed: 2, file: file }]);
      expect(lines(events, "message")).toContain(`Removed the temporary key from ${file} (2 line(s)).`);
      expect(lines(events, "error-line")).toEqual([]);
      // A second run finds nothing to do.
      const again = context(comm, temp.publicKey);
      await clearAuthorizedKeysStep(
        { ssh_clear_authorized_keys: true, communicator: "ssh" },
        { root: false },
      ).run(again.ctx);
      expect(again.ctx.state.get(CLEARED_KEYS)?.[0]?.status).toBe("absent");
    },
  );

  it("afterwards the server refuses the temporary key and still accepts the other one", async () => {
    // The file sshd really reads (AuthorizedKeysFile), holding the temporary key and another.
    const file = join(sshd.dir, "authorized_keys");
    if (isRoot) await chown(file, sshd.user.uid, -1);
    const comm = await connect(temp);
    const { ctx, events } = context(comm, temp.publicKey);
    await clearAuthorizedKeysStep(
      { ssh_clear_authorized_keys: true, communicator: "ssh" },
      { files: [file], root: false },
    ).run(ctx);
    expect(lines(events, "error-line")).toEqual([]);
    expect(await readFile(file, "utf8")).toBe(`${other.publicKey.trim()}\n`);

    const refused = await connect(temp).then(
      () => undefined,
      (e: unknown) => e as Error,
    );
    expect(refused, "the temporary key still logs in").toBeInstanceOf(Error);
    const still = await connect(other);
    expect((await still.run("echo ok")).stdout.trim()).toBe("ok");
    // The session that removed the key is still usable (e.g. for the shutdown command).
    expect((await comm.run("echo alive")).stdout.trim()).toBe("alive");
  });

  it.skipIf(!isRoot)("a file it cannot write is reported, not fatal (as Packer)", async () => {
    await sshd.addAuthorizedKey(temp.publicKey);
    const locked = join(sshd.user.home, "locked_keys");
    await writeFile(locked, `${temp.publicKey}\n`, { mode: 0o644 }); // root's, readable only
    await chmod(locked, 0o644);
    const comm = await connect(temp);
    const { ctx, events } = context(comm, temp.publicKey);
    await clearAuthorizedKeysStep(
      { ssh_clear_authorized_keys: true, communicator: "ssh" },
      { files: [locked, join(sshd.user.home, "nope")], root: false },
    ).run(ctx);
    expect(ctx.state.get(CLEARED_KEYS)).toEqual([
      { status: "failed", removed: 0, file: locked },
      { status: "missing-file", removed: 0, file: join(sshd.user.home, "nope") },
    ]);
    expect(lines(events, "error-line").join("\n")).toMatch(
      /Could not remove the temporary SSH key from .*locked_keys/,
    );
    expect(await readFile(locked, "utf8")).toBe(`${temp.publicKey}\n`);
  });

  /** The user's ~/.ssh/authorized_keys holding the temporary key between two other lines. */
  async function userKeysFile(): Promise<{ file: string; keep: string }> {
    const ssh = join(sshd.user.home, ".ssh");
    await mkdir(ssh, { recursive: true, mode: 0o700 });
    const file = join(ssh, "authorized_keys");
    await writeFile(file, `# top\n${temp.publicKey.trim()}\n${other.publicKey.trim()}\n`, { mode: 0o600 });
    await chown(ssh, sshd.user.uid, -1);
    await chown(file, sshd.user.uid, -1);
    return { file, keep: `# top\n${other.publicKey.trim()}\n` };
  }

  for (const shell of SHELLS) {
    it.skipIf(!isRoot)(
      `works when the login shell is ${shell}; root's file without sudo rights is a message, not an error`,
      async () => {
        await sshd.addAuthorizedKey(temp.publicKey);
        const { file, keep } = await userKeysFile();
        await usermod(["-s", shell, sshd.user.username]);
        try {
          const comm = await connect(temp);
          const { ctx, events } = context(comm, temp.publicKey);
          await clearAuthorizedKeysStep({ ssh_clear_authorized_keys: true, communicator: "ssh" }).run(ctx);
          expect(lines(events, "error-line")).toEqual([]);
          expect(await readFile(file, "utf8")).toBe(keep);
          expect(ctx.state.get(CLEARED_KEYS)).toEqual([
            { status: "removed", removed: 1, file },
            { status: "no-sudo", removed: 0, file: "/root/.ssh/authorized_keys" },
          ]);
          const note = lines(events, "message").find((l) => l.startsWith("/root/.ssh/authorized_keys "));
          expect(note).toMatch(/^\/root\/\.ssh\/authorized_keys was not checked: sudo -n is not possible/);
          expect(note).toMatch(hasSudo ? /a password is required/ : /not found/);
        } finally {
          await usermod(["-s", "/bin/sh", sshd.user.username]);
        }
      },
    );
  }

  it.skipIf(!isRoot || !hasSudo)(
    "with passwordless sudo, root's file is looked at too (here it does not hold the key)",
    async () => {
      await sshd.addAuthorizedKey(temp.publicKey);
      const { file, keep } = await userKeysFile();
      const rule = join("/etc/sudoers.d", sshd.user.username.replace(/[^A-Za-z0-9_-]/g, "_"));
      await writeFile(rule, `${sshd.user.username} ALL=(root) NOPASSWD: ALL\n`, { mode: 0o440 });
      try {
        const comm = await connect(temp);
        const { ctx, events } = context(comm, temp.publicKey);
        await clearAuthorizedKeysStep({ ssh_clear_authorized_keys: true, communicator: "ssh" }).run(ctx);
        expect(lines(events, "error-line")).toEqual([]);
        expect(await readFile(file, "utf8")).toBe(keep);
        const report = ctx.state.get(CLEARED_KEYS) ?? [];
        expect(report[0]).toEqual({ status: "removed", removed: 1, file });
        expect(report[1]?.file).toBe("/root/.ssh/authorized_keys");
        expect(["absent", "missing-file"]).toContain(report[1]?.status);
      } finally {
        await rm(rule, { force: true });
      }
    },
  );
});
