import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import plugin from "./index.js";

describe("@kiln/provisioners plugin", () => {
  it("provides shell, file, shell-local and breakpoint, as its package.json declares", () => {
    const pkg = JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8")) as {
      kiln: { provisioners: string[] };
    };
    expect(plugin.provisioners.map((p) => p.type)).toEqual(pkg.kiln.provisioners);
  });

  it("loads each implementation only when create() is called", async () => {
    const source = readFileSync(new URL("./index.ts", import.meta.url), "utf8");
    expect(source).not.toMatch(/^import .* from "\.\/(shell|file|shell-local|breakpoint)\.js"/m);
    expect(source).not.toMatch(/node-pty/); // the pseudo-terminal loads only when shell-local runs
    for (const p of plugin.provisioners) {
      const runtime = (await p.create()) as { provision?: unknown };
      expect(typeof runtime.provision, p.type).toBe("function");
    }
  });
});
