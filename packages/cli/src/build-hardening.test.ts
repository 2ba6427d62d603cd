/**
 * `kiln build` when things go wrong around the build rather than in it: logs that cannot be
 * written, signals besides Ctrl-C, a closed stdout, plugins that never settle, throw where
 * nothing awaits them or call process.exit, selections that match nothing, runs planned twice.
 * Every case must end with a non-zero exit (or go on, for logs), a clear message and its cleanups.
 */
import { spawn, spawnSync } from "node:child_process";
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";

const bin = fileURLToPath(new URL("../bin.js", import.meta.url));
const fixtures = fileURLToPath(new URL("../../core/test/fixtures/plugins/", import.meta.url));
const scratch = mkdtempSync(join(fixtures, "tmp-hardening-"));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));
let n = 0;

/** A build file in a folder of its own (its own .kiln/logs) and a log the fixture plugins append to. */
function project(body: (log: string) => string) {
  const dir = join(scratch, `p${++n}`);
  mkdirSync(dir);
  const log = join(dir, "steps.log");
  writeFileSync(log, "");
  const f = join(dir, "build.yaml");
  writeFileSync(f, body(log));
  return { dir, f, lines: () => readFileSync(log, "utf8").trim().split("\n").filter(Boolean) };
}

function kiln(args: string[], cwd?: string) {
  const r = spawnSync(process.execPath, [bin, ...args], {
    encoding: "utf8",
    env: { ...process.env, NO_COLOR: "1" },
    timeout: 30_000,
    ...(cwd ? { cwd } : {}),
  });
  return { code: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr };
}

const steps = (log: string, extra = "") => `kiln: 1
plugins: { steps: kiln-builder-steps }
sources:
  alpha:
    type: steps
    log: ${log}
${extra}
builds:
  - name: img
    sources: [alpha]
`;

const misbehave = (how: string) => (log: string) =>
  `kiln: 1
plugins: { misbehave: kiln-builder-misbehave }
sources:
  m:
    type: misbehave
    log: ${log}
    how: ${how}
builds:
  - name: bad
    sources: [m]
`;

const noStackTrace = (text: string) => expect(text).not.toMatch(/^\s+at .*:\d+:\d+\)?$/m);

describe("build logs", () => {
  it("a log folder that cannot be made is one warning; the build goes on and succeeds", () => {
    const { dir, f, lines } = project((log) => steps(log));
    mkdirSync(join(dir, ".kiln"));
    writeFileSync(join(dir, ".kiln", "logs"), "a file where the log folder should be");
    const r = kiln(["build", f]);
    noStackTrace(r.stderr);
    expect(r.code).toBe(0);
    const warnings = r.stdout.split("\n").filter((l) => l.includes("warning:"));
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(
      /^kiln: warning: cannot write the build log .*\.kiln\/logs\/img\.steps\.alpha\./,
    );
    expect(warnings[0]).toContain("the build goes on without logs");
    expect(lines()).toContain("cleanup create img.steps.alpha");
  });

  it("each invocation writes its own log file; <run>.log points at the newest", () => {
    const { dir, f } = project((log) => steps(log));
    const logDir = join(dir, ".kiln", "logs");
    const logs = () =>
      readdirSync(logDir).filter((x) => /^img\.steps\.alpha\.\d{8}T\d{9}Z-[0-9a-f]{8}\.log$/.test(x));
    expect(kiln(["build", f]).code).toBe(0);
    const first = logs();
    expect(first).toHaveLength(1);
    expect(readlinkSync(join(logDir, "img.steps.alpha.log"))).toBe(first[0]);
    expect(kiln(["build", f]).code).toBe(0);
    const second = logs().filter((x) => !first.includes(x));
    expect(second).toHaveLength(1);
    expect(readlinkSync(join(logDir, "img.steps.alpha.log"))).toBe(second[0]);
    for (const file of logs()) expect(readFileSync(join(logDir, file), "utf8")).toContain("step create");
  });
});

describe("builds that never finish are failures", () => {
  it("a step that never settles (nothing left running): exit 1, says which, cleanups run", () => {
    const { f, lines } = project(misbehave("never-settles"));
    const r = kiln(["build", f]);
    noStackTrace(r.stderr);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain("bad.misbehave.m: failed after");
    expect(r.stdout).toMatch(/the build stopped making progress: bad\.misbehave\.m \(work\) never finished/);
    expect(lines()).toEqual([
      "run create bad.misbehave.m",
      "run work bad.misbehave.m",
      "cleanup work bad.misbehave.m",
      "cleanup create bad.misbehave.m",
    ]);
  });

  it("a plugin whose module never finishes loading (top-level await): exit 1 with a clear message", () => {
    const { f } = project(
      () => `kiln: 1
plugins: { tla: kiln-builder-tla }
sources:
  t: { type: tla }
builds:
  - sources: [t]
`,
    );
    const r = kiln(["build", f]);
    noStackTrace(r.stderr);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/tla\.t: failed after .*the build stopped making progress: tla\.t \(starting\)/);
  });

  for (const how of ["exit", "exit-later"]) {
    it(`a plugin calling process.exit(0) ${how === "exit" ? "in a step" : "from a timer"}: exit 1, cleanups run`, () => {
      const { f, lines } = project(misbehave(how));
      const r = kiln(["build", f]);
      noStackTrace(r.stderr);
      expect(r.code).toBe(1);
      expect(r.stdout).toContain("plugin code called process.exit(0) during the build");
      expect(lines()).toContain("cleanup create bad.misbehave.m");
    });
  }

  for (const how of ["throw-later", "reject-later"]) {
    it(`an async throw in plugin code (${how}) is the run's error: exit 1, cleanups run, no crash`, () => {
      const { f, lines } = project(misbehave(how));
      const r = kiln(["build", f]);
      noStackTrace(r.stderr);
      expect(r.stderr).toBe("");
      expect(r.code).toBe(1);
      expect(r.stdout).toMatch(
        /bad\.misbehave\.m: failed after .*: plugin code threw where nothing awaited it: (thrown from a timer|a promise nobody awaited)/,
      );
      expect(lines().slice(-2)).toEqual(["cleanup work bad.misbehave.m", "cleanup create bad.misbehave.m"]);
    });
  }
});

describe("signals and a closed output", () => {
  for (const sig of ["SIGHUP", "SIGQUIT"] as const) {
    it(`${sig} stops the build like Ctrl-C: every cleanup runs, exit 1`, async () => {
      const { f, lines } = project((log) => steps(log, "    hang_at: boot\n    temp: true"));
      const child = spawn(process.execPath, [bin, "build", f], { env: { ...process.env, NO_COLOR: "1" } });
      let out = "";
      child.stdout.on("data", (d) => {
        out += d;
      });
      const exited = new Promise<number | null>((resolve) => child.on("exit", resolve));
      while (!lines().includes("run boot img.steps.alpha")) await new Promise((r) => setTimeout(r, 50));
      child.kill(sig);
      expect(await exited).toBe(1);
      expect(out).toContain(`kiln: ${sig}: cleaning up img.steps.alpha`);
      expect(lines().slice(-2)).toEqual(["cleanup boot img.steps.alpha", "cleanup create img.steps.alpha"]);
      const temp = lines()
        .find((l) => l.startsWith("tempdir "))
        ?.slice("tempdir ".length);
      expect(temp && existsSync(temp)).toBe(false);
    });
  }

  it("a closed stdout (kiln build f | head): output stops, cleanups run, exit is not 0, no crash", async () => {
    const { dir, f, lines } = project(misbehave("chatter"));
    const child = spawn(process.execPath, [bin, "build", f], { env: { ...process.env, NO_COLOR: "1" } });
    let err = "";
    child.stderr.on("data", (d) => {
      err += d;
    });
    const exited = new Promise<number | null>((resolve) => child.on("exit", resolve));
    await new Promise<void>((resolve) => {
      let seen = "";
      child.stdout.on("data", (d) => {
        seen += d;
        if (seen.includes("chatter line 3")) resolve();
      });
    });
    child.stdout.destroy(); // like `head` exiting
    const code = await exited;
    noStackTrace(err);
    expect(code).toBe(1);
    expect(lines().slice(-2)).toEqual(["cleanup work bad.misbehave.m", "cleanup create bad.misbehave.m"]);
    const log = readFileSync(join(dir, ".kiln", "logs", "bad.misbehave.m.log"), "utf8");
    expect(log).toContain("kiln's stdout was closed (EPIPE); the build was stopped and cleaned up");
  });
});

describe("what to build", () => {
  it("--only or --except matching no run is an error that lists the runs (exit 2)", () => {
    const { f, lines } = project((log) => steps(log));
    for (const args of [
      ["--only", "nosuch"],
      ["--except", "*"],
    ]) {
      const r = kiln(["build", ...args, f]);
      expect(r.code).toBe(2);
      expect(r.stderr).toContain("KILN_NO_RUNS");
      expect(r.stderr).toContain(`${args.join(" ")} leaves no run to build`);
      expect(r.stderr).toContain("The runs of this file: img.steps.alpha.");
    }
    expect(lines()).toEqual([]);
  });

  it("a source listed twice, or two unnamed builds of one source, is a positioned error before anything runs", () => {
    const twice = project(
      (log) => `kiln: 1
plugins: { steps: kiln-builder-steps }
sources:
  a: { type: steps, log: ${log} }
builds:
  - sources: [a, a]
`,
    );
    for (const cmd of ["validate", "build"]) {
      const r = kiln([cmd, twice.f]);
      expect(r.code).toBe(2);
      expect(r.stderr).toContain(
        `${twice.f}:6:18: error KILN_DUPLICATE_NAME builds[0].sources[1]: "a" is listed twice`,
      );
    }
    const unnamed = project(
      (log) => `kiln: 1
plugins: { steps: kiln-builder-steps }
sources:
  a: { type: steps, log: ${log} }
builds:
  - sources: [a]
  - sources: [a]
`,
    );
    const r = kiln(["build", unnamed.f]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`${unnamed.f}:7:15: error KILN_DUPLICATE_NAME builds[1].sources[0]`);
    expect(r.stderr).toContain('the run "steps.a" is planned twice (also by builds[0].sources[0])');
    expect(twice.lines()).toEqual([]);
    expect(unnamed.lines()).toEqual([]);
  });
});

describe("interrupting the error-cleanup-provisioner", () => {
  // Inside the repo, so the first-party plugins (null builder, shell-local) resolve as in a project.
  const here = mkdtempSync(join(fileURLToPath(new URL("../test/", import.meta.url)), "tmp-ecp-"));
  afterAll(() => rmSync(here, { recursive: true, force: true }));

  it("a second Ctrl-C stops it (the child is killed), cleanups run, kiln exits 1", async () => {
    const pidFile = join(here, "sleep.pid");
    const f = join(here, "ecp.yaml");
    writeFileSync(
      f,
      `kiln: 1
sources:
  here: { type: "null", communicator: none }
builds:
  - name: ecp
    sources: [here]
    provisioners:
      - { type: shell-local, inline: ["exit 3"] }
    error-cleanup-provisioner:
      type: shell-local
      inline: ["echo $$ > ${pidFile}; exec sleep 600"]
`,
    );
    const child = spawn(process.execPath, [bin, "build", f], { env: { ...process.env, NO_COLOR: "1" } });
    let out = "";
    for (const s of [child.stdout, child.stderr])
      s.on("data", (d) => {
        out += d;
      });
    const exited = new Promise<number | null>((resolve) => child.on("exit", resolve));
    const pid = async () => {
      for (;;) {
        const text = existsSync(pidFile) ? readFileSync(pidFile, "utf8").trim() : "";
        if (/^\d+$/.test(text)) return Number(text);
        await new Promise((r) => setTimeout(r, 50));
      }
    };
    const sleeper = await pid();
    const until = async (ok: () => boolean) => {
      while (!ok()) await new Promise((r) => setTimeout(r, 50));
    };
    // the script has become `sleep 600`
    await until(() => {
      try {
        return readFileSync(`/proc/${sleeper}/cmdline`, "utf8").startsWith("sleep");
      } catch {
        return false;
      }
    });
    child.kill("SIGINT");
    await until(() => out.includes("kiln: SIGINT: cleaning up"));
    child.kill("SIGINT");
    expect(await exited).toBe(1);
    expect(out).toContain("running the error-cleanup-provisioner (shell-local)");
    expect(out).toContain("error-cleanup-provisioner failed: error-cleanup-provisioner interrupted");
    expect(out).toContain("kiln: still cleaning up:");
    // gone, or a zombie nobody reaps yet: either way no longer running (TERM was sent)
    const running = () => {
      try {
        return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${sleeper}/stat`, "utf8"));
      } catch {
        return false;
      }
    };
    for (let i = 0; i < 50 && running(); i++) await new Promise((r) => setTimeout(r, 100));
    expect(running()).toBe(false);
  });

  it("http.* in a provisioner of a build whose builder serves no HTTP is an error naming the option", () => {
    const f = join(here, "http.yaml");
    const marker = join(here, "ran");
    writeFileSync(
      f,
      `kiln: 1
sources:
  here: { type: "null", communicator: none }
builds:
  - name: web
    sources: [here]
    provisioners:
      - type: shell-local
        inline: ["touch ${marker}", "curl http://\${{ http.ip }}:\${{ http.port }}/ks.cfg"]
`,
    );
    const r = kiln(["build", f]);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain(
      "the shell-local provisioner's option inline[1] refers to http.*, but no HTTP server runs in this build, so it would be empty",
    );
    expect(existsSync(marker)).toBe(false);
  });
});
