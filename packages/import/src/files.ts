/**
 * What to read: the files given, or a folder's templates as Packer loads them (every `*.pkr.hcl`
 * and `*.pkr.json` in it, sorted, plus its `*.auto.pkrvars.hcl` / `*.auto.pkrvars.json`).
 */
import { readdirSync, statSync } from "node:fs";
import { basename, dirname, join, resolve } from "node:path";
import { ImportError } from "./report.js";

export type TemplateKind = "hcl" | "hcl-json" | "legacy-json";

export interface Inputs {
  /** Template files, in the order Packer reads them. */
  files: Array<{ path: string; kind: TemplateKind }>;
  /** Variables files Packer reads by itself (`*.auto.pkrvars.*`). */
  autoVarFiles: string[];
  /** The folder of the template (path.root). */
  dir: string;
}

const isHcl = (f: string) => f.endsWith(".pkr.hcl");
const isHclJson = (f: string) => f.endsWith(".pkr.json");
const isAutoVars = (f: string) => /\.auto\.pkrvars\.(hcl|json)$/.test(f);

function kindOf(file: string): TemplateKind {
  if (isHcl(file) || file.endsWith(".hcl")) return "hcl";
  if (isHclJson(file)) return "hcl-json";
  if (file.endsWith(".json")) return "legacy-json";
  throw new ImportError(
    `${file}: not a Packer template (expected .pkr.hcl, .pkr.json, or a legacy .json template)`,
    undefined,
    { hint: "Give the template files, or the folder that holds them." },
  );
}

export function gatherInputs(paths: readonly string[], cwd: string): Inputs {
  if (paths.length === 0)
    throw new ImportError("no template given", undefined, { hint: "kiln import PATH…" });
  const files: Inputs["files"] = [];
  const autoVarFiles: string[] = [];
  const dirs = new Set<string>();
  for (const p of paths) {
    const abs = resolve(cwd, p);
    let st: ReturnType<typeof statSync>;
    try {
      st = statSync(abs);
    } catch {
      throw new ImportError(`${p}: no such file or folder`);
    }
    if (st.isDirectory()) {
      const names = readdirSync(abs).sort();
      const found = names.filter((n) => isHcl(n) || isHclJson(n));
      if (found.length === 0) {
        throw new ImportError(`${p}: no *.pkr.hcl or *.pkr.json files in this folder`, undefined, {
          hint: "A legacy JSON template is given by its file name.",
        });
      }
      for (const n of found) files.push({ path: join(abs, n), kind: kindOf(n) });
      for (const n of names.filter(isAutoVars)) autoVarFiles.push(join(abs, n));
      dirs.add(abs);
    } else {
      if (isAutoVars(abs) || /\.pkrvars\.(hcl|json)$/.test(abs)) {
        throw new ImportError(`${p}: a variables file, not a template`, undefined, {
          hint: `Give it with --var-file ${p}, beside the template.`,
        });
      }
      files.push({ path: abs, kind: kindOf(basename(abs)) });
      dirs.add(dirname(abs));
    }
  }
  if (files.some((f) => f.kind === "legacy-json") && files.length > 1) {
    throw new ImportError("a legacy JSON template is imported on its own", undefined, {
      hint: "Import each legacy template with its own `kiln import file.json`.",
    });
  }
  if (dirs.size > 1) {
    throw new ImportError(
      `the templates are in ${dirs.size} folders; Packer reads one folder at a time`,
      undefined,
      {
        hint: "Import each folder on its own.",
      },
    );
  }
  return { files, autoVarFiles, dir: [...dirs][0] as string };
}
