/**
 * The chroot communicator for real, as root: a root whose programs are this machine's (/usr bound
 * read-only) with its own /etc and /tmp, so what a command sees proves where it ran.
 */
import { randomBytes } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { chmod, lstat, mkdir, mkdtemp, readFile, readlink, stat, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PassThrough, Readable } from "node:stream";
import { createRunContext, Deferred } from "@kiln/core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CommunicatorError } from "../communicator/errors.js";
import { chrootLeftovers, chrootSkip, makeHostRoot, removeTestDir } from "../testing/chroot.js";
import { ChrootCommunicator, chrootCommandLine } from "./communicator.js";
import { commandWrapper } from "./placeholders.js";

const skip = chrootSkip("chroot communicator");

async function run(
  comm: ChrootCommunicator,
  command: string,
  opts: Parameters<ChrootCommunicator["exec"]>[1] = {},
) {
  let out = "";
  let err = "";
  const r = await comm.exec(command, { ...opts, onStdout: (c) => (out += c), onStderr: (c) => (err += c) });
  return { ...r, out, err };
}

describe("chrootCommandLine", () => {
  it("quotes the root, the command and the variables for /bin/sh", () => {
    expect(chrootCommandLine("/mnt/a b", "echo 'hi'", { X: "it's" })).toBe(
      `chroot '/mnt/a b' /bin/sh -c 'export X='\\''it'\\''\\'\\'''\\''s'\\''; echo '\\''hi'\\'''`,
    );
    expect(chrootCommandLine("/mnt/r", "true")).toBe("chroot /mnt/r /bin/sh -c 'true'");
  });
});

describe.skipIf(skip)("ChrootCommunicator", () => {
  let base: string;
  let root: string;
  let undoRoot: () => void = () => {};
  let comm: ChrootCommunicator;

  beforeAll(async () => {
    base = await mkdtemp(join(tmpdir(), "kiln-chroot-comm-"));
    root = join(base, "root");
    await mkdir(root);
    undoRoot = makeHostRoot(root);
    await writeFile(join(root, "etc", "marker"), "inside the chroot\n");
    comm = new ChrootCommunicator({ root });
    await comm.connect();
  });
  afterAll(async () => {
    await comm?.close();
    undoRoot();
    if (base) removeTestDir(base);
  });

  it("runs commands inside the root, with their output, streams and exit codes", async () => {
    const r = await run(comm, "cat /etc/marker; cat /etc/hostname; echo oops >&2; exit 3");
    expect(r.out).toBe("inside the chroot\nkiln-test-root\n");
    expect(r.err).toBe("oops\n");
    expect(r.exitCode).toBe(3);
    expect((await run(comm, "test -e /etc/marker && pwd")).out).toBe("/\n");
  });

  it("reports a command killed by a signal", async () => {
    const r = await run(comm, "kill -KILL $$");
    expect(String(r.exitCode === null ? r.signal : r.exitCode)).toMatch(/^(SIGKILL|137)$/);
  });

  it("gives commands a clean environment plus the variables asked for", async () => {
    process.env.KILN_TEST_API_SECRET = "do-not-leak-me";
    try {
      const r = await run(comm, "env", { env: { GREETING: "hello 'world'", EMPTY: "" } });
      expect(r.out).not.toContain("do-not-leak-me");
      expect(r.out).toContain("GREETING=hello 'world'\n");
      expect(r.out).toMatch(/^PATH=\/usr\/local\/sbin:/m);
      expect(r.out).toMatch(/^HOME=\/root$/m);
    } finally {
      delete process.env.KILN_TEST_API_SECRET;
    }
    await expect(comm.exec("true", { env: { "A-B": "x" } })).rejects.toMatchObject({
      code: "KILN_CHROOT_CONFIG",
    });
  });

  it("feeds standard input and gives raw output, byte for byte", async () => {
    const data = randomBytes(3 * 1024 * 1024 + 17);
    const chunks: Buffer[] = [];
    const out = new PassThrough();
    out.on("data", (c: Buffer) => chunks.push(c));
    const errs: Buffer[] = [];
    const err = new PassThrough();
    err.on("data", (c: Buffer) => errs.push(c));
    const r = await comm.exec("cat; printf '\\377\\000' >&2", {
      stdin: Readable.from([data]),
      stdout: out,
      stderr: err,
    });
    expect(r.exitCode).toBe(0);
    expect(Buffer.concat(chunks).equals(data)).toBe(true);
    expect(Buffer.concat(errs)).toEqual(Buffer.from([0xff, 0x00]));
    // without stdin a command reads end-of-file at once
    expect((await run(comm, "cat; echo eof")).out).toBe("eof\n");
  });

  it("passes each host command line through the wrapper", async () => {
    const { ctx } = createRunContext({
      run: { name: "b.t.s", build: "b", source: "s", type: "t", runUuid: "u" },
      ui: { say() {}, message() {}, error() {}, output() {}, progress() {}, fork: () => ({}) as never },
      baseDir: base,
    });
    const seen = join(base, "wrapped.log");
    const wrapped = new ChrootCommunicator({
      root,
      wrap: commandWrapper(ctx, Deferred.parse(`echo wrapped >> ${seen}; WRAPPED=yes \${{ build.Command }}`)),
    });
    await wrapped.connect();
    const r = await run(wrapped, "echo $WRAPPED");
    expect(r.out).toBe("yes\n");
    expect(readFileSync(seen, "utf8")).toBe("wrapped\n");
    await wrapped.close();
  });

  it("ends the whole process group on abort, promptly", async () => {
    const ctl = new AbortController();
    const pidFile = join(root, "tmp", "child.pid");
    const p = comm.exec("sleep 300 & echo $! > /tmp/child.pid; wait", { signal: ctl.signal });
    for (let i = 0; i < 100 && !existsSync(pidFile); i++) await new Promise((r) => setTimeout(r, 50));
    const child = Number(readFileSync(pidFile, "utf8"));
    const t0 = Date.now();
    ctl.abort();
    await expect(p).rejects.toSatisfy((e) => CommunicatorError.is(e, "KILN_CHROOT_ABORTED"));
    expect(Date.now() - t0).toBeLessThan(5000);
    // Gone, or a zombie waiting to be reaped by whoever adopted it: either way no longer running.
    const running = () => {
      try {
        return !/^\S+ \(.*\) Z/.test(readFileSync(`/proc/${child}/stat`, "utf8"));
      } catch {
        return false;
      }
    };
    for (let i = 0; i < 100 && running(); i++) await new Promise((r) => setTimeout(r, 50));
    expect(running()).toBe(false);
  });

  it("stops a command at its timeout", async () => {
    const t0 = Date.now();
    await expect(comm.exec("sleep 60", { timeoutMs: 300 })).rejects.toSatisfy((e) =>
      CommunicatorError.is(e, "KILN_CHROOT_EXEC_TIMEOUT"),
    );
    expect(Date.now() - t0).toBeLessThan(5000);
  });

  it("uploads and downloads files by the chroot's paths, with modes, and checks them", async () => {
    await comm.upload(Buffer.from("#!/bin/sh\necho run\n"), "/tmp/s.sh", { mode: 0o755 });
    expect((await stat(join(root, "tmp", "s.sh"))).mode & 0o777).toBe(0o755);
    expect((await run(comm, "/tmp/s.sh")).out).toBe("run\n");
    const local = join(base, "local.txt");
    await writeFile(local, "from the host");
    await chmod(local, 0o640);
    let progress = 0;
    await comm.upload(local, "/etc/copied", { onProgress: (d) => (progress = d) });
    expect(progress).toBe(13);
    expect((await stat(join(root, "etc", "copied"))).mode & 0o777).toBe(0o640);
    const back = join(base, "back.txt");
    await comm.download("/etc/marker", back);
    expect(await readFile(back, "utf8")).toBe("inside the chroot\n");
    await expect(comm.upload(local, "/no/such/folder/x")).rejects.toThrow(
      /the folder \/no\/such\/folder does not exist/,
    );
  });

  it("never follows a link in the image to this machine's files", async () => {
    const hostFile = join(base, "host-secret");
    await writeFile(hostFile, "host secret");
    await mkdir(join(root, base), { recursive: true });
    // An absolute link: inside the chroot it means the root's own file.
    await symlink(hostFile, join(root, "etc", "abs-link"));
    await comm.upload(Buffer.from("through the link"), "/etc/abs-link");
    expect(await readFile(hostFile, "utf8")).toBe("host secret");
    expect(await readFile(join(root, hostFile), "utf8")).toBe("through the link");
    // What the chroot itself sees at that path is what was written.
    expect((await run(comm, "cat /etc/abs-link")).out).toBe("through the link");
    // A relative link that climbs out is refused, and so is a path with ..
    await symlink("../../host-secret", join(root, "etc", "up-link"));
    await expect(comm.upload(Buffer.from("x"), "/etc/up-link")).rejects.toThrow(/points outside it/);
    await expect(comm.download("/etc/up-link", join(base, "stolen"))).rejects.toThrow(/points outside it/);
    await expect(comm.upload(Buffer.from("x"), "/../host-secret")).rejects.toThrow(/leaves the chroot/);
    expect(await readFile(hostFile, "utf8")).toBe("host secret");
    expect(existsSync(join(base, "stolen"))).toBe(false);
  });

  it("copies folders both ways, keeping links as links and modes", async () => {
    const src = join(base, "tree");
    await mkdir(join(src, "sub", "deep"), { recursive: true });
    await writeFile(join(src, "a.txt"), "A");
    await writeFile(join(src, "sub", "deep", "b.sh"), "B");
    await chmod(join(src, "sub", "deep", "b.sh"), 0o700);
    await chmod(join(src, "sub"), 0o750);
    await symlink("/etc/marker", join(src, "sub", "to-marker"));
    await comm.uploadDir(src, "/opt/app");
    expect(await readFile(join(root, "opt", "app", "a.txt"), "utf8")).toBe("A");
    expect((await stat(join(root, "opt", "app", "sub"))).mode & 0o777).toBe(0o750);
    expect((await stat(join(root, "opt", "app", "sub", "deep", "b.sh"))).mode & 0o777).toBe(0o700);
    expect(await readlink(join(root, "opt", "app", "sub", "to-marker"))).toBe("/etc/marker");
    expect((await run(comm, "cat /opt/app/sub/to-marker")).out).toBe("inside the chroot\n");

    const out = join(base, "out");
    await comm.downloadDir("/opt/app", out);
    expect(await readFile(join(out, "sub", "deep", "b.sh"), "utf8")).toBe("B");
    expect((await lstat(join(out, "sub", "to-marker"))).isSymbolicLink()).toBe(true);
    expect(await readlink(join(out, "sub", "to-marker"))).toBe("/etc/marker");
  });

  it("refuses to work once closed, and close ends what still runs in the chroot", async () => {
    const other = new ChrootCommunicator({ root });
    await other.connect();
    await other.exec("setsid sleep 300 > /dev/null 2>&1 < /dev/null &");
    await new Promise((r) => setTimeout(r, 200));
    expect(chrootLeftovers({ dir: root }).processes.length).toBeGreaterThan(0);
    await other.close();
    expect(chrootLeftovers({ dir: root }).processes).toEqual([]);
    await expect(other.exec("true")).rejects.toMatchObject({ code: "KILN_CHROOT_NOT_CONNECTED" });
  });
});
