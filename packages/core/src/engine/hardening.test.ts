/** The engine's guarantees when plugin code misbehaves: stalls, async throws, empty selections. */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { isKilnError } from "../errors.js";
import { Deferred } from "../expr/deferred.js";
import { loadBuildFile } from "../load/index.js";
import { runBuild } from "./build.js";
import { failRunOf, withinRun } from "./crash.js";
import { EventBus } from "./events.js";
import { checkHttpAvailable, httpReferences } from "./http-refs.js";
import { StalledError, withTimeout } from "./runner.js";

const fixtures = fileURLToPath(new URL("../../test/fixtures/plugins/", import.meta.url));
const scratch = mkdtempSync(join(fixtures, "tmp-engine-hardening-"));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

const never = () => new Promise<never>(() => {});

describe("withTimeout", () => {
  it("gives up on stalled work at once, with the stall as the error", async () => {
    const ctl = new AbortController();
    const p = withTimeout("boot", ctl.signal, undefined, never, 3_600_000);
    ctl.abort(new StalledError("img.qemu.a (boot)"));
    await expect(p).rejects.toMatchObject({ code: "KILN_STALLED" });
  });

  it("gives up on work that ignores its signal after the grace period, with a timer that holds the process", async () => {
    const ctl = new AbortController();
    const p = withTimeout("boot", ctl.signal, undefined, never, 5);
    ctl.abort(new Error("interrupted by SIGINT"));
    await expect(p).rejects.toMatchObject({ code: "KILN_INTERRUPTED" });
  });
});

describe("errors nobody awaited", () => {
  it("go to the run whose code threw them, as KILN_PLUGIN_CRASH; outside any run they are not claimed", async () => {
    const got: unknown[] = [];
    await withinRun(
      (e) => got.push(e),
      async () => {
        await new Promise((r) => setTimeout(r, 1));
        expect(failRunOf(new Error("from a timer"))).toBe(true);
      },
    );
    expect(got).toHaveLength(1);
    expect(got[0]).toMatchObject({
      code: "KILN_PLUGIN_CRASH",
      message: "plugin code threw where nothing awaited it: from a timer",
    });
    expect(failRunOf(new Error("elsewhere"))).toBe(false);
  });
});

describe("runBuild refuses", () => {
  function loaded(builds: string) {
    const file = join(scratch, `b${Math.random().toString(36).slice(2)}.yaml`);
    writeFileSync(
      file,
      `kiln: 1\nplugins: { steps: kiln-builder-steps }\nsources:\n  a: { type: steps, log: ${join(scratch, "log")} }\nbuilds:\n${builds}`,
    );
    return loadBuildFile({ file, env: {} });
  }
  const signal = new AbortController().signal;

  it("--only / --except that leave nothing to run, naming the runs", async () => {
    const l = loaded("  - { name: img, sources: [a] }\n");
    const err = await runBuild({ loaded: l, bus: new EventBus(), only: ["nope"], signal }).catch((e) => e);
    expect(isKilnError(err, "KILN_NO_RUNS")).toBe(true);
    expect(err.message).toBe("--only nope leaves no run to build");
    expect(err.hint).toContain("The runs of this file: img.steps.a.");
  });

  it("two runs with one name, at the position of the second", async () => {
    const l = loaded("  - sources: [a]\n  - sources: [a]\n");
    const err = await runBuild({ loaded: l, bus: new EventBus(), signal }).catch((e) => e);
    expect(isKilnError(err, "KILN_DUPLICATE_NAME")).toBe(true);
    expect(err.diagnostics[0]).toMatchObject({ path: "builds[1].sources[0]", pos: { line: 7, column: 15 } });
  });
});

describe("http.* where no HTTP server runs", () => {
  it("finds the options that refer to http.*, by their parsed references (not their text)", () => {
    expect(
      httpReferences(
        {
          inline: ["echo ${{ http.ip }}:${{ http.port }}", "echo http.ip", "echo $${{ http.ip }}"],
          env: { URL: "http://${{ upper(http.addr) }}/x", B: "${{ build.ID }}" },
        },
        ["builds", 0, "provisioners", 1],
      ),
    ).toEqual([
      ["builds", 0, "provisioners", 1, "inline", 0],
      ["builds", 0, "provisioners", 1, "env", "URL"],
    ]);
  });

  it("follows locals: an option reading a local computed from http.* refers to http.* too", () => {
    const locals = {
      url: Deferred.parse("http://${{ http.addr }}/seed"),
      again: Deferred.parse("${{ local.url }}"),
      plain: "no http here",
      loop: Deferred.parse("${{ local.loop }}"),
    };
    const o = {
      inline: ["${{ local.again }}", "${{ local.plain }}", "${{ local.loop }}", "${{ local.url }}"].map((t) =>
        Deferred.parse(t),
      ),
    };
    expect(httpReferences(o, ["p"], locals)).toEqual([
      ["p", "inline", 0],
      ["p", "inline", 3],
    ]);
    expect(() =>
      checkHttpAvailable("the shell provisioner's", o, ["p"], { PackerHTTPAddr: "" }, { locals }),
    ).toThrow("the shell provisioner's option inline[0] refers to http.*");
  });

  it("is an error naming the option unless a builder published the HTTP server", () => {
    const o = { inline: ["curl ${{ http.addr }}"] };
    expect(() =>
      checkHttpAvailable("the shell-local provisioner's", o, ["p"], { PackerHTTPAddr: "" }, undefined),
    ).toThrow(
      "the shell-local provisioner's option inline[0] refers to http.*, but no HTTP server runs in this build",
    );
    expect(() =>
      checkHttpAvailable("x", o, ["p"], { PackerHTTPAddr: "10.0.2.2:8123" }, undefined),
    ).not.toThrow();
  });
});
