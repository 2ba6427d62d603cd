import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { baseSchema } from "./base.js";

const expected = `${JSON.stringify(baseSchema(), null, 2)}\n`;

describe("generated schema files", () => {
  it("schema.json matches src/schema/base.ts (run pnpm --filter @kiln/core gen:schema)", () => {
    expect(readFileSync(new URL("../../schema.json", import.meta.url), "utf8")).toBe(expected);
  });
});
