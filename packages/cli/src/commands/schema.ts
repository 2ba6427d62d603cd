import { relative } from "node:path";
import { buildFileOf } from "../build-file.js";
import { type CommandContext, EXIT } from "../context.js";
import { findBuildFile } from "../find-build-file.js";
import { schemaFor } from "../schema/compose.js";
import { describeWrite, writeProjectSchema } from "../schema/write.js";
import { report } from "../shared.js";

const USAGE = "kiln schema [file|folder] | kiln schema --write [--force] [file|folder]";

/**
 * `kiln schema [file]`: print the editor schema — the base schema composed with the options of
 * the standard set, the file's pinned plugins and the types it uses. `--write`: write it to
 * `.kiln/schema.json` beside the file and make the file's yaml-language-server modeline name it
 * (`--force`: also when the modeline names some other schema).
 */
export async function run(ctx: CommandContext): Promise<number> {
  const warn = (line: string) => ctx.stderr.write(`kiln schema: ${line}\n`);
  try {
    if (ctx.values.write === true) {
      const file = findBuildFile(ctx, "schema", USAGE);
      if (!file) return EXIT.INVALID;
      const r = writeProjectSchema(file, warn, { replaceForeign: ctx.values.force === true });
      const shown = (p: string) => relative(process.cwd(), p) || p;
      ctx.stdout.write(`${describeWrite(file, r, shown).join("\n")}\n`);
      return EXIT.OK;
    }
    const [given, ...extra] = ctx.positionals;
    if (extra.length) {
      ctx.stderr.write(`kiln schema: unexpected argument "${extra[0]}"\nUsage: ${USAGE}\n`);
      return EXIT.INVALID;
    }
    const found = given === undefined ? undefined : buildFileOf(given);
    if (found && "error" in found) {
      ctx.stderr.write(`kiln schema: ${found.error}\n`);
      return EXIT.INVALID;
    }
    ctx.stdout.write(`${JSON.stringify(schemaFor(found?.file, warn).schema, null, 2)}\n`);
    return EXIT.OK;
  } catch (err) {
    return report(ctx, err);
  }
}
