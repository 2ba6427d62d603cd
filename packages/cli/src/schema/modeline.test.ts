import { describe, expect, it } from "vitest";
import { findModeline, isKilnSchema, setModeline } from "./modeline.js";

const ML = "# yaml-language-server: $schema=.kiln/schema.json";

describe("modeline", () => {
  it("finds the first modeline, wherever it is", () => {
    expect(findModeline("kiln: 1\n")).toBeUndefined();
    expect(findModeline("# a\n#yaml-language-server:  $schema=x.json\nkiln: 1\n")).toEqual({
      line: 1,
      schema: "x.json",
    });
    expect(findModeline(`\uFEFF${ML}\n`)).toEqual({ line: 0, schema: ".kiln/schema.json" });
  });

  it("adds one as the file's header: first line, then a blank line, as kiln fmt writes it", () => {
    expect(setModeline("kiln: 1\n", ".kiln/schema.json")).toEqual({
      kind: "added",
      text: `${ML}\n\nkiln: 1\n`,
    });
    expect(setModeline("# about\nkiln: 1\n", ".kiln/schema.json").text).toBe(`${ML}\n\n# about\nkiln: 1\n`);
    expect(setModeline("\nkiln: 1\n", ".kiln/schema.json").text).toBe(`${ML}\n\nkiln: 1\n`);
    expect(setModeline("\uFEFFkiln: 1\r\n", ".kiln/schema.json").text).toBe(`\uFEFF${ML}\r\n\r\nkiln: 1\r\n`);
  });

  it("updates kiln's own modelines in place, and leaves one it already wrote", () => {
    for (const old of [
      "https://kiln.dev/schemas/kiln.schema.json",
      "../schemas/kiln.schema.json",
      "https://cdn.jsdelivr.net/npm/@kiln/cli@0/schema.json",
      "https://unpkg.com/@kiln/core/schema.json",
    ]) {
      expect(isKilnSchema(old), old).toBe(true);
      const r = setModeline(
        `# top\n# yaml-language-server: $schema=${old}\r\nkiln: 1\r\n`,
        ".kiln/schema.json",
      );
      expect(r).toEqual({ kind: "replaced", text: `# top\n${ML}\r\nkiln: 1\r\n`, previous: old });
    }
    const text = `${ML}\n\nkiln: 1\n`;
    expect(setModeline(text, ".kiln/schema.json")).toEqual({ kind: "unchanged", text });
  });

  it("keeps a modeline naming another schema unless told to replace it", () => {
    const text = "# yaml-language-server: $schema=https://example.test/mine.json\nkiln: 1\n";
    expect(isKilnSchema("https://example.test/mine.json")).toBe(false);
    expect(setModeline(text, ".kiln/schema.json")).toEqual({
      kind: "foreign",
      text,
      previous: "https://example.test/mine.json",
    });
    expect(setModeline(text, ".kiln/schema.json", true).text).toBe(`${ML}\nkiln: 1\n`);
  });
});
