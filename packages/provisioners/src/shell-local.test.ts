import { existsSync, readFileSync } from "node:fs";
import { chmod, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { isKilnError } from "@kiln/core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { shellLocalSchema } from "./schema.js";
import { createShellLocal, shellLocal } from "./shell-local.js";
import { noMachine, provisionContext, type RawOptions } from "./test-support.js";

async function rejection(p: Promise<unknown>): Promise<Error & { code?: string; hint?: string }> {
  try {
    await p;
  } catch (err) {
    return err as Error;
  }
  throw new Error("expected a rejection");
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Output as lines, without the terminal's carriage returns. */
const text = (s: string) => s.replace(/\r\n/g, "\n");

const noPty = createShellLocal({
  loadPty: () =>
    Promise.reject(new Error("Cannot find module '@lydell/node-pty-linux-riscv64'\n  at somewhere")),
});

describe.skipIf(process.platform === "win32")("shell-local provisioner", () => {
  let dir: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "kiln-shell-local-test-"));
  });
  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  const ctxFor = (
    o: RawOptions<typeof shellLocalSchema>,
    over: Parameters<typeof provisionContext>[3] = {},
  ) => provisionContext(shellLocalSchema, o, noMachine(), { baseDir: dir, ...over });

  it("runs inline commands under a terminal, with the variables set, and removes its temporary script", async () => {
    const ctx = ctxFor(
      {
        inline: [
          'echo "script=$0" >&2',
          "[ -t 1 ] && echo on-a-terminal",
          'printf "%s|" "$PACKER_BUILD_NAME" "$PACKER_BUILDER_TYPE" "$GREETING" "$MAPPED" "$(pwd)"',
          "echo",
          "printf '\\033[32mgreen\\033[0m\\n'",
        ],
        environment_vars: ["GREETING=hello 'world' $x"],
        env: { MAPPED: "yes" },
      },
      { buildVars: { PackerHTTPAddr: "" } },
    );
    await shellLocal.provision(ctx);
    const script = /script=(\S+)/.exec(ctx.ui.out())?.[1] as string;
    expect(existsSync(script)).toBe(false);
    expect(text(ctx.ui.out()).replace(/^script=\S+\n/, "")).toBe(
      `on-a-terminal\nhost|null|hello 'world' $x|yes|${dir}|\n\u001b[32mgreen\u001b[0m\n`,
    );
    expect(ctx.ui.lines()).toContain("Running local shell script: inline script");
    expect(existsSync(dirname(script))).toBe(false);
  });

  it("gives the script end-of-file on standard input rather than waiting", async () => {
    const ctx = ctxFor({ inline: ["cat", "read x || echo eof"] });
    await shellLocal.provision(ctx);
    expect(text(ctx.ui.out())).toBe("eof\n");
  });

  it("falls back to pipes with a one-line notice when no pseudo-terminal module fits the platform", async () => {
    const ctx = ctxFor({ inline: ["[ -t 1 ] || echo not-a-terminal", "echo to-stderr >&2"] });
    await noPty.provision(ctx);
    expect(ctx.ui.out("stdout")).toBe("not-a-terminal\n");
    expect(ctx.ui.out("stderr")).toBe("to-stderr\n");
    const notice = ctx.ui.events.filter((e) => e.kind === "message").map((e) => e.text);
    expect(notice).toEqual([
      "no pseudo-terminal for this platform (Cannot find module '@lydell/node-pty-linux-riscv64'); running without a terminal, so output is not a terminal (no colours or progress bars)",
    ]);
  });

  it("fails on an exit code outside valid_exit_codes, with and without a terminal", async () => {
    for (const runtime of [shellLocal, noPty]) {
      await runtime.provision(ctxFor({ inline: ["exit 4"], valid_exit_codes: [0, 4] }));
      const e = await rejection(runtime.provision(ctxFor({ inline: ["echo failing", "exit 4"] })));
      expect(e.message).toBe("[shell-local] script inline script exited with code 4");
      expect(isKilnError(e, "KILN_SCRIPT_EXIT_CODE")).toBe(true);
      expect(e.hint).toContain("valid_exit_codes is [0]");
    }
  });

  it("runs command, and scripts relative to the build file's folder", async () => {
    await writeFile(join(dir, "a.sh"), '#!/bin/sh\necho "a says $1$WHO"\n');
    await chmod(join(dir, "a.sh"), 0o755);
    await writeFile(join(dir, "b.sh"), "#!/bin/sh\necho b\n");
    await chmod(join(dir, "b.sh"), 0o755);
    const ctx = ctxFor({ scripts: ["a.sh", "b.sh"], environment_vars: ["WHO=!"] });
    await shellLocal.provision(ctx);
    expect(text(ctx.ui.out())).toBe("a says !\nb\n");

    const cmd = ctxFor({ command: "echo from command > out.txt" });
    await shellLocal.provision(cmd);
    expect(readFileSync(join(dir, "out.txt"), "utf8")).toBe("from command\n");
  });

  it("replaces {{.Vars}} and {{.Script}} in execute_command as a list or a string", async () => {
    await writeFile(join(dir, "plain.sh"), 'echo "plain $WHO $1"\n'); // not executable
    const list = ctxFor({
      script: "plain.sh",
      environment_vars: ["WHO=list"],
      execute_command: ["/bin/sh", "{{.Script}}", "arg"],
    });
    await shellLocal.provision(list);
    expect(text(list.ui.out())).toBe("plain list arg\n");
    const str = ctxFor({
      script: "plain.sh",
      environment_vars: ["WHO=string"],
      execute_command: "{{.Vars}} /bin/sh {{.Script}} x",
    });
    await shellLocal.provision(str);
    expect(text(str.ui.out())).toBe("plain string x\n");
    const e = await rejection(shellLocal.provision(ctxFor({ script: "plain.sh" })));
    expect(e.message).toBe("[shell-local] script plain.sh exited with code 126");
    expect(e.hint).toMatch(/executable/);
  });

  it("skips when only_on does not name this system", async () => {
    const ctx = ctxFor({
      inline: ["touch should-not-exist"],
      only_on: ["windows", "darwin"].filter((o) => o !== process.platform),
    });
    await shellLocal.provision(ctx);
    expect(existsSync(join(dir, "should-not-exist"))).toBe(false);
    expect(ctx.ui.lines()[0]).toMatch(/^Skipping shell-local: only_on is/);
    await shellLocal.provision(
      ctxFor({ inline: ["true"], only_on: [process.platform === "linux" ? "linux" : "darwin"] }),
    );
    expect(
      (await rejection(shellLocal.provision(ctxFor({ inline: ["true"], only_on: ["plan9"] })))).message,
    ).toMatch(/only_on: unknown operating system "plan9"/);
  });

  for (const [name, runtime] of [
    ["under a terminal", shellLocal],
    ["with pipes", noPty],
  ] as const) {
    it(`kills the script and what it started when the run is aborted (${name})`, async () => {
      const ctl = new AbortController();
      const pidFile = join(dir, `bg-${name.replace(/\W/g, "")}.pid`);
      const ctx = ctxFor(
        { inline: [`sleep 60 & echo $! > ${pidFile}`, 'echo "script=$0"', "echo started", "wait"] },
        { signal: ctl.signal },
      );
      const running = rejection(runtime.provision(ctx));
      await ctx.ui.waitForOutput("started");
      const bg = Number(readFileSync(pidFile, "utf8").trim());
      expect(alive(bg)).toBe(true);
      const t0 = Date.now();
      ctl.abort(new Error("stop by test"));
      const e = await running;
      expect(e.message).toBe("stop by test");
      expect(Date.now() - t0).toBeLessThan(4000);
      const until = Date.now() + 3000;
      while (alive(bg) && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
      expect(alive(bg)).toBe(false);
      const script = /script=(\S+)/.exec(ctx.ui.out())?.[1] as string;
      expect(script).toMatch(/kiln-shell-local-[^/]+\/script\.sh$/);
      expect(existsSync(dirname(script))).toBe(false);
    });
  }
});
