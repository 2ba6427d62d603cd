/**
 * The CLI's modules import each other without a cycle (static imports, re-exports and dynamic
 * `import()` all count): a cycle makes load order matter and keeps modules from starting lazily.
 */
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const SRC = dirname(fileURLToPath(import.meta.url));
const SPECIFIER =
  /(?:^|[\s;])(?:import|export)\s[^'"]*?from\s*["']([^"']+)["']|import\(\s*["']([^"']+)["']\s*\)/g;

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? sourceFiles(join(dir, e.name)) : e.name.endsWith(".ts") ? [join(dir, e.name)] : [],
  );
}

/** Module → the src modules it imports (relative specifiers, `.js` written for `.ts`). */
function importGraph(dir: string): Map<string, string[]> {
  const files = new Set(sourceFiles(dir));
  const graph = new Map<string, string[]>();
  for (const file of files) {
    const text = readFileSync(file, "utf8");
    const deps: string[] = [];
    for (const m of text.matchAll(SPECIFIER)) {
      const spec = m[1] ?? m[2] ?? "";
      if (!spec.startsWith(".")) continue;
      const target = resolve(dirname(file), spec).replace(/\.js$/, ".ts");
      const found = [target, join(target, "index.ts")].find((f) => files.has(f));
      if (found) deps.push(found);
    }
    graph.set(file, deps);
  }
  return graph;
}

/** Each cycle found by a depth-first walk, as the list of modules around it. */
function findCycles(graph: Map<string, string[]>): string[][] {
  const cycles: string[][] = [];
  const state = new Map<string, "open" | "done">();
  const stack: string[] = [];
  const visit = (n: string) => {
    state.set(n, "open");
    stack.push(n);
    for (const d of graph.get(n) ?? []) {
      if (state.get(d) === "open") cycles.push([...stack.slice(stack.indexOf(d)), d]);
      else if (!state.has(d)) visit(d);
    }
    stack.pop();
    state.set(n, "done");
  };
  for (const n of graph.keys()) if (!state.has(n)) visit(n);
  return cycles;
}

describe("packages/cli/src imports", () => {
  it("finds a cycle when there is one", () => {
    const g = new Map([
      ["a", ["b"]],
      ["b", ["c"]],
      ["c", ["a"]],
      ["d", ["a"]],
    ]);
    expect(findCycles(g)).toEqual([["a", "b", "c", "a"]]);
    expect(
      findCycles(
        new Map([
          ["a", ["b"]],
          ["b", []],
        ]),
      ),
    ).toEqual([]);
  });

  it("reads static, re-export and dynamic imports", () => {
    const graph = importGraph(SRC);
    const rel = (f: string) => relative(SRC, f);
    const deps = (f: string) => (graph.get(join(SRC, f)) ?? []).map(rel);
    expect(deps("main.ts")).toEqual(expect.arrayContaining(["context.ts", "commands.ts"]));
    expect(deps("commands.ts")).toEqual(expect.arrayContaining(["commands/build.ts"]));
    expect(deps("index.ts")).toEqual(expect.arrayContaining(["main.ts", "standard.ts"]));
    expect(deps("commands/build.ts")).toEqual(expect.arrayContaining(["install/index.ts", "shared.ts"]));
  });

  it("has no import cycle", () => {
    const cycles = findCycles(importGraph(SRC)).map((c) => c.map((f) => relative(SRC, f)).join(" → "));
    expect(cycles).toEqual([]);
  });
});
