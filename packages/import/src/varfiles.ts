/**
 * Packer variables files (`.pkrvars.hcl`, `.pkrvars.json`) → kiln YAML variables files beside the
 * output (`x.pkrvars.hcl` → `x.vars.yaml`). Values are plain data in kiln: a value holding a
 * Packer placeholder (`{{ .HTTPIP }}`) has no spelling there and is a commented entry.
 */
import { readFileSync } from "node:fs";
import { basename, join } from "node:path";
import { fromData, type KEntry, kmap, scalar, toData } from "./emit/model.js";
import { renderYaml } from "./emit/yaml.js";
import type { Body, Expr } from "./hcl/ast.js";
import { readHclFile } from "./hcl/read.js";
import { JsonFile, plain, properties } from "./json/tree.js";
import { ImportError, type Position, type ReportEntry } from "./report.js";
import { ExprTranslator, Unsupported } from "./translate/expr.js";

export interface VarFileResult {
  from: string;
  /** Absolute path of the YAML file to write. */
  out: string;
  text: string;
  report: ReportEntry[];
  /** The values kiln can take, by variable. */
  values: Map<string, { value: unknown; pos: Position }>;
}

const hasExpression = (v: unknown): boolean =>
  typeof v === "string"
    ? v.includes("${{")
    : Array.isArray(v)
      ? v.some(hasExpression)
      : v !== null && typeof v === "object" && Object.values(v).some(hasExpression);

export async function convertVarFile(
  file: string,
  outDir: string,
  displayFile: (f: string) => string,
  commentFile: (f: string) => string,
): Promise<VarFileResult> {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (err) {
    throw new ImportError(`${file}: cannot be read (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
  }
  const out = join(
    outDir,
    `${basename(file)
      .replace(/\.pkrvars\.(hcl|json)$/, "")
      .replace(/\.(hcl|json)$/, "")}.vars.yaml`,
  );
  const report: ReportEntry[] = [];
  const values = new Map<string, { value: unknown; pos: Position }>();
  const entries: KEntry[] = [];
  const show = (p: Position): Position => ({ ...p, file: displayFile(p.file) });
  const translator = new ExprTranslator({
    reference: () => undefined,
    field: (name) => (["Path", "Vars"].includes(name) ? undefined : `build.${name}`),
    note: () => {},
    external: (fn, _args, pos) => {
      throw new Unsupported(`${fn}() in a variables file`, pos);
    },
  });
  const take = (
    name: string,
    pos: Position,
    raw: string,
    value: () => unknown,
    comments?: KEntry["comments"],
  ) => {
    try {
      const v = value();
      if (hasExpression(v)) throw new Unsupported("");
      values.set(name, { value: v, pos });
      entries.push({ key: name, value: fromData(v), comments, origin: pos });
    } catch (err) {
      if (!(err instanceof Unsupported)) throw err;
      const why =
        err.message ||
        "a variable's value is plain data in kiln: a Packer placeholder ({{ .HTTPIP }} …) or expression in it has no spelling there; write the option in the build file with ${{ http.ip }} …";
      const p = show(pos);
      report.push({ kind: "unsupported", what: `${basename(file)}: ${name}`, message: why, pos: p });
      entries.push({
        key: name,
        value: scalar(null),
        comments,
        origin: pos,
        raw,
        disabled: `${why} (${commentFile(pos.file)}:${pos.line}:${pos.column})`,
      });
    }
  };
  if (file.endsWith(".json")) {
    const f = new JsonFile(text, file);
    const root = f.parse();
    for (const p of properties(root)) {
      const v = plain(p.value);
      take(p.key, f.pos(p.keyNode.offset), f.raw(p.value), () =>
        toData(translator.value(literalExpr(v, f.pos(p.value.offset)))),
      );
    }
  } else {
    const body: Body = await readHclFile(text, file);
    for (const item of body.items) {
      if (item.kind !== "attribute") {
        const p = show(item.pos);
        report.push({
          kind: "unsupported",
          what: basename(file),
          message: `a block in a variables file`,
          pos: p,
        });
        continue;
      }
      take(item.name, item.pos, item.raw, () => toData(translator.value(item.expr)), item.comments);
    }
  }
  const root = kmap(entries);
  const header = [`Imported from Packer by kiln import: ${basename(file)}`];
  return { from: file, out, text: renderYaml(root, header, out, (e) => e.disabled ?? ""), report, values };
}

/** A JSON value as an expression tree (strings as text, so Go placeholders are found). */
function literalExpr(v: unknown, pos: Position): Expr {
  if (typeof v === "string") return { t: "template", parts: [{ t: "text", text: v }], pos };
  if (Array.isArray(v))
    return {
      t: "tuple",
      items: v.map((x) => ({ expr: literalExpr(x, pos), comments: { before: [] } })),
      pos,
    };
  if (v !== null && typeof v === "object")
    return {
      t: "object",
      entries: Object.entries(v).map(([k, x]) => ({
        key: { t: "literal", value: k, pos },
        value: literalExpr(x, pos),
        comments: { before: [] },
        pos,
      })),
      pos,
    };
  return { t: "literal", value: (v ?? null) as string | number | boolean | null, pos };
}
