import { existsSync, readFileSync } from "node:fs";
import { chmod, mkdir, readdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { shellLocalSchema } from "./schema.js";
import { flattenEnv, formatEnvVar, shellLocal } from "./shell-local.js";
import { makeContext, type RawOptions, tempFolder } from "./test-context.js";

let dir: string;
let cleanup: () => Promise<void>;

beforeEach(async () => {
  ({ dir, cleanup } = await tempFolder());
});
afterEach(async () => {
  await cleanup();
});

function ctxFor(
  options: RawOptions<typeof shellLocalSchema>,
  files: string[] = [],
  extra: Parameters<typeof makeContext>[4] = {},
) {
  return makeContext(shellLocalSchema, dir, options, { files }, extra);
}

/** Whether a process still runs (a zombie waiting for a reaper, as in containers without init, does not). */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    return !/^State:\s+Z/m.test(readFileSync(`/proc/${pid}/status`, "utf8"));
  } catch {
    return true;
  }
}

describe.skipIf(process.platform === "win32")("shell-local", () => {
  it("runs a command, streams its output and passes the artifact through", async () => {
    const ctx = ctxFor({ command: "echo out; echo err >&2" });
    const result = await shellLocal.postProcess(ctx);
    expect(ctx.rec.stdout).toBe("out\n");
    expect(ctx.rec.stderr).toBe("err\n");
    expect(result.artifact).toBe(ctx.artifact);
    expect(result.keepInput).toBe(true);
  });

  it("runs inline commands as one script with /bin/sh -e, in the build file's folder", async () => {
    const ctx = ctxFor({ inline: ["X=1", 'echo "x=$X"', "pwd", "false", "echo never"] });
    await expect(shellLocal.postProcess(ctx)).rejects.toThrow(
      /^\[shell-local\] inline commands exited with code 1; allowed exit codes: 0/,
    );
    expect(ctx.rec.stdout).toBe(`x=1\n${dir}\n`);
  });

  it("sets Packer's variables, the artifact's and the user's, in the environment and in {{.Vars}}", async () => {
    const disk = join(dir, "disk.img");
    const ctx = ctxFor(
      {
        inline: [
          'echo "$PACKER_BUILD_NAME|$PACKER_BUILDER_TYPE|$PACKER_RUN_UUID"',
          'echo "$KILN_ARTIFACT_ID|$KILN_ARTIFACT_FILE|$KILN_ARTIFACT_FILES"',
          'echo "$FOO|$BAR|$QUOTE"',
        ],
        environment_vars: ["FOO=from list", "BAR=one=two", "QUOTE=it's"],
        env: { FOO: "from env" },
      },
      [disk, "rel.img"],
    );
    await shellLocal.postProcess(ctx);
    expect(ctx.rec.stdout).toBe(
      `ubuntu|qemu|run-uuid-1\nartifact-id|${disk}|${disk}\n${join(dir, "rel.img")}\nfrom env|one=two|it's\n`,
    );
  });

  it("builds the command from execute_command with {{.Vars}} and {{.Path}}", async () => {
    const ctx = ctxFor({
      command: 'echo "[$FOO]"',
      environment_vars: ["FOO=a'b"],
      execute_command: ["/bin/sh", "-c", "echo {{.Vars}} > vars.txt; env -i {{.Vars}} /bin/sh {{.Path}}"],
    });
    await shellLocal.postProcess(ctx);
    expect(ctx.rec.stdout).toBe("[a'b]\n");
    const vars = await readFile(join(dir, "vars.txt"), "utf8");
    expect(vars).toContain("FOO=a'b ");
    expect(vars).toContain("PACKER_BUILDER_TYPE=qemu ");
  });

  it("runs a single-string execute_command with sh -c, as Packer's post-processor", async () => {
    const ctx = ctxFor({ command: "true", execute_command: "echo custom {{.Script}}" });
    await shellLocal.postProcess(ctx);
    expect(ctx.rec.stdout).toMatch(/^custom \/.*script\n$/);
  });

  it("quotes the script's path in the default execute_command: a build folder with a space, ; or $(…)", async () => {
    for (const name of ["build dir", "a;touch injected;b", "c $(touch dollar) `touch tick` d'e"]) {
      const base = join(dir, name);
      await mkdir(base);
      await writeFile(join(base, "s.sh"), 'echo "ran in $(basename "$PWD")"\n');
      await chmod(join(base, "s.sh"), 0o755);
      const ctx = makeContext(shellLocalSchema, base, { script: "s.sh" }, { files: [] });
      await shellLocal.postProcess(ctx);
      expect(ctx.rec.stdout).toBe(`ran in ${name}\n`);
      expect((await readdir(base)).sort()).toEqual(["s.sh"]);
      // Inside a longer string too; an argument that is only {{.Path}} is the path as it is.
      const inString = makeContext(
        shellLocalSchema,
        base,
        { script: "s.sh", execute_command: "/bin/sh {{.Path}}" },
        { files: [] },
      );
      await shellLocal.postProcess(inString);
      expect(inString.rec.stdout).toBe(`ran in ${name}\n`);
      const alone = makeContext(
        shellLocalSchema,
        base,
        { script: "s.sh", execute_command: ["/bin/sh", "-c", 'echo "$1"', "x", "{{.Path}}"] },
        { files: [] },
      );
      await shellLocal.postProcess(alone);
      expect(alone.rec.stdout).toBe(`${join(base, "s.sh")}\n`);
      expect((await readdir(base)).sort()).toEqual(["s.sh"]);
    }
    expect((await readdir(dir)).sort()).toEqual([
      "a;touch injected;b",
      "build dir",
      "c $(touch dollar) `touch tick` d'e",
    ]);
  });

  it("keeps env values out of the default command line, and in the script's environment", async () => {
    const secret = "pp-secret-0815";
    const ctx = ctxFor({
      inline: [
        "tr '\\0' ' ' < /proc/$$/cmdline; echo",
        "tr '\\0' ' ' < /proc/$PPID/cmdline; echo",
        'echo "[$TOKEN][$LISTED]"',
      ],
      environment_vars: ["LISTED=also-secret-4242"],
      env: { TOKEN: secret },
    });
    await shellLocal.postProcess(ctx);
    const [self, parent, values] = ctx.rec.stdout.split("\n");
    expect(values).toBe(`[${secret}][also-secret-4242]`);
    expect(self).toMatch(/script/);
    for (const line of [self, parent]) {
      expect(line).not.toContain(secret);
      expect(line).not.toContain("also-secret-4242");
    }
  });

  it("runs scripts in order, relative to the build file's folder", async () => {
    await writeFile(join(dir, "one.sh"), "echo one\n");
    await writeFile(join(dir, "two.sh"), "echo two; exit 3\n");
    await chmod(join(dir, "one.sh"), 0o755);
    await chmod(join(dir, "two.sh"), 0o755);
    const ctx = ctxFor({ scripts: ["one.sh", "two.sh"], valid_exit_codes: [0, 3] });
    await shellLocal.postProcess(ctx);
    expect(ctx.rec.stdout).toBe("one\ntwo\n");
    expect(ctx.rec.says).toEqual([
      "Running local shell script: one.sh",
      "Running local shell script: two.sh",
    ]);
  });

  it("fails on an exit code that is not allowed", async () => {
    await writeFile(join(dir, "s.sh"), "exit 7\n");
    await chmod(join(dir, "s.sh"), 0o755);
    await expect(shellLocal.postProcess(ctxFor({ script: "s.sh" }))).rejects.toMatchObject({
      code: "KILN_SCRIPT_EXIT_CODE",
      message: "[shell-local] s.sh exited with code 7; allowed exit codes: 0",
    });
    await expect(
      shellLocal.postProcess(ctxFor({ script: "s.sh", valid_exit_codes: [7] })),
    ).resolves.toBeDefined();
  });

  it("skips when only_on does not include this system", async () => {
    const other = process.platform === "linux" ? "darwin" : "linux";
    const ctx = ctxFor({ command: "touch ran", only_on: [other] });
    await shellLocal.postProcess(ctx);
    expect(existsSync(join(dir, "ran"))).toBe(false);
    expect(ctx.rec.says[0]).toMatch(/^Skipping shell-local/);
    const here =
      process.platform === "win32" ? "windows" : process.platform === "sunos" ? "solaris" : process.platform;
    await shellLocal.postProcess(ctxFor({ command: "touch ran", only_on: [here] }));
    expect(existsSync(join(dir, "ran"))).toBe(true);
  });

  it("kills the script's whole process group when interrupted, and removes its temporary script", async () => {
    const ctx = ctxFor({ inline: ["sleep 30 & echo $! > child.pid", "echo $$ > sh.pid", "wait"] });
    const pending = shellLocal.postProcess(ctx);
    for (
      let i = 0;
      i < 100 && !(existsSync(join(dir, "child.pid")) && existsSync(join(dir, "sh.pid")));
      i++
    ) {
      await new Promise((r) => setTimeout(r, 20));
    }
    const childPid = Number(await readFile(join(dir, "child.pid"), "utf8"));
    const shPid = Number(await readFile(join(dir, "sh.pid"), "utf8"));
    expect(alive(childPid)).toBe(true);
    const t0 = Date.now();
    ctx.controller.abort(new Error("interrupted by test"));
    await expect(pending).rejects.toThrow("interrupted by test");
    expect(Date.now() - t0).toBeLessThan(2500);
    await new Promise((r) => setTimeout(r, 50));
    expect(alive(shPid)).toBe(false);
    expect(alive(childPid)).toBe(false);
    expect((await readdir(dir)).sort()).toEqual(["child.pid", "sh.pid"]);
  });

  it("kills with SIGKILL a script that ignores SIGTERM", { timeout: 15_000 }, async () => {
    const ctx = ctxFor({ inline: ["trap '' TERM", "echo ready", "while true; do sleep 0.1; done"] });
    const pending = shellLocal.postProcess(ctx);
    for (let i = 0; i < 100 && !ctx.rec.stdout.includes("ready"); i++)
      await new Promise((r) => setTimeout(r, 20));
    ctx.controller.abort(new Error("stop"));
    await expect(pending).rejects.toThrow("stop");
  });

  it("hints at the executable bit when a script cannot be executed", async () => {
    await writeFile(join(dir, "plain.sh"), "echo hi\n");
    await expect(shellLocal.postProcess(ctxFor({ script: "plain.sh" }))).rejects.toMatchObject({
      message: expect.stringMatching(/exited with code 126/),
      hint: expect.stringContaining("chmod +x"),
    });
  });

  it("rejects bad options with [shell-local] messages", async () => {
    await expect(shellLocal.postProcess(ctxFor({}))).rejects.toThrow(/^\[shell-local\] nothing to run/);
    await expect(shellLocal.postProcess(ctxFor({ command: "a", inline: ["b"] }))).rejects.toThrow(
      /set only one of .*command and inline/,
    );
    await expect(shellLocal.postProcess(ctxFor({ script: "missing.sh" }))).rejects.toThrow(
      /^\[shell-local\] script missing\.sh cannot be read/,
    );
    await expect(
      shellLocal.postProcess(ctxFor({ command: "true", environment_vars: ["NOVALUE"] })),
    ).rejects.toThrow(/environment_vars: "NOVALUE" is not in the form NAME=value/);
    await expect(shellLocal.postProcess(ctxFor({ command: "true", only_on: ["beos"] }))).rejects.toThrow(
      /only_on: unknown operating system "beos"/,
    );
    await expect(
      shellLocal.postProcess(ctxFor({ command: "true", execute_command: ["sh", "{{.Nope}}"] })),
    ).rejects.toThrow(/execute_command: unknown field/);
    await expect(
      shellLocal.postProcess(ctxFor({ command: "true", execute_command: ["/no/such/program", "x"] })),
    ).rejects.toThrow(/^\[shell-local\] cannot run \/no\/such\/program/);
  });
});

describe("{{.Vars}}", () => {
  it("formats sorted pairs with Packer's quoting", () => {
    expect(flattenEnv({ B: "x'y", A: "1" }, "%s='%s' ")).toBe(`A='1' B='x'"'"'y' `);
    expect(formatEnvVar("set %s=%s && ", "K", "V")).toBe("set K=V && ");
    expect(formatEnvVar("%s=%s 100%%", "K", "V")).toBe("K=V 100%");
  });
});
