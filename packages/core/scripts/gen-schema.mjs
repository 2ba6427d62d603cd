// Writes the build-file schema from its one source of truth (src/schema/base.ts, built to dist)
// to packages/core/schema.json. A test fails when they drift. The editor's schema, with the
// standard plugins' options, is @kiln/cli's schema.json (packages/cli/scripts/gen-schema.mjs).
import { writeFileSync } from "node:fs";
import { baseSchema } from "../dist/schema/base.js";

writeFileSync(new URL("../schema.json", import.meta.url), `${JSON.stringify(baseSchema(), null, 2)}\n`);
