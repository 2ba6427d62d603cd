import { describe, expect, it } from "vitest";
import { parseDocument } from "yaml";
import { formatDocument, unifiedDiff } from "./index.js";

describe("unifiedDiff", () => {
  it("is empty when the texts are equal", () => {
    expect(unifiedDiff("kiln: 1\n", "kiln: 1\n", "build.kiln.yaml")).toBe("");
    expect(unifiedDiff("", "", "build.kiln.yaml")).toBe("");
  });

  it("writes ---/+++ headers with the file name and @@ hunks", () => {
    const out = unifiedDiff("a: 1\nb: 2\nc: 3\n", "a: 1\nb: 20\nc: 3\n", "build.kiln.yaml");
    expect(out).toBe(
      [
        "--- build.kiln.yaml",
        "+++ build.kiln.yaml",
        "@@ -1,3 +1,3 @@",
        " a: 1",
        "-b: 2",
        "+b: 20",
        " c: 3",
        "",
      ].join("\n"),
    );
  });

  it("keeps three lines of context and splits distant changes into separate hunks", () => {
    const old = `${Array.from({ length: 20 }, (_, i) => `k${i}: ${i}`).join("\n")}\n`;
    const changed = old.replace("k1: 1", "k1: one").replace("k18: 18", "k18: eighteen");
    const out = unifiedDiff(old, changed, "f.yaml");
    const hunks = out.split("\n").filter((line) => line.startsWith("@@"));
    expect(hunks).toEqual(["@@ -1,5 +1,5 @@", "@@ -16,5 +16,5 @@"]);
  });

  it("marks a missing newline at the end of the file", () => {
    const out = unifiedDiff("kiln: 1", "kiln: 1\n", "f.yaml");
    expect(out).toContain("\\ No newline at end of file");
    expect(out.startsWith("--- f.yaml\n+++ f.yaml\n@@ -1,1 +1,1 @@\n")).toBe(true);
  });

  it("shows what kiln fmt would change in a build file", () => {
    const source = "sources:\n  s:\n    cpus: 2\n    type: qemu\nkiln: 1\n";
    const out = unifiedDiff(source, formatDocument(parseDocument(source)), "build.kiln.yaml");
    expect(out).toBe(
      [
        "--- build.kiln.yaml",
        "+++ build.kiln.yaml",
        "@@ -1,5 +1,6 @@",
        "+kiln: 1",
        "+",
        " sources:",
        "   s:",
        "-    cpus: 2",
        "     type: qemu",
        "-kiln: 1",
        "+    cpus: 2",
        "",
      ].join("\n"),
    );
  });
});
