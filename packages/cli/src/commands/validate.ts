import { loadStructure, type Structure } from "@kiln/core";
import { type CommandContext, EXIT } from "../context.js";
import { fileArg, loadFromArgs, printWarnings, report } from "../shared.js";

export async function run(ctx: CommandContext): Promise<number> {
  const file = fileArg(ctx, "validate");
  if (!file) return EXIT.INVALID;
  let structure: Structure | undefined;
  try {
    structure = loadStructure(file);
    if (ctx.values["syntax-only"]) {
      const { diags } = structure;
      const errors = diags.filter((d) => d.severity === "error");
      if (errors.length) {
        const { KilnError, maskDiagnostics, sortDiagnostics } = await import("@kiln/core");
        throw new KilnError(errors[0]?.code ?? "KILN_SCHEMA", "invalid", {
          // Code frames never show a line holding a sensitive default.
          diagnostics: maskDiagnostics(sortDiagnostics(errors), structure.src.file, structure.src.text),
        });
      }
      ctx.stdout.write(`${file}: syntax is valid\n`);
      return EXIT.OK;
    }
    const loaded = loadFromArgs(ctx, file, { structure });
    // Every component's own checks (boot commands, local files, option relations): no side effects.
    const { checkComponents, KilnError } = await import("@kiln/core");
    const found = await checkComponents(loaded, { env: process.env });
    const errors = found.filter((d) => d.severity === "error");
    if (errors.length > 0)
      throw new KilnError(errors[0]?.code ?? "KILN_CONFIG", `${file}: ${errors.length} problem(s)`, {
        diagnostics: [...errors, ...found.filter((d) => d.severity !== "error")],
        secrets: loaded.secrets,
      });
    printWarnings(ctx, found, loaded.secrets, structure.src);
    const nSources = Object.keys(loaded.sources).length;
    const runs = loaded.builds.reduce((n, b) => n + b.sources.length, 0);
    ctx.stdout.write(
      `${file}: valid (${nSources} source${nSources === 1 ? "" : "s"}, ${loaded.builds.length} build${loaded.builds.length === 1 ? "" : "s"}, ${runs} run${runs === 1 ? "" : "s"})\n`,
    );
    return EXIT.OK;
  } catch (err) {
    return report(ctx, err, structure?.src);
  }
}
