// Writes the build-file schema from its one source of truth (src/schema/base.ts, built to dist)
// to schemas/kiln.schema.json and packages/core/schema.json. A test fails when they drift.
import { writeFileSync } from "node:fs";
import { baseSchema } from "../dist/schema/base.js";

const text = `${JSON.stringify(baseSchema(), null, 2)}\n`;
for (const target of ["../../../schemas/kiln.schema.json", "../schema.json"]) {
  writeFileSync(new URL(target, import.meta.url), text);
}
