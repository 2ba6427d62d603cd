import { existsSync, readFileSync, statSync } from "node:fs";
import { chmod, mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { isKilnError } from "@kiln/core";
import { generateTemporaryKeyPair, SSHCommunicator } from "@kiln/sdk";
import { type Sshd, startSshd, stopAllSshd } from "@kiln/sdk/testing";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { file } from "./file.js";
import { fileSchema } from "./schema.js";
import { noMachine, provisionContext, type RawOptions, sshdSkip } from "./test-support.js";

async function rejection(p: Promise<unknown>): Promise<Error & { code?: string; hint?: string }> {
  try {
    await p;
  } catch (err) {
    return err as Error;
  }
  throw new Error("expected a rejection");
}

describe("file options", () => {
  const run = (options: RawOptions<typeof fileSchema>, baseDir = "/nonexistent-dir") =>
    file.provision(provisionContext(fileSchema, options, noMachine(), { baseDir }));

  it("needs something to copy, and not both content and sources", async () => {
    expect((await rejection(run({ destination: "/tmp/x" }))).message).toBe(
      "[file] nothing to copy: set source, sources or content",
    );
    expect((await rejection(run({ destination: "/tmp/x", source: "a", content: "b" }))).message).toBe(
      "[file] set either content or source/sources, not both",
    );
  });

  it("needs a folder destination (ending in /) for several sources", async () => {
    const e = await rejection(run({ destination: "/tmp/x", sources: ["a", "b"] }));
    expect(e.message).toBe("[file] destination /tmp/x must end with / when there are several sources");
  });

  it("names a missing source before copying anything", async () => {
    const e = await rejection(run({ destination: "/tmp/x/", sources: ["missing.txt"] }));
    expect(e.message).toBe("[file] source missing.txt does not exist (/nonexistent-dir/missing.txt)");
    expect(isKilnError(e, "KILN_PROVISIONER_OPTIONS")).toBe(true);
  });
});

const { skip, reason } = sshdSkip("file provisioner");

describe.skipIf(skip)(
  `file provisioner against a real OpenSSH server${skip ? ` (skipped: ${reason})` : ""}`,
  () => {
    let sshd: Sshd;
    let key: ReturnType<typeof generateTemporaryKeyPair>;
    let local: string;
    let n = 0;
    const comms: SSHCommunicator[] = [];

    beforeAll(async () => {
      key = generateTemporaryKeyPair();
      sshd = await startSshd({ authorizedKeys: [key.publicKey] });
      local = await mkdtemp(join(tmpdir(), "kiln-file-test-"));
      // A tree to upload: src/a.txt, src/sub/b.bin (binary), src/run.sh (executable), src/empty/
      await mkdir(join(local, "src", "sub"), { recursive: true });
      await mkdir(join(local, "src", "empty"));
      await writeFile(join(local, "src", "a.txt"), "alpha\n");
      await writeFile(join(local, "src", "sub", "b.bin"), Buffer.from([0, 1, 2, 255, 254, 13, 10]));
      await writeFile(join(local, "src", "run.sh"), "#!/bin/sh\necho hi\n");
      await chmod(join(local, "src", "run.sh"), 0o755);
      await writeFile(join(local, "big.dat"), Buffer.alloc(3 * 1024 * 1024, 7));
    });
    afterEach(async () => {
      await Promise.all(comms.splice(0).map((c) => c.close()));
    });
    afterAll(async () => {
      await stopAllSshd();
      if (local) await rm(local, { recursive: true, force: true });
    });

    async function connected(): Promise<SSHCommunicator> {
      const c = new SSHCommunicator({
        ssh_host: sshd.host,
        ssh_port: sshd.port,
        ssh_username: sshd.user.username,
        ssh_private_key: key.privateKey,
        ssh_timeout: "20s",
      });
      comms.push(c);
      await c.connect();
      return c;
    }
    /** A fresh folder path on the machine (the sshd user's home, on this host). */
    const remote = () => join(sshd.user.home, `t${++n}`);
    const ctxFor = async (o: RawOptions<typeof fileSchema>) =>
      provisionContext(fileSchema, o, await connected(), { baseDir: local });

    it("uploads a file to a path, creating missing folders, with progress", async () => {
      const dest = join(remote(), "deep", "big.dat");
      const ctx = await ctxFor({ source: "big.dat", destination: dest });
      await file.provision(ctx);
      expect(readFileSync(dest).equals(readFileSync(join(local, "big.dat")))).toBe(true);
      const progress = ctx.ui.events.filter((e) => e.kind === "progress");
      expect(progress.length).toBeGreaterThan(1);
      expect(progress.at(-1)).toMatchObject({ done: 3 * 1024 * 1024, total: 3 * 1024 * 1024 });
      expect(ctx.ui.lines()).toContain(`Uploading big.dat => ${dest}`);
    });

    it("uploads into a folder when destination ends with /", async () => {
      const dir = remote();
      await file.provision(
        await ctxFor({ sources: ["src/a.txt", join(local, "src", "run.sh")], destination: `${dir}/` }),
      );
      expect(readFileSync(join(dir, "a.txt"), "utf8")).toBe("alpha\n");
      expect(readFileSync(join(dir, "run.sh"), "utf8")).toBe("#!/bin/sh\necho hi\n");
      expect(statSync(join(dir, "run.sh")).mode & 0o777).toBe(0o755);
    });

    it("writes content to the destination", async () => {
      const dest = join(remote(), "motd");
      await file.provision(await ctxFor({ content: "Welcome to kiln\nline two\n", destination: dest }));
      expect(readFileSync(dest, "utf8")).toBe("Welcome to kiln\nline two\n");
      const e = await rejection(file.provision(await ctxFor({ content: "x", destination: `${remote()}/` })));
      expect(e.message).toMatch(/^\[file\] destination .* ends with \/ but content needs a file name/);
    });

    it("uploads a folder itself without a trailing slash, and its contents with one (as Packer)", async () => {
      const itself = remote();
      await file.provision(await ctxFor({ source: "src", destination: itself }));
      expect(readFileSync(join(itself, "src", "a.txt"), "utf8")).toBe("alpha\n");
      expect(readFileSync(join(itself, "src", "sub", "b.bin"))).toEqual(
        Buffer.from([0, 1, 2, 255, 254, 13, 10]),
      );
      expect(statSync(join(itself, "src", "empty")).isDirectory()).toBe(true);

      const contents = remote();
      const ctx = await ctxFor({ source: "src/", destination: contents });
      await file.provision(ctx);
      expect(readFileSync(join(contents, "a.txt"), "utf8")).toBe("alpha\n");
      expect(readFileSync(join(contents, "sub", "b.bin"))).toEqual(Buffer.from([0, 1, 2, 255, 254, 13, 10]));
      expect(existsSync(join(contents, "src"))).toBe(false);
      expect(ctx.ui.events.filter((e) => e.kind === "progress").at(-1)).toMatchObject({
        done: 6 + 7 + 18,
        total: 6 + 7 + 18,
      });
    });

    it("downloads files and folders from the machine", async () => {
      const from = remote();
      await mkdir(join(from, "tree", "sub"), { recursive: true });
      await writeFile(join(from, "tree", "x.txt"), "ex\n");
      await writeFile(join(from, "tree", "sub", "y.txt"), "why\n");
      await writeFile(join(from, "single.log"), "log line\n");
      const { execFileSync } = await import("node:child_process");
      execFileSync("chown", ["-R", String(sshd.user.uid), from]); // the machine's user owns its files

      const to = await mkdtemp(join(local, "dl-"));
      // a file to a path, and to a folder (trailing slash)
      await file.provision(
        await ctxFor({
          direction: "download",
          source: join(from, "single.log"),
          destination: join(to, "renamed.log"),
        }),
      );
      expect(readFileSync(join(to, "renamed.log"), "utf8")).toBe("log line\n");
      await file.provision(
        await ctxFor({
          direction: "download",
          source: join(from, "single.log"),
          destination: `${join(to, "logs")}/`,
        }),
      );
      expect(readFileSync(join(to, "logs", "single.log"), "utf8")).toBe("log line\n");
      // a folder itself, and its contents
      await file.provision(
        await ctxFor({ direction: "download", source: join(from, "tree"), destination: join(to, "itself") }),
      );
      expect(readFileSync(join(to, "itself", "tree", "sub", "y.txt"), "utf8")).toBe("why\n");
      await file.provision(
        await ctxFor({
          direction: "download",
          source: `${join(from, "tree")}/`,
          destination: join(to, "contents"),
        }),
      );
      expect(readFileSync(join(to, "contents", "x.txt"), "utf8")).toBe("ex\n");
      expect(readFileSync(join(to, "contents", "sub", "y.txt"), "utf8")).toBe("why\n");
      // relative local destinations are relative to the build file's folder
      await file.provision(
        await ctxFor({ direction: "download", source: join(from, "single.log"), destination: "rel/out.log" }),
      );
      expect(readFileSync(join(local, "rel", "out.log"), "utf8")).toBe("log line\n");

      const e = await rejection(
        file.provision(await ctxFor({ direction: "download", source: join(from, "nope"), destination: to })),
      );
      expect(e.message).toBe(`[file] source ${join(from, "nope")} does not exist on the machine`);
    });

    it("reports a failed upload with the communicator's reason and code", async () => {
      // A path under a regular file cannot be created.
      const blocker = join(remote(), "blocker");
      await file.provision(await ctxFor({ content: "x", destination: blocker }));
      const e = await rejection(
        file.provision(await ctxFor({ source: "src/a.txt", destination: `${blocker}/a.txt` })),
      );
      expect(e.message).toMatch(/^\[file\] could not create .*blocker on the machine: mkdir: /);
    });
  },
);
