/**
 * Data sources end to end through the loader and the engine: evaluated once before the runs, in
 * dependency order; `${{ data.base.id }}` reaches a source's options before prepare, a
 * provisioner's through ctx.render; errors are positioned and stop the build before any run.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { isKilnError } from "../errors.js";
import { loadBuildFile } from "../load/index.js";
import { runBuild } from "./build.js";
import { dataOrder } from "./data.js";
import { EventBus, type KilnEvent } from "./events.js";

const fixtures = fileURLToPath(new URL("../../test/fixtures/plugins/", import.meta.url));
const scratch = mkdtempSync(join(fixtures, "tmp-data-"));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));
let n = 0;

function setup(body: (log: string) => string) {
  const log = join(scratch, `log-${++n}.txt`);
  writeFileSync(log, "");
  const file = join(scratch, `build-${n}.yaml`);
  writeFileSync(file, body(log));
  const load = () => loadBuildFile({ file, env: {} });
  const bus = new EventBus();
  const events: KilnEvent[] = [];
  bus.subscribe((e) => events.push(e));
  const lines = () => readFileSync(log, "utf8").trim().split("\n").filter(Boolean);
  return { load, bus, events, lines };
}

const file = (log: string, data: string, note = "${{ data.base.id }}") => `kiln: 1
plugins: { steps: kiln-builder-steps, echo: kiln-builder-steps }
data:
${data}
sources:
  a:
    type: steps
    log: ${log}
    steps: [create]
    note: "${note}"
builds:
  - name: img
    sources: [a]
    provisioners:
      - type: record
        log: ${log}
        text: "prov-\${{ data.base.id }}"
`;

describe("data sources", () => {
  it("feed sources (before prepare) and provisioners, after the data sources they read", async () => {
    const { load, bus, lines } = setup((log) =>
      file(
        log,
        `  base:
    type: echo
    log: ${log}
    values: { id: "ami-\${{ data.first.id }}" }
  first:
    type: echo
    log: ${log}
    values: { id: "1234" }`,
      ),
    );
    const loaded = load();
    expect(dataOrder(loaded)).toEqual(["first", "base"]);
    const r = await runBuild({ loaded, bus, signal: new AbortController().signal });
    expect(r.runs[0]?.error).toBeUndefined();
    expect(r.ok).toBe(true);
    expect(lines()).toEqual([
      'data first {"id":"1234"}',
      'data base {"id":"ami-1234"}',
      "run create img.steps.a",
      // the builder reads the option itself, without ctx.render: the value was there before prepare
      "note ami-1234 img.steps.a",
      "provision prov-ami-1234 img.steps.a attempt 1",
      "cleanup create img.steps.a",
    ]);
  });

  it("a data source that is not declared is a load error with its position", () => {
    const { load } = setup((log) =>
      file(log, `  base:\n    type: echo\n    values: { id: x }`, "${{ data.bsae.id }}"),
    );
    try {
      load();
      expect.unreachable();
    } catch (e) {
      expect(isKilnError(e)).toBe(true);
      const d = (e as { diagnostics: Array<{ message: string; pos?: { line: number } }> }).diagnostics[0];
      expect(d?.message).toMatch(/"data.bsae" is not declared/);
      expect(d?.pos?.line).toBe(12);
    }
  });

  it("a failing data source stops the build before any run, with its position", async () => {
    const { load, bus, lines, events } = setup((log) =>
      file(log, `  base:\n    type: echo\n    log: ${log}\n    fail: true`),
    );
    const loaded = load();
    const err = await runBuild({ loaded, bus, signal: new AbortController().signal }).catch((e) => e);
    expect(isKilnError(err, "KILN_DATA_SOURCE")).toBe(true);
    expect(err.message).toMatch(/^data.base \(echo\): echo failed on purpose/);
    expect(err.diagnostics[0].pos.line).toBe(5);
    expect(lines()).toEqual(["data base {}"]);
    expect(events.at(-1)).toMatchObject({ type: "build-end", ok: false });
    expect(events.some((e) => e.type === "run-start")).toBe(false);
  });

  it("a cycle is refused", () => {
    const { load } = setup((log) =>
      file(
        log,
        `  base:\n    type: echo\n    values: { id: "\${{ data.other.id }}" }\n  other:\n    type: echo\n    values: { id: "\${{ data.base.id }}" }`,
      ),
    );
    expect(() => dataOrder(load())).toThrow(/cycle: data.base → data.other → data.base/);
  });

  it("build.* in a data source is refused (it runs before any build)", async () => {
    const { load, bus } = setup((log) =>
      file(log, `  base:\n    type: echo\n    values: { id: "\${{ build.ID }}" }`),
    );
    const err = await runBuild({ loaded: load(), bus, signal: new AbortController().signal }).catch((e) => e);
    expect(err.message).toMatch(/reads build\.\*, which exist only while a build runs/);
  });

  it("a value of the wrong type for the builder is refused before prepare, at the option's position", async () => {
    const { load, bus, events } = setup((log) =>
      file(log, `  base:\n    type: echo\n    values: { id: 7 }`).replace(
        'note: "${{ data.base.id }}"',
        "note: ${{ data.base.id }}",
      ),
    );
    const r = await runBuild({ loaded: load(), bus, signal: new AbortController().signal });
    expect(r.ok).toBe(false);
    expect(String((r.runs[0]?.error as Error | undefined)?.message)).toMatch(
      /a data source gave steps a value it refuses/,
    );
    expect(events.some((e) => e.type === "step-start")).toBe(false);
  });

  it("secrets a data source registers are redacted", async () => {
    const { load, bus, events } = setup((log) =>
      file(log, `  base:\n    type: echo\n    secret: data-Secret-123\n    values: { id: data-Secret-123 }`),
    );
    const r = await runBuild({ loaded: load(), bus, signal: new AbortController().signal });
    expect(r.ok).toBe(true);
    expect(JSON.stringify(events)).not.toContain("data-Secret-123");
  });
});
