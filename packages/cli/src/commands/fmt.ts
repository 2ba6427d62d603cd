import { renameSync, writeFileSync } from "node:fs";
import { formatDocument, parseYaml, readYamlBytes, unifiedDiff } from "@kiln/core";
import { type CommandContext, EXIT } from "../context.js";
import { report } from "../shared.js";

/** `kiln fmt [--check] [--diff] files…`: rewrite in canonical form; --check only reports. */
export async function run(ctx: CommandContext): Promise<number> {
  const files = ctx.positionals;
  if (files.length === 0) {
    ctx.stderr.write("no build file given\nUsage: kiln fmt [--check] [--diff] <file>...\n");
    return EXIT.INVALID;
  }
  const check = ctx.values.check === true;
  const diff = ctx.values.diff === true;
  let unformatted = 0;
  let invalid = 0;
  for (const file of files) {
    let text: string;
    let formatted: string;
    let original: string;
    try {
      // Read once: the bytes are parsed, and compared (BOM and all) with the formatted text.
      const bytes = readYamlBytes(file);
      const src = parseYaml(bytes, file);
      text = src.text;
      formatted = formatDocument(src.doc);
      original = new TextDecoder("utf-8", { ignoreBOM: true }).decode(bytes);
    } catch (err) {
      report(ctx, err);
      invalid++;
      continue;
    }
    if (formatted === original) continue;
    unformatted++;
    if (diff) ctx.stdout.write(unifiedDiff(text, formatted, file));
    if (check) {
      if (!diff) ctx.stdout.write(`${file}\n`);
      continue;
    }
    const tmp = `${file}.kiln-fmt-${process.pid}.tmp`;
    writeFileSync(tmp, formatted);
    renameSync(tmp, file);
    if (!diff) ctx.stdout.write(`${file}\n`);
  }
  if (invalid) return EXIT.INVALID;
  return check && unformatted ? EXIT.NOT_FORMATTED : EXIT.OK;
}
