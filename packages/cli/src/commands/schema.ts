import { dirname, resolve } from "node:path";
import { baseSchema, composeSchema, isKilnError, type Kind, loadStructure, PluginResolver } from "@kiln/core";
import { type CommandContext, EXIT } from "../context.js";
import { report, resolverOptions } from "../shared.js";
import { STANDARD_PLUGINS } from "../standard.js";

/**
 * `kiln schema [file]`: the base schema composed with the option schemas of the plugins a file
 * uses (or, without a file, of every installed standard plugin), for editors.
 */
export async function run(ctx: CommandContext): Promise<number> {
  const [file] = ctx.positionals;
  const components: Array<{ kind: Kind; type: string; schema: Record<string, unknown> }> = [];
  try {
    if (file) {
      const { raw } = loadStructure(file);
      const resolver = new PluginResolver({
        fromDir: dirname(resolve(file)),
        ...resolverOptions(dirname(resolve(file))),
        plugins: (raw.plugins ?? {}) as Record<string, string>,
      });
      const wanted = new Set<string>();
      const add = (kind: Kind, c: unknown) => {
        const type = (c as { type?: unknown } | null)?.type;
        if (typeof type === "string") wanted.add(`${kind}\u0000${type}`);
      };
      for (const s of Object.values(raw.sources ?? {})) add("builder", s);
      for (const s of Object.values(raw.data ?? {})) add("datasource", s);
      for (const b of raw.builds ?? []) {
        for (const p of (b.provisioners as unknown[] | undefined) ?? []) add("provisioner", p);
        if (b["error-cleanup-provisioner"]) add("provisioner", b["error-cleanup-provisioner"]);
        for (const pp of (b["post-processors"] as unknown[] | undefined) ?? [])
          for (const x of Array.isArray(pp) ? pp : [pp]) add("post-processor", x);
      }
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
    return report(ctx, err);
  }
  const schema = components.length ? composeSchema(components) : baseSchema();
  ctx.stdout.write(`${JSON.stringify(schema, null, 2)}\n`);
  return EXIT.OK;
}
