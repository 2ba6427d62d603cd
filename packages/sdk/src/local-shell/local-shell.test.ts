import { existsSync, readFileSync } from "node:fs";
import { chmod, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import {
  executeCommandTemplate,
  exitCodes,
  flattenEnv,
  flattenEnvReferences,
  formatEnvVar,
  inlineScriptText,
  type LocalShellErrorFactory,
  type LocalShellOptions,
  type LocalShellSpec,
  launchWithPipes,
  onlyOnPlatforms,
  renderShellArg,
  runLocalShell,
  type ScriptLauncher,
  scriptSources,
  shellWord,
  stringList,
  watchAbort,
} from "./index.js";

class TestError extends Error {
  constructor(
    readonly kind: string,
    message: string,
    readonly hint?: string,
  ) {
    super(message);
  }
}

const fail: LocalShellErrorFactory = (kind, message, extra) => new TestError(kind, message, extra?.hint);

function thrown(f: () => unknown): TestError {
  try {
    f();
  } catch (err) {
    return err as TestError;
  }
  throw new Error("expected a throw");
}

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

describe("local shell options", () => {
  it("checks lists and exit codes", () => {
    expect(stringList(undefined, "inline", fail)).toBeUndefined();
    expect(stringList(["a"], "inline", fail)).toEqual(["a"]);
    expect(thrown(() => stringList("a", "inline", fail))).toMatchObject({
      kind: "options",
      message: "inline must be a list of strings",
    });
    expect(exitCodes(null, fail)).toEqual([0]);
    expect(exitCodes([0, 3], fail)).toEqual([0, 3]);
    expect(thrown(() => exitCodes([1.5], fail)).message).toBe("valid_exit_codes must be a list of integers");
  });

  it("reads only_on as Packer's names or Node's, from the names the plugin accepts", () => {
    expect(onlyOnPlatforms(undefined, fail)).toBeUndefined();
    expect(onlyOnPlatforms([], fail)).toBeUndefined();
    expect(onlyOnPlatforms(["windows", "solaris", "linux", "win32"], fail)).toEqual([
      "win32",
      "sunos",
      "linux",
      "win32",
    ]);
    expect(onlyOnPlatforms(["netbsd"], fail)).toEqual(["netbsd"]);
    const e = thrown(() => onlyOnPlatforms(["netbsd"], fail, ["linux", "windows"]));
    expect(e.message).toBe('only_on: unknown operating system "netbsd"');
    expect(e.hint).toBe("Use linux, windows.");
    expect(thrown(() => onlyOnPlatforms(["plan9"], fail)).hint).toBe(
      "Use aix, darwin, freebsd, linux, netbsd, openbsd, solaris, windows.",
    );
  });

  it("takes exactly one source; script with scripts only when the rules allow it", () => {
    const both = { script: "a.sh", scripts: ["b.sh"] };
    expect(scriptSources(both, fail, { command: true, scriptWithScripts: true })).toEqual({
      kind: "files",
      files: ["a.sh", "b.sh"],
    });
    expect(thrown(() => scriptSources(both, fail, { command: true, scriptWithScripts: false })).message).toBe(
      "set only one of command, inline, script or scripts (found script and scripts)",
    );
    expect(scriptSources({ command: "ls" }, fail, { command: true, scriptWithScripts: false })).toEqual({
      kind: "command",
      command: "ls",
    });
    expect(scriptSources({ inline: [] }, fail, { command: false, scriptWithScripts: true })).toEqual({
      kind: "inline",
      lines: [],
    });
    expect(thrown(() => scriptSources({}, fail, { command: false, scriptWithScripts: true })).message).toBe(
      "nothing to run: set one of inline, script or scripts",
    );
    expect(
      thrown(() =>
        scriptSources({ command: "a", inline: ["b"] }, fail, { command: true, scriptWithScripts: true }),
      ).message,
    ).toBe("set only one of command, inline, script or scripts (found command and inline)");
    expect(
      thrown(() => scriptSources({ script: 1 }, fail, { command: true, scriptWithScripts: true })).message,
    ).toBe("script must be a string");
  });

  it("writes inline scripts with one shebang line, or none", () => {
    expect(inlineScriptText("/bin/sh -e", ["a", "b"])).toBe("#!/bin/sh -e\na\nb\n");
    expect(inlineScriptText(" #!/bin/bash ", ["a"])).toBe("#!/bin/bash\na\n");
    expect(inlineScriptText("", ["a", "b"], "\r\n")).toBe("a\r\nb\r\n");
  });

  it("formats {{.Vars}} as sorted pairs with Packer's quoting", () => {
    expect(flattenEnv({ B: "x'y", A: "1" })).toBe(`A='1' B='x'"'"'y' `);
    expect(formatEnvVar("set %s=%s && ", "K", "V")).toBe("set K=V && ");
    expect(formatEnvVar("%s=%s 100%%", "K", "V")).toBe("K=V 100%");
    expect(formatEnvVar("%s=%s %s", "K", "V")).toBe("K=V %!s(MISSING)");
  });

  it("formats {{.Vars}} of the default execute_command as references, values literal only for the shell's own names", () => {
    expect(flattenEnvReferences({ TOKEN: "s3cr3t", A: "x'y", PWD: "/p", BASH_ENV: "/e" })).toBe(
      `A="$A" BASH_ENV='/e' PWD='/p' TOKEN="$TOKEN" `,
    );
  });

  it.skipIf(process.platform === "win32")("builds execute_command from a list or a string", () => {
    expect(executeCommandTemplate(undefined, fail)).toEqual(["/bin/sh", "-c", "{{.Vars}} {{.Script}}"]);
    expect(executeCommandTemplate([], fail)).toEqual(["/bin/sh", "-c", "{{.Vars}} {{.Script}}"]);
    expect(executeCommandTemplate("run {{.Script}}", fail)).toEqual(["/bin/sh", "-c", "run {{.Script}}"]);
    expect(executeCommandTemplate(["run {{.Script}}"], fail, ["sh", "-c"])).toEqual([
      "sh",
      "-c",
      "run {{.Script}}",
    ]);
    expect(executeCommandTemplate(["a", "b"], fail)).toEqual(["a", "b"]);
    expect(thrown(() => executeCommandTemplate([1], fail)).message).toBe(
      "execute_command must be a string or a list of strings",
    );
  });

  it("renders fields: the path alone as it is, inside a string quoted when needed", () => {
    const fields = { Vars: "A='1' ", Script: "/t/my script", Path: "/t/my script", Command: "/t/my script" };
    expect(renderShellArg("{{ .Path }}", fields, fail)).toBe("/t/my script");
    expect(renderShellArg("{{.Vars}}sh {{.Script}}", fields, fail)).toBe("A='1' sh '/t/my script'");
    expect(shellWord("/plain/path.sh")).toBe("/plain/path.sh");
    const e = thrown(() => renderShellArg("{{.Nope}}", fields, fail));
    expect(e.message).toBe("execute_command: unknown field {{.Nope}}");
    expect(e.hint).toBe("Use {{.Vars}} and {{.Script}}.");
    expect(thrown(() => renderShellArg("{{.constructor}}", fields, fail)).kind).toBe("options");
  });
});

describe.skipIf(process.platform === "win32")("killing after an abort", () => {
  afterEach(() => {
    vi.restoreAllMocks();
  });

  /** process.kill recording its calls; the group -pid is gone (ESRCH), no real signal is sent. */
  function fakeKill(): [number, string | number | undefined][] {
    const calls: [number, string | number | undefined][] = [];
    vi.spyOn(process, "kill").mockImplementation((pid: number, sig?: string | number) => {
      calls.push([pid, sig]);
      if (pid < 0) throw Object.assign(new Error("kill ESRCH"), { code: "ESRCH" });
      return true;
    });
    return calls;
  }

  it("signals only the group, never the bare pid, once the process has ended", () => {
    const calls = fakeKill();
    const ctl = new AbortController();
    const stop = watchAbort(ctl.signal, 4_000_000);
    ctl.abort();
    // Alive: the group is gone, so the process itself.
    expect(calls).toEqual([
      [-4_000_000, "SIGTERM"],
      [4_000_000, "SIGTERM"],
    ]);
    calls.length = 0;
    stop();
    expect(calls).toEqual([[-4_000_000, "SIGKILL"]]);
  });

  it("does not signal an ended script's pid when the abort comes after it was reaped", () => {
    const calls = fakeKill();
    const ctl = new AbortController();
    let exited = false;
    const fallback = vi.fn();
    watchAbort(ctl.signal, 4_000_001, fallback, () => exited);
    exited = true;
    ctl.abort();
    expect(calls).toEqual([[-4_000_001, "SIGTERM"]]);
    expect(fallback).not.toHaveBeenCalled();
  });

  it("leaves the pid of an aborted script alone once it has been reaped", async () => {
    const calls: [number, string | number | undefined][] = [];
    const kill = process.kill.bind(process);
    vi.spyOn(process, "kill").mockImplementation((pid: number, sig?: string | number) => {
      calls.push([pid, sig]);
      return kill(pid, sig);
    });
    const ctl = new AbortController();
    let out = "";
    const pending = launchWithPipes(["/bin/sh", "-c", "echo $$; exec sleep 30"], {
      cwd: tmpdir(),
      env: { PATH: process.env.PATH ?? "/usr/bin:/bin" },
      signal: ctl.signal,
      output: (_s, c) => {
        out += c;
      },
      fail,
    });
    for (let i = 0; i < 200 && !out.includes("\n"); i++) await new Promise((r) => setTimeout(r, 10));
    const pid = Number(out.trim());
    ctl.abort();
    expect(await pending).toEqual({ code: null, signal: "SIGTERM" });
    // TERM to the group while it ran; after it was reaped KILL to the (gone) group only.
    expect(calls).toEqual([
      [-pid, "SIGTERM"],
      [-pid, "SIGKILL"],
    ]);
  });
});

describe.skipIf(process.platform === "win32")("running local scripts", () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "kiln-local-shell-test-"));
  });
  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  function context(signal = new AbortController().signal) {
    const said: string[] = [];
    const out = { stdout: "", stderr: "" };
    return {
      said,
      out,
      ctx: {
        baseDir: dir,
        signal,
        ui: {
          say: (t: string) => void said.push(t),
          output: (s: "stdout" | "stderr", c: string) => {
            out[s] += c;
          },
        },
      },
    };
  }

  const spec = (over: Partial<LocalShellSpec> = {}): LocalShellSpec => ({
    fail,
    aborted: (signal) => (signal.reason instanceof Error ? signal.reason : new Error("interrupted")),
    skipped: (onlyOn) => `skipping: ${onlyOn.join(", ")}`,
    scriptWithScripts: true,
    variables: () => ({ GREETING: "it's me" }),
    label: (s) => `${s.kind}:${s.name}`,
    unreadable: (f) => new TestError("options", `unreadable ${f}`),
    tempFile: "script.sh",
    exitError: (s, r, codes) =>
      new TestError("exit", `${s.label} ${r.code ?? r.signal} not in ${codes.join(",")}`),
    ...over,
  });

  it("runs inline commands with the variables in the environment and in {{.Vars}}, then removes the script", async () => {
    const { ctx, said, out } = context();
    const o: LocalShellOptions = {
      inline: ['echo "$0"', 'echo "$GREETING"', "pwd", "echo err >&2"],
      execute_command: ["/bin/sh", "-c", "echo {{.Vars}}; {{.Vars}} {{.Script}}"],
    };
    expect(await runLocalShell(ctx, o, spec())).toBe("ran");
    const [vars, script, greeting, cwd] = out.stdout.split("\n");
    expect([vars, greeting, cwd]).toEqual(["GREETING=it's me", "it's me", dir]);
    expect(out.stderr).toBe("err\n");
    expect(script).toMatch(/kiln-shell-local-[^/]+\/script\.sh$/);
    expect(existsSync(dirname(script as string))).toBe(false);
    expect(said).toEqual(["Running local shell script: inline:"]);
  });

  it("keeps environment values out of the default execute_command's command line", async () => {
    const { ctx, out } = context();
    const secret = "s3cr3t-value-4711";
    const seen: string[][] = [];
    const recording: ScriptLauncher = (argv, o) => {
      seen.push(argv);
      return launchWithPipes(argv, o);
    };
    await runLocalShell(
      ctx,
      {
        inline: [
          // The shell that runs the script (sh -c may exec it) and the one that started it.
          "tr '\\0' ' ' < /proc/$$/cmdline; echo",
          "tr '\\0' ' ' < /proc/$PPID/cmdline; echo",
          'echo "token=$TOKEN greeting=$GREETING"',
        ],
      },
      spec({
        variables: () => ({ TOKEN: secret, GREETING: "it's me" }),
        launcher: async () => recording,
      }),
    );
    const [self, parent, seenByScript] = out.stdout.split("\n");
    expect(seenByScript).toBe(`token=${secret} greeting=it's me`);
    expect(self).toMatch(/script\.sh/);
    expect(parent).not.toBe("");
    expect(self).not.toContain(secret);
    expect(parent).not.toContain(secret);
    expect(seen).toHaveLength(1);
    expect(seen[0]?.join(" ")).not.toContain(secret);
    expect(seen[0]?.[2]).toMatch(/^GREETING="\$GREETING" TOKEN="\$TOKEN" {2}\/.*script\.sh$/);
  });

  it("skips when only_on excludes this system, before looking at anything else", async () => {
    const { ctx, said } = context();
    const other = process.platform === "linux" ? "darwin" : "linux";
    expect(await runLocalShell(ctx, { only_on: [other] }, spec())).toBe("skipped");
    expect(said).toEqual([`skipping: ${other}`]);
  });

  it("runs script files in order, checks exit codes and names unreadable files", async () => {
    await writeFile(join(dir, "one.sh"), "#!/bin/sh\necho one\n");
    await writeFile(join(dir, "two.sh"), "#!/bin/sh\necho two; exit 3\n");
    await chmod(join(dir, "one.sh"), 0o755);
    await chmod(join(dir, "two.sh"), 0o755);
    const { ctx, out, said } = context();
    await runLocalShell(ctx, { script: "one.sh", scripts: ["two.sh"], valid_exit_codes: [0, 3] }, spec());
    expect(out.stdout).toBe("one\ntwo\n");
    expect(said).toEqual([
      "Running local shell script: file:one.sh",
      "Running local shell script: file:two.sh",
    ]);
    await expect(runLocalShell(context().ctx, { scripts: ["two.sh"] }, spec())).rejects.toThrow(
      "file:two.sh 3 not in 0",
    );
    let launched = false;
    await expect(
      runLocalShell(
        context().ctx,
        { scripts: ["one.sh", "missing.sh"] },
        spec({
          launcher: async () => {
            launched = true;
            return launchWithPipes;
          },
        }),
      ),
    ).rejects.toThrow("unreadable missing.sh");
    expect(launched).toBe(false);
  });

  it("uses the plugin's temporary folder, file name, script text and launcher", async () => {
    const made: string[] = [];
    const { ctx, out } = context();
    const seen: string[][] = [];
    const launcher: ScriptLauncher = async (argv, o) => {
      seen.push(argv);
      o.output("stdout", await readFile(argv[1] as string, "utf8"));
      return { code: 0, signal: null };
    };
    await runLocalShell(
      {
        ...ctx,
        tempDir: async (prefix) => {
          const d = await mkdtemp(join(dir, prefix));
          made.push(d);
          return d;
        },
      },
      { command: "true", execute_command: ["cat", "{{.Path}}"] },
      spec({
        tempFile: "run",
        scriptText: (lines) => `custom ${lines.join(",")}`,
        launcher: async () => launcher,
      }),
    );
    expect(out.stdout).toBe("custom true");
    expect(seen).toEqual([["cat", join(made[0] as string, "run")]]);
    expect(existsSync(made[0] as string)).toBe(false);
  });

  it("reports a program that cannot be started as failed", async () => {
    await expect(
      runLocalShell(context().ctx, { command: "true", execute_command: ["/no/such/program", "x"] }, spec()),
    ).rejects.toMatchObject({
      kind: "failed",
      message: expect.stringMatching(/^cannot run \/no\/such\/program: /),
    });
  });

  it("kills the script's whole process group when aborted, and removes the temporary script", async () => {
    const ctl = new AbortController();
    const { ctx, out } = context(ctl.signal);
    const pending = runLocalShell(
      ctx,
      { inline: ["trap '' TERM", "sleep 30 & echo $!", 'echo "$0"', "wait"] },
      spec(),
    );
    for (let i = 0; i < 200 && out.stdout.split("\n").length < 3; i++)
      await new Promise((r) => setTimeout(r, 20));
    const [bg, script] = out.stdout.split("\n");
    expect(alive(Number(bg))).toBe(true);
    ctl.abort(new Error("stop by test"));
    await expect(pending).rejects.toThrow("stop by test");
    const until = Date.now() + 2000;
    while (alive(Number(bg)) && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
    expect(alive(Number(bg))).toBe(false);
    expect(existsSync(dirname(script as string))).toBe(false);
  }, 15_000);
});
