import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable, Writable } from "node:stream";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { CommunicatorError } from "../communicator/errors.js";
import { localCommunicator } from "./local-communicator.js";

let root: string;
let local: string;
beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), "kiln-localcomm-root-"));
  local = await mkdtemp(join(tmpdir(), "kiln-localcomm-local-"));
});
afterEach(async () => {
  await rm(root, { recursive: true, force: true });
  await rm(local, { recursive: true, force: true });
});

describe("localCommunicator", () => {
  it("runs commands with sh -c in its folder, with env, streaming output and the exit code", async () => {
    const comm = localCommunicator({ root });
    let out = "";
    let err = "";
    const r = await comm.exec('echo "$GREETING" > made.txt; cat made.txt; echo oops >&2; exit 4', {
      env: { GREETING: "hi there" },
      onStdout: (c) => (out += c),
      onStderr: (c) => (err += c),
    });
    expect(r.exitCode).toBe(4);
    expect(out).toBe("hi there\n");
    expect(err).toBe("oops\n");
    expect(await readFile(join(root, "made.txt"), "utf8")).toBe("hi there\n");
    expect(comm.calls).toEqual([{ op: "exec", target: expect.stringContaining("GREETING"), started: true }]);
  });

  it("feeds stdin from a stream and hands back raw stdout bytes", async () => {
    const comm = localCommunicator({ root });
    const data = Buffer.from([0, 0xff, 0xfe, 10, 65, 0x80]);
    const chunks: Buffer[] = [];
    const out = new Writable({
      write(c: Buffer, _e, done) {
        chunks.push(c);
        done();
      },
    });
    let err = "";
    const r = await comm.exec("cat; echo done >&2", {
      stdin: Readable.from([data]),
      stdout: out,
      onStderr: (c) => (err += c),
    });
    expect(r.exitCode).toBe(0);
    expect(Buffer.concat(chunks)).toEqual(data);
    expect(err).toBe("done\n");
  });

  it("kills a command when its signal aborts, and rejects with KILN_SSH_ABORTED", async () => {
    const comm = localCommunicator({ root });
    const ctl = new AbortController();
    const p = comm.exec("echo started; sleep 600", {
      signal: ctl.signal,
      onStdout: () => ctl.abort(),
    });
    await expect(p).rejects.toSatisfy((e) => CommunicatorError.is(e, "KILN_SSH_ABORTED"));
  });

  it("rejects an already-aborted command without running it", async () => {
    const comm = localCommunicator({ root });
    const ctl = new AbortController();
    ctl.abort();
    await expect(comm.exec("touch ran", { signal: ctl.signal })).rejects.toSatisfy((e) =>
      CommunicatorError.is(e, "KILN_SSH_ABORTED"),
    );
    expect(comm.calls[0]?.started).toBe(false);
    await expect(stat(join(root, "ran"))).rejects.toThrow();
  });

  it("ends a command at timeoutMs with KILN_SSH_EXEC_TIMEOUT", async () => {
    const comm = localCommunicator({ root });
    await expect(comm.exec("sleep 600", { timeoutMs: 50 })).rejects.toSatisfy((e) =>
      CommunicatorError.is(e, "KILN_SSH_EXEC_TIMEOUT"),
    );
  });

  it("uploads data and files (relative to its folder, with modes), but not into missing folders", async () => {
    const comm = localCommunicator({ root });
    await comm.upload(Buffer.from("data"), "d.txt");
    expect(await readFile(join(root, "d.txt"), "utf8")).toBe("data");
    expect((await stat(join(root, "d.txt"))).mode & 0o777).toBe(0o644);
    await writeFile(join(local, "s.sh"), "#!/bin/sh\n");
    let progress: number[] = [];
    await comm.upload(join(local, "s.sh"), join(root, "s.sh"), {
      mode: 0o755,
      onProgress: (d, t) => (progress = [d, t]),
    });
    expect((await stat(join(root, "s.sh"))).mode & 0o777).toBe(0o755);
    expect(progress).toEqual([10, 10]);
    await expect(comm.upload(Buffer.from("x"), "missing/x.txt")).rejects.toSatisfy((e) =>
      CommunicatorError.is(e, "KILN_SSH_TRANSFER_FAILED"),
    );
  });

  it("copies folders both ways and downloads files", async () => {
    const comm = localCommunicator({ root });
    await mkdir(join(local, "tree/sub"), { recursive: true });
    await writeFile(join(local, "tree/sub/f.txt"), "f");
    await comm.uploadDir(join(local, "tree"), "up");
    expect(await readFile(join(root, "up/sub/f.txt"), "utf8")).toBe("f");
    await comm.downloadDir("up", join(local, "back"));
    expect(await readFile(join(local, "back/sub/f.txt"), "utf8")).toBe("f");
    await comm.download("up/sub/f.txt", join(local, "one.txt"));
    expect(await readFile(join(local, "one.txt"), "utf8")).toBe("f");
  });

  it("failing: commands exit 1 without running, transfers fail; closed: everything fails", async () => {
    const failing = localCommunicator({ root, failing: true });
    expect((await failing.exec("touch ran")).exitCode).toBe(1);
    await expect(stat(join(root, "ran"))).rejects.toThrow();
    await expect(failing.upload(Buffer.from("x"), "x")).rejects.toSatisfy((e) =>
      CommunicatorError.is(e, "KILN_SSH_TRANSFER_FAILED"),
    );
    expect(failing.calls.map((c) => c.started)).toEqual([false, false]);

    const comm = localCommunicator({ root });
    expect(comm.connected).toBe(true);
    await comm.close();
    expect(comm.connected).toBe(false);
    await expect(comm.exec("true")).rejects.toSatisfy((e) =>
      CommunicatorError.is(e, "KILN_SSH_NOT_CONNECTED"),
    );
  });
});
