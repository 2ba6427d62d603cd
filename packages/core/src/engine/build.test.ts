import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { loadBuildFile } from "../load/index.js";
import { runBuild } from "./build.js";
import { EventBus, type KilnEvent } from "./events.js";

const fixtures = fileURLToPath(new URL("../../test/fixtures/plugins/", import.meta.url));
const scratch = mkdtempSync(join(fixtures, "tmp-engine-"));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));
let n = 0;

function setup(body: (log: string) => string) {
  const log = join(scratch, `log-${++n}.txt`);
  writeFileSync(log, "");
  const file = join(scratch, `build-${n}.yaml`);
  writeFileSync(file, body(log));
  const loaded = loadBuildFile({ file, env: {} });
  const bus = new EventBus();
  const events: KilnEvent[] = [];
  bus.subscribe((e) => events.push(e));
  const lines = () => readFileSync(log, "utf8").trim().split("\n").filter(Boolean);
  return { loaded, bus, events, lines };
}

const two = (log: string, extra = "", prov = "") => `kiln: 1
plugins: { steps: kiln-builder-steps }
sources:
  a:
    type: steps
    log: ${log}
    steps: [create, boot, wait]
${extra}
  b:
    type: steps
    log: ${log}
builds:
  - name: img
    sources: [a, b]
    provisioners:
      - type: record
        log: ${log}
        text: hello
${prov}
`;

describe("runBuild", () => {
  it("runs a per-build variant of a source with its own options, named after the variant", async () => {
    const { loaded, bus, lines } = setup(
      (log) => `kiln: 1
plugins: { steps: kiln-builder-steps }
sources:
  a:
    type: steps
    log: ${log}
    steps: [create]
builds:
  - name: img.v2
    sources:
      - a
      - { source: a, name: big, steps: [create, boot] }
`,
    );
    const r = await runBuild({ loaded, bus, parallel: 1, signal: new AbortController().signal });
    expect(r.ok).toBe(true);
    expect(r.runs.map((x) => x.run)).toEqual(["img.v2.steps.a", "img.v2.steps.big"]);
    expect(lines().filter((l) => l.startsWith("run "))).toEqual([
      "run create img.v2.steps.a",
      "run create img.v2.steps.big",
      "run boot img.v2.steps.big",
    ]);
  });

  it("runs steps, provisioners and cleanups in reverse order, run by run", async () => {
    const { loaded, bus, lines, events } = setup((log) => two(log));
    const r = await runBuild({ loaded, bus, parallel: 1, signal: new AbortController().signal });
    expect(r.ok).toBe(true);
    expect(lines()).toEqual([
      "run create img.steps.a",
      "run boot img.steps.a",
      "run wait img.steps.a",
      "provision hello img.steps.a attempt 1",
      "cleanup wait img.steps.a",
      "cleanup boot img.steps.a",
      "cleanup create img.steps.a",
      "run create img.steps.b",
      "run boot img.steps.b",
      "provision hello img.steps.b attempt 1",
      "cleanup boot img.steps.b",
      "cleanup create img.steps.b",
    ]);
    const artifacts = events
      .filter((e) => e.type === "artifact")
      .map((e) => (e.type === "artifact" ? e.artifact.id : ""));
    expect(artifacts).toEqual(["id-a", "id-b"]);
    expect(events[0]?.type).toBe("build-start");
    expect(events.at(-1)).toMatchObject({ type: "build-end", ok: true, failed: [] });
  });

  it("cleans up the steps that began when a step fails, and reports the run failed", async () => {
    const { loaded, bus, lines, events } = setup((log) => two(log, "    fail_at: boot"));
    const r = await runBuild({ loaded, bus, only: ["img.steps.a"], signal: new AbortController().signal });
    expect(r.ok).toBe(false);
    expect(lines()).toEqual([
      "run create img.steps.a",
      "run boot img.steps.a",
      "cleanup boot img.steps.a",
      "cleanup create img.steps.a",
    ]);
    expect(events.find((e) => e.type === "run-end")).toMatchObject({
      ok: false,
      error: "step boot failed on purpose",
    });
  });

  it("--on-error=abort leaves everything in place", async () => {
    const { loaded, bus, lines } = setup((log) => two(log, "    fail_at: boot"));
    await runBuild({ loaded, bus, only: ["*.a"], onError: "abort", signal: new AbortController().signal });
    expect(lines()).toEqual(["run create img.steps.a", "run boot img.steps.a"]);
  });

  it("an interrupt stops a hanging step and still runs every cleanup", async () => {
    const { loaded, bus, lines } = setup((log) => two(log, "    hang_at: boot"));
    const ctl = new AbortController();
    setTimeout(() => ctl.abort(new Error("SIGINT")), 300);
    const t0 = Date.now();
    const r = await runBuild({ loaded, bus, only: ["a"], signal: ctl.signal });
    expect(Date.now() - t0).toBeLessThan(5000);
    expect(r.ok).toBe(false);
    expect(lines()).toEqual([
      "run create img.steps.a",
      "run boot img.steps.a",
      "cleanup boot img.steps.a",
      "cleanup create img.steps.a",
    ]);
  });

  it("a step timeout fails the step with a clear error and cleans up", async () => {
    const { loaded, bus, lines, events } = setup((log) =>
      two(log, "    hang_at: boot\n    step_timeout_ms: 200"),
    );
    const r = await runBuild({ loaded, bus, only: ["a"], signal: new AbortController().signal });
    expect(r.ok).toBe(false);
    expect(events.find((e) => e.type === "run-end")).toMatchObject({ code: "KILN_STEP_TIMEOUT" });
    expect(lines().at(-1)).toBe("cleanup create img.steps.a");
  });

  it("retries a provisioner max_retries times, honours only/except and override", async () => {
    const { loaded, bus, lines } = setup((log) =>
      two(
        log,
        "",
        `        max_retries: 2
        fail_times: 2
        override:
          b:
            text: hello-b
      - type: record
        log: ${log}
        text: only-a
        only: [a]`,
      ),
    );
    const r = await runBuild({ loaded, bus, parallel: 1, signal: new AbortController().signal });
    expect(r.ok).toBe(true);
    const prov = lines().filter((l) => l.startsWith("provision"));
    expect(prov).toEqual([
      "provision hello img.steps.a attempt 1",
      "provision hello img.steps.a attempt 2",
      "provision hello img.steps.a attempt 3",
      "provision only-a img.steps.a attempt 1",
      "provision hello-b img.steps.b attempt 1",
      "provision hello-b img.steps.b attempt 2",
      "provision hello-b img.steps.b attempt 3",
    ]);
  });

  it("runs the error-cleanup-provisioner when provisioning fails, then cleans up", async () => {
    const { loaded, bus, lines } = setup(
      (log) => `kiln: 1
plugins: { steps: kiln-builder-steps }
sources:
  a: { type: steps, log: ${log}, steps: [create] }
builds:
  - sources: [a]
    provisioners:
      - { type: record, log: ${log}, text: breaks, fail_times: 9 }
      - { type: record, log: ${log}, text: never }
    error-cleanup-provisioner: { type: record, log: ${log}, text: rescue }
`,
    );
    const r = await runBuild({ loaded, bus, signal: new AbortController().signal });
    expect(r.ok).toBe(false);
    expect(lines()).toEqual([
      "run create steps.a",
      "provision breaks steps.a attempt 1",
      "provision rescue steps.a attempt 1",
      "cleanup create steps.a",
    ]);
  });

  it("runs post-processor chains and deletes the builder artifact no post-processor kept", async () => {
    const { loaded, bus, lines, events } = setup(
      (log) => `kiln: 1
plugins: { steps: kiln-builder-steps }
sources:
  a: { type: steps, log: ${log}, steps: [create] }
builds:
  - sources: [a]
    post-processors:
      - - { type: wrap, log: ${log}, suffix: "-1" }
        - { type: wrap, log: ${log}, suffix: "-2" }
`,
    );
    const r = await runBuild({ loaded, bus, signal: new AbortController().signal });
    expect(r.ok).toBe(true);
    expect(lines().filter((l) => !l.startsWith("run") && !l.startsWith("cleanup"))).toEqual([
      "wrap id-a -1",
      "wrap id-a-1 -2",
      "destroy builder artifact steps.a",
    ]);
    expect(
      events.filter((e) => e.type === "artifact").map((e) => (e.type === "artifact" ? e.artifact.id : "")),
    ).toEqual(["id-a", "id-a-1", "id-a-1-2"]);
  });

  it("runs in parallel up to the limit", async () => {
    const { loaded, bus, events } = setup((log) => two(log));
    await runBuild({ loaded, bus, parallel: 0, signal: new AbortController().signal });
    const order = events.filter((e) => e.type === "run-start" || e.type === "run-end").map((e) => e.type);
    expect(order.slice(0, 2)).toEqual(["run-start", "run-start"]);
  });

  it("redacts a credential registered at run time from every event", async () => {
    const { loaded, bus, events } = setup((log) => two(log, "    secret: gen-Secret-4242"));
    await runBuild({ loaded, bus, only: ["a"], signal: new AbortController().signal });
    const text = JSON.stringify(events);
    expect(text).toContain("generated credential <sensitive>");
    expect(text).not.toContain("gen-Secret-4242");
    expect(text).not.toContain(Buffer.from("xgen-Secret-4242").toString("base64").slice(4, 16));
  });

  it("renders build-time expressions with the run's values", async () => {
    const { loaded, bus, events } = setup((log) =>
      two(
        log,
        '    say: "I am ${{ source.name }} in ${{ build.BuildName }} (${{ upper(build.BuilderType) }})"',
      ),
    );
    await runBuild({ loaded, bus, only: ["a"], signal: new AbortController().signal });
    expect(events.some((e) => e.type === "say" && e.text === "I am a in img (STEPS)")).toBe(true);
  });
});
