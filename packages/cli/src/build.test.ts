import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";

const bin = fileURLToPath(new URL("../bin.js", import.meta.url));
const fixtures = fileURLToPath(new URL("../../core/test/fixtures/plugins/", import.meta.url));
const scratch = mkdtempSync(join(fixtures, "tmp-build-"));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));
let n = 0;

function file(body: (log: string) => string) {
  const log = join(scratch, `log-${++n}.txt`);
  writeFileSync(log, "");
  const f = join(scratch, `build-${n}.yaml`);
  writeFileSync(f, body(log));
  return { f, log, lines: () => readFileSync(log, "utf8").trim().split("\n").filter(Boolean) };
}

function kiln(args: string[]) {
  const r = spawnSync(process.execPath, [bin, ...args], {
    encoding: "utf8",
    env: { ...process.env, NO_COLOR: "1" },
    timeout: 30_000,
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

const twoRuns = (log: string, extra = "") => `kiln: 1
plugins: { steps: kiln-builder-steps }
variables:
  token: { type: string, sensitive: true, default: "tok-Very-Secret-77" }
sources:
  alpha:
    type: steps
    log: ${log}
    steps: [create, boot]
    say: "alpha says \${{ var.token }}"
${extra}
  beta:
    type: steps
    log: ${log}
    say: "beta says \${{ base64encode(var.token) }}"
builds:
  - name: img
    sources: [alpha, beta]
    provisioners:
      - { type: record, log: ${log}, text: hi }
`;

describe("kiln build", () => {
  it("runs every run, prints plain prefixed lines without secrets, writes a log per run, exit 0", () => {
    const { f, lines } = file((log) => twoRuns(log));
    const r = kiln(["build", "--parallel-builds", "2", f]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("img.steps.alpha: ==> alpha says <sensitive>");
    expect(r.stdout).toContain("img.steps.beta: ==> beta says <sensitive>");
    expect(r.stdout).not.toContain("tok-Very-Secret-77");
    expect(r.stdout).not.toContain(Buffer.from("tok-Very-Secret-77").toString("base64"));
    // whole lines only, each with its run prefix, even with two runs at once
    for (const line of r.stdout.trim().split("\n"))
      expect(line).toMatch(/^(kiln: |img\.steps\.(alpha|beta): )/);
    expect(lines().filter((l) => l.startsWith("provision"))).toHaveLength(2);
    const logFile = join(scratch, ".kiln/logs/img.steps.alpha.log");
    const log = readFileSync(logFile, "utf8");
    expect(log).toMatch(/^\d{4}-\d\d-\d\dT.*img\.steps\.alpha: step create/m);
    expect(log).not.toContain("tok-Very-Secret-77");
  });

  it("--only picks runs by glob; --json emits one event per line; --machine-readable speaks Packer's format", () => {
    const { f, lines } = file((log) => twoRuns(log));
    const json = kiln(["build", "--only", "*.beta", "--json", f]);
    expect(json.code).toBe(0);
    const events = json.stdout
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l));
    expect(events[0]).toMatchObject({ type: "build-start", runs: ["img.steps.beta"] });
    expect(events.at(-1)).toMatchObject({ type: "build-end", ok: true });
    expect(lines().every((l) => l.includes("beta"))).toBe(true);
    const mr = kiln(["build", "--except", "alpha", "--machine-readable", f]);
    expect(mr.code).toBe(0);
    expect(mr.stdout).toMatch(/^\d+,img\.steps\.beta,ui,say,==> img\.steps\.beta: beta says <sensitive>$/m);
    expect(mr.stdout).toMatch(/^\d+,img\.steps\.beta,artifact,0,builder-id,steps$/m);
    expect(mr.stdout).toMatch(/^\d+,img\.steps\.beta,artifact,0,id,id-beta$/m);
  });

  it("a failed run exits 1 after cleaning up and names the failure", () => {
    const { f, lines } = file((log) => twoRuns(log, "    fail_at: boot"));
    const r = kiln(["build", "--parallel-builds", "1", f]);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain("img.steps.alpha: failed after");
    expect(r.stdout).toContain("step boot failed on purpose");
    expect(r.stdout).toContain("kiln: 1 run failed: img.steps.alpha");
    expect(lines()).toContain("cleanup create img.steps.alpha");
    expect(lines()).toContain("cleanup create img.steps.beta");
  });

  it("bad flags are usage errors (exit 2)", () => {
    const { f } = file((log) => twoRuns(log));
    expect(kiln(["build", "--on-error", "explode", f]).code).toBe(2);
    expect(kiln(["build", "--parallel-builds", "-1", f]).code).toBe(2);
  });

  it("Ctrl-C mid-build: every cleanup runs, temp dirs are removed, a second Ctrl-C waits for cleanup, exit 1", async () => {
    const { f, lines } = file((log) =>
      twoRuns(log, "    hang_at: boot\n    temp: true\n    slow_cleanup_ms: 1500"),
    );
    const child = spawn(process.execPath, [bin, "build", "--only", "alpha", f], {
      env: { ...process.env, NO_COLOR: "1" },
    });
    const exited = new Promise<number | null>((resolve) => child.on("exit", resolve));
    let out = "";
    child.stdout.on("data", (d) => {
      out += d;
    });
    child.stderr.on("data", (d) => {
      out += d;
    });
    const deadline = Date.now() + 20_000;
    while (!lines().includes("run boot img.steps.alpha") && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 50));
    child.kill("SIGINT");
    await new Promise((r) => setTimeout(r, 500));
    child.kill("SIGINT");
    const code = await exited;
    expect(code).toBe(1);
    expect(out).toContain("kiln: SIGINT: cleaning up img.steps.alpha");
    expect(out).toMatch(/kiln: still cleaning up: img\.steps\.alpha \(cleanup of boot\)/);
    expect(lines().slice(-2)).toEqual(["cleanup boot img.steps.alpha", "cleanup create img.steps.alpha"]);
    const temp = lines()
      .find((l) => l.startsWith("tempdir "))
      ?.slice("tempdir ".length);
    expect(temp).toBeTruthy();
    expect(existsSync(temp as string)).toBe(false);
  });
});

describe("kiln build on a terminal", () => {
  it("shows a live line per run with its step and elapsed time, and the log lines above", async () => {
    const pty = (await import("@lydell/node-pty")).default;
    const { f } = file((log) => twoRuns(log));
    const term = pty.spawn(process.execPath, [bin, "build", f], {
      cols: 120,
      rows: 30,
      env: { ...process.env, NO_COLOR: "1", TERM: "xterm-256color" } as Record<string, string>,
    });
    let screen = "";
    term.onData((d) => {
      screen += d;
    });
    const code = await new Promise<number>((resolve) => term.onExit((e) => resolve(e.exitCode)));
    // biome-ignore lint/suspicious/noControlCharactersInRegex: strips terminal escape sequences
    const plain = screen.replace(/\u001b\[[0-9;?]*[A-Za-z]/g, "");
    expect(code).toBe(0);
    expect(plain).toMatch(/img\.steps\.alpha\s+\d+(\.\d+)?(ms|s)\s+(done|create|boot|provision|starting)/);
    expect(plain).toContain("img.steps.beta: ==> beta says <sensitive>");
    expect(plain).not.toContain("tok-Very-Secret-77");
  });
});
