import { dirname, resolve } from "node:path";
import {
  baseSchema,
  composeSchema,
  isKilnError,
  type Kind,
  loadStructure,
  PluginResolver,
  type Structure,
  walkComponents,
} from "@kiln/core";
import { buildFileOf } from "../build-file.js";
import { type CommandContext, EXIT } from "../context.js";
import { report, resolverOptions } from "../shared.js";
import { STANDARD_PLUGINS } from "../standard.js";

/**
 * `kiln schema [file]`: the base schema composed with the option schemas of the plugins a file
 * uses (or, without a file, of every installed standard plugin), for editors.
 */
export async function run(ctx: CommandContext): Promise<number> {
  const [given] = ctx.positionals;
  const found = given === undefined ? undefined : buildFileOf(given);
  if (found && "error" in found) {
    ctx.stderr.write(`kiln schema: ${found.error}\n`);
    return EXIT.INVALID;
  }
  const file = found?.file;
  const components: Array<{ kind: Kind; type: string; schema: Record<string, unknown> }> = [];
  let structure: Structure | undefined;
  try {
    if (file) {
      structure = loadStructure(file);
      const { raw } = structure;
      const resolver = new PluginResolver({
        fromDir: dirname(resolve(file)),
        ...resolverOptions(dirname(resolve(file))),
        plugins: (raw.plugins ?? {}) as Record<string, string>,
      });
      // Builders first, then data sources, then the rest in file order (the schema's order).
      const rank = (k: Kind) => (k === "builder" ? 0 : k === "datasource" ? 1 : 2);
      const refs = [...walkComponents(raw)].sort((a, b) => rank(a.kind) - rank(b.kind));
      const wanted = new Set<string>();
      for (const c of refs) if (c.type !== undefined) wanted.add(`${c.kind}\u0000${c.type}`);
      for (const key of wanted) {
        const [kind, type] = key.split("\u0000") as [Kind, string];
        try {
          const r = resolver.resolve(kind, type);
          components.push({ kind, type, schema: r.schema });
        } catch (err) {
          if (!isKilnError(err)) throw err;
          ctx.stderr.write(`kiln schema: ${err.message} (its options are left out)\n`);
        }
      }
    } else {
      const resolver = new PluginResolver({ fromDir: process.cwd(), ...resolverOptions() });
      for (const [kind, types] of Object.entries(STANDARD_PLUGINS) as Array<[Kind, Record<string, string>]>) {
        for (const type of Object.keys(types)) {
          try {
            components.push({ kind, type, schema: resolver.resolve(kind, type).schema });
          } catch {
            // not installed: left out
          }
        }
      }
    }
  } catch (err) {
    return report(ctx, err, structure?.src);
  }
  const schema = components.length ? composeSchema(components) : baseSchema();
  ctx.stdout.write(`${JSON.stringify(schema, null, 2)}\n`);
  return EXIT.OK;
}
