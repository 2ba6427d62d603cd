import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { baseSchema, composeSchema } from "./base.js";
import { compileSchema } from "./validate.js";

const expected = `${JSON.stringify(baseSchema(), null, 2)}\n`;

describe("generated schema files", () => {
  for (const file of ["../../../../schemas/kiln.schema.json", "../../schema.json"]) {
    it(`${file.replace(/^(\.\.\/)+/, "")} matches src/schema/base.ts (run pnpm --filter @kiln/core gen:schema)`, () => {
      expect(readFileSync(new URL(file, import.meta.url), "utf8")).toBe(expected);
    });
  }
});

describe("composeSchema", () => {
  const composed = composeSchema([
    {
      kind: "builder",
      type: "demo",
      schema: { type: "object", properties: { memory: { type: "integer" } }, required: ["memory"] },
    },
    {
      kind: "provisioner",
      type: "shell",
      schema: { type: "object", properties: { inline: { type: "array", items: { type: "string" } } } },
    },
  ]);
  const validate = compileSchema(composed);
  it("accepts a file whose components match their plugin schemas", () => {
    expect(
      validate({
        kiln: 1,
        sources: { a: { type: "demo", memory: 512 } },
        builds: [{ sources: ["a"], provisioners: [{ type: "shell", inline: ["true"], pause_before: "5s" }] }],
      }),
    ).toBe(true);
  });
  it("rejects unknown options and wrong types per type", () => {
    expect(validate({ kiln: 1, sources: { a: { type: "demo", memory: "lots" } } })).toBe(false);
    expect(validate({ kiln: 1, sources: { a: { type: "demo", memory: 1, bogus: 1 } } })).toBe(false);
    expect(validate({ kiln: 1, sources: { a: { type: "demo" } } })).toBe(false);
    expect(
      validate({ kiln: 1, builds: [{ sources: ["a"], provisioners: [{ type: "shell", inline: "x" }] }] }),
    ).toBe(false);
  });
});
