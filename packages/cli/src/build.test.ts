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
    // whole lines only, each with its run prefix, even with two runs at once; then the summary
    const [progress, summary = ""] = r.stdout.split(/^kiln: build finished in .*\n/m);
    for (const line of (progress ?? "").trim().split("\n"))
      expect(line).toMatch(/^(kiln: |img\.steps\.(alpha|beta): )/);
    // each run, how it ended, its time, its artifacts and its log file
    expect(summary).toMatch(
      /^ {2}img\.steps\.alpha {2}ok +\d+(\.\d+)?(ms|s)\n {6}artifact: steps artifact of img\.steps\.alpha\n {6}log: .*\.kiln\/logs\/img\.steps\.alpha\.\d{8}T\d+Z-[0-9a-f]{8}\.log$/m,
    );
    expect(summary).toMatch(/^ {2}img\.steps\.beta {3}ok +\d/m);
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
    expect(r.stdout).toMatch(
      /^ {2}img\.steps\.alpha {2}failed +\d.*\n {6}error: step boot failed on purpose\n {6}log: /m,
    );
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

// biome-ignore lint/suspicious/noControlCharactersInRegex: escape codes are what is looked for
const CONTROL = /\u001b|\u0007/;

describe("what programs and logs get", () => {
  const coloured = () =>
    file(
      () => `kiln: 1
plugins: { term: kiln-builder-terminal }
variables:
  token: { type: string, sensitive: true, default: "tok-Very-Secret-77" }
sources:
  a:
    type: term
    steps: [prepare]
    say: ["\\u001b[1mbold\\u001b[0m say \${{ var.token }}"]
    output: ["\\u001b[32mgreen\\u001b[0m tool \\u001b]0;title\\u0007\\u001b[2Kline"]
builds:
  - sources: [a]
`,
    );
  it("--json, --machine-readable and .kiln/logs carry no escape codes from tools", () => {
    const { f } = coloured();
    const json = kiln(["build", "--json", f]);
    expect(json.code).toBe(0);
    expect(json.stdout).not.toMatch(CONTROL);
    expect(json.stdout).not.toMatch(/\\u001b|\\u0007/); // nor escaped in JSON
    const events = json.stdout
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l));
    expect(events.find((e) => e.type === "output")?.line).toBe("green tool line");
    expect(events.find((e) => e.type === "say")?.text).toBe("bold say <sensitive>");
    const mr = kiln(["build", "-machine-readable", f]);
    expect(mr.code).toBe(0);
    expect(mr.stdout).not.toMatch(CONTROL);
    expect(mr.stdout).toMatch(/^\d+,term\.a,ui,message, {4}term\.a: green tool line$/m);
    const log = readFileSync(join(scratch, ".kiln/logs/term.a.log"), "utf8");
    expect(log).not.toMatch(CONTROL);
    expect(log).toMatch(/term\.a: green tool line$/m);
    // plain output without a terminal: no escape codes either
    const plain = kiln(["build", f]);
    expect(plain.stdout).not.toMatch(CONTROL);
    expect(plain.stdout).toContain("term.a: green tool line");
  });

  it("KILN_LOG=1 with KILN_LOG_PATH writes a debug log there: the command, plugins, every event, no secret", () => {
    const { f } = coloured();
    const path = join(scratch, "debug.log");
    const r = spawnSync(process.execPath, [bin, "build", "-var", "token=tok-Other-Secret-88", f], {
      encoding: "utf8",
      env: {
        ...process.env,
        NO_COLOR: "1",
        KILN_LOG: "1",
        KILN_LOG_PATH: path,
        HTTPS_PROXY: "http://me:pw-Proxy-99@proxy.example:3128",
      },
      timeout: 30_000,
    });
    expect(r.status).toBe(0);
    expect(r.stderr).toBe("");
    const log = readFileSync(path, "utf8");
    const lines = log.trim().split("\n");
    for (const l of lines) expect(l).toMatch(/^\d{4}-\d\d-\d\dT[\d:.]+Z \[DEBUG\] /);
    expect(log).toContain("[DEBUG] kiln build -var token=… ");
    expect(log).toContain("[DEBUG] HTTPS_PROXY=http://me:***@proxy.example:3128/");
    expect(log).toMatch(/\[DEBUG\] plugin builder term: kiln-builder-terminal@1\.0\.0 \(plugins: /);
    expect(log).toMatch(/\[DEBUG\] event \{"type":"step-start",.*"step":"prepare"\}/);
    expect(log).toMatch(/\[DEBUG\] event \{"type":"build-end",.*"ok":true/);
    expect(log).toMatch(/\[DEBUG\] kiln build exited 0 after \d+ ms$/m);
    expect(log).toContain("<sensitive>");
    expect(log).not.toMatch(/tok-Other-Secret-88|tok-Very-Secret-77|pw-Proxy-99/);
    expect(log).not.toMatch(CONTROL);
  });

  it("KILN_LOG=1 alone writes the debug log to stderr, and the output stays plain lines", () => {
    const { f } = coloured();
    const r = spawnSync(process.execPath, [bin, "build", f], {
      encoding: "utf8",
      env: { ...process.env, NO_COLOR: "1", KILN_LOG: "1" },
      timeout: 30_000,
    });
    expect(r.status).toBe(0);
    expect(r.stderr).toMatch(/\[DEBUG\] event \{"type":"run-start"/);
    expect(r.stdout).toContain("term.a: finished in");
  });
});
