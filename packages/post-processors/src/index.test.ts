import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import plugin from "./index.js";

describe("@kiln/post-processors plugin", () => {
  it("provides the four post-processors, each creating a runtime lazily", async () => {
    expect(plugin.postProcessors.map((p) => p.type)).toEqual([
      "manifest",
      "checksum",
      "compress",
      "shell-local",
    ]);
    for (const p of plugin.postProcessors) {
      const runtime = (await p.create()) as { postProcess?: unknown };
      expect(typeof runtime.postProcess).toBe("function");
    }
  });

  it("imports no implementation module statically (validation loads schemas only)", () => {
    const source = readFileSync(new URL("./index.ts", import.meta.url), "utf8");
    const staticImports = [
      ...source.matchAll(/^(?:import|export)\s+(?!type\b)[^;]*?from\s+"(\.[^"]+)"/gm),
    ].map((m) => m[1]);
    expect(staticImports).toEqual(["./schema.js"]);
  });

  it("declares in package.json exactly the types it defines", () => {
    const pkg = JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8"));
    expect(pkg.kiln["post-processors"]).toEqual(plugin.postProcessors.map((p) => p.type));
  });
});
