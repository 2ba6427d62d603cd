/**
 * One import: read the templates, translate, check the result as `kiln validate` would, comment
 * out what validation shows kiln has no equivalent of (an option a plugin lacks, a function core
 * lacks) and translate again, until nothing more is found. Nothing is written here.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, dirname, join, relative, resolve } from "node:path";
import { type Kind as CoreKind, type Diagnostic, isKilnError, PluginResolver } from "@kiln/core";
import { type KMap, locate } from "./emit/model.js";
import { renderYaml } from "./emit/yaml.js";
import { gatherInputs } from "./files.js";
import type { Body, Item } from "./hcl/ast.js";
import { readHclFile } from "./hcl/read.js";
import { readHclJsonFile } from "./json/hcl-json.js";
import { readLegacyJsonFile } from "./json/legacy.js";
import { ImportError, type Position, type ReportEntry } from "./report.js";
import type { ComponentInfo, Components, Kind } from "./translate/context.js";
import { translateTemplate } from "./translate/template.js";
import { meansNoEquivalent, parsePath, type Resolver, validateText } from "./validate.js";
import { convertVarFile, type VarFileResult } from "./varfiles.js";

export interface ImportOptions {
  /** Template files or one folder. */
  paths: string[];
  /** The build file to write; default: beside the template (`<name>.kiln.yaml`, or `kiln.yaml` for a folder). */
  out?: string;
  /** Packer variables files (`.pkrvars.hcl` / `.pkrvars.json`): each becomes a YAML file beside the output. */
  varFiles?: string[];
  /** Where plugins are found (the CLI's search path and standard set); `fromDir` is the output's folder. */
  resolver: Resolver;
  cwd?: string;
  env?: Record<string, string | undefined>;
  /** The editor schema named in the output's `yaml-language-server` line (the CLI passes its own). */
  schemaUrl?: string;
  /**
   * Told the scratch folder (the variables files validation reads) when it is made, and
   * `undefined` once it is gone: a caller that ends the process on a signal removes it.
   */
  onScratch?: (dir: string | undefined) => void;
}

export interface ImportResult {
  /** Absolute path of the build file to write, and its text. */
  out: string;
  text: string;
  varFiles: VarFileResult[];
  report: ReportEntry[];
  /** Problems `kiln validate` reports for the result (none: it validates). */
  errors: Diagnostic[];
  warnings: Diagnostic[];
  secrets: string[];
  /** The Packer files read. */
  inputs: string[];
}

/** What kiln has here, from the plugins its resolver finds (schemas only: no plugin code runs). */
function componentsFor(resolver: PluginResolver, standard: Resolver["standard"]): Components {
  const cache = new Map<string, ComponentInfo | { missing: string }>();
  return {
    lookup(kind: Kind, type: string) {
      const key = `${kind}:${type}`;
      const hit = cache.get(key);
      if (hit) return hit;
      let out: ComponentInfo | { missing: string };
      try {
        const r = resolver.resolve(kind as CoreKind, type);
        out = {
          schema: r.schema as ComponentInfo["schema"],
          pkg: `${r.pkg.name}@^${r.pkg.version}`,
          pin: r.via === "convention",
        };
      } catch (err) {
        if (!isKilnError(err)) throw err;
        const std = standard?.[kind as CoreKind]?.[type];
        out = { missing: std ? `its package ${std} is not installed here` : "no kiln plugin provides it" };
      }
      cache.set(key, out);
      return out;
    },
  };
}

function defaultOut(paths: string[], dir: string, cwd: string): string {
  if (paths.length === 1) {
    const p = resolve(cwd, paths[0] as string);
    const name = basename(p);
    if (!/\.(hcl|json)$/.test(name)) return join(p, "kiln.yaml");
    return join(dir, `${name.replace(/(\.pkr)?\.(hcl|json)$/, "")}.kiln.yaml`);
  }
  return join(dir, "kiln.yaml");
}

/** An ImportError about `file`, naming it as the user does. */
function shown(err: unknown, file: string, display: (f: string) => string): unknown {
  if (!(err instanceof ImportError)) return err;
  const name = display(file);
  return new ImportError(
    err.message.split(file).join(name),
    err.pos ? { ...err.pos, file: err.pos.file === file ? name : err.pos.file } : undefined,
    err.extra,
  );
}

async function readTemplates(
  files: ReturnType<typeof gatherInputs>["files"],
  display: (f: string) => string,
): Promise<Body> {
  const items: Item[] = [];
  const trailing: string[] = [];
  for (const f of files) {
    let text: string;
    try {
      text = readFileSync(f.path, "utf8");
    } catch (err) {
      throw new ImportError(
        `${f.path}: cannot be read (${(err as NodeJS.ErrnoException).code ?? String(err)})`,
      );
    }
    let body: Body;
    try {
      body =
        f.kind === "hcl"
          ? await readHclFile(text, f.path)
          : f.kind === "hcl-json"
            ? await readHclJsonFile(text, f.path)
            : await readLegacyJsonFile(text, f.path);
    } catch (err) {
      throw shown(err, f.path, display);
    }
    items.push(...body.items);
    trailing.push(...body.trailing);
  }
  return { items, trailing };
}

/** A commented-out entry, as the validation found it: at a kiln path, with a reason. */
interface Forced {
  path: Array<string | number>;
  reason: string;
}

export async function importTemplates(opts: ImportOptions): Promise<ImportResult> {
  const cwd = opts.cwd ?? process.cwd();
  const inputs = gatherInputs(opts.paths, cwd);
  const out = resolve(cwd, opts.out ?? defaultOut(opts.paths, inputs.dir, cwd));
  const outDir = dirname(out);
  const displayFile = (f: string) => relative(cwd, f) || f;
  const body = await readTemplates(inputs.files, displayFile);
  const resolverOpts = { ...opts.resolver, fromDir: outDir };
  const components = componentsFor(new PluginResolver(resolverOpts), opts.resolver.standard);
  const commentFile = (f: string) => relative(outDir, f) || f;

  // *.auto.pkrvars.* set values as if given first: they become the variables' defaults.
  const autoValues = new Map<string, { value: unknown; pos: Position }>();
  for (const f of inputs.autoVarFiles) {
    const vf = await convertVarFile(f, outDir, displayFile, commentFile).catch((err) => {
      throw shown(err, f, displayFile);
    });
    for (const [k, v] of vf.values) autoValues.set(k, v);
  }
  const varFiles: VarFileResult[] = [];
  for (const f of opts.varFiles ?? []) {
    const abs = resolve(cwd, f);
    varFiles.push(
      await convertVarFile(abs, outDir, displayFile, commentFile).catch((err) => {
        throw shown(err, abs, displayFile);
      }),
    );
  }

  const header = [
    ...(opts.schemaUrl ? [`yaml-language-server: $schema=${opts.schemaUrl}`] : []),
    `Imported from Packer by kiln import: ${inputs.files.map((f) => relative(outDir, f.path) || basename(f.path)).join(", ")}`,
  ];

  const forced: Forced[][] = [];
  const forcedLocals = new Map<string, string>();
  const forcedReport: ReportEntry[] = [];
  let result: {
    text: string;
    report: ReportEntry[];
    errors: Diagnostic[];
    warnings: Diagnostic[];
    secrets: string[];
  };
  const scratch = mkdtempSync(join(tmpdir(), "kiln-import-"));
  opts.onScratch?.(scratch);
  try {
    const varPaths = varFiles.map((vf, i) => {
      const p = join(scratch, `${i}-${basename(vf.out)}`);
      writeFileSync(p, vf.text);
      return p;
    });
    for (let round = 0; ; round++) {
      // A turn of the event loop between rounds: a signal is handled while an import runs.
      await new Promise((r) => setImmediate(r));
      const { root, ctx } = translateTemplate(body, {
        components,
        templateDir: inputs.dir,
        outDir,
        displayFile,
        commentFile,
        autoValues,
        forcedLocals,
        legacy: inputs.files.some((f) => f.kind === "legacy-json"),
      });
      for (const f of forced) for (const x of f) applyForced(root, x);
      const text = renderYaml(root, header, out, (e) => e.disabled ?? "");
      const v = validateText(text, out, varPaths, opts.resolver, opts.env ?? process.env);
      const next: Forced[] = [];
      let more = false;
      for (const d of v.errors) {
        if (!meansNoEquivalent(d) || !d.path) continue;
        const path = parsePath(d.path);
        const reason = noEquivalentReason(d);
        if (path[0] === "locals" && typeof path[1] === "string") {
          if (!forcedLocals.has(path[1])) {
            forcedLocals.set(path[1], reason);
            more = true;
          }
          continue;
        }
        const found = locate(root, path);
        // Never a whole source, build or component: those are kept, and the error shown.
        if (!found || found.depth < 3 || found.holder.disabled) continue;
        const pos = found.holder.origin;
        const shown = pos ? { ...pos, file: displayFile(pos.file) } : undefined;
        next.push({
          path: path.slice(0, found.depth),
          reason: pos ? `${reason} (${commentFile(pos.file)}:${pos.line}:${pos.column})` : reason,
        });
        forcedReport.push({
          kind: "unsupported",
          what: d.path,
          message: reason,
          ...(shown ? { pos: shown } : {}),
        });
        more = true;
      }
      if (!more || round > 20) {
        result = { text, report: ctx.report, errors: v.errors, warnings: v.warnings, secrets: v.secrets };
        break;
      }
      forced.push(next);
    }
  } finally {
    rmSync(scratch, { recursive: true, force: true });
    opts.onScratch?.(undefined);
  }
  return {
    out,
    text: result.text,
    varFiles,
    report: [...varFiles.flatMap((v) => v.report), ...result.report, ...forcedReport],
    errors: result.errors,
    warnings: result.warnings,
    secrets: result.secrets,
    inputs: inputs.files.map((f) => f.path),
  };
}

function noEquivalentReason(d: Diagnostic): string {
  const hint = d.hint && !/^valid keys/i.test(d.hint) ? ` (${d.hint.replace(/\.$/, "")})` : "";
  return `${d.message}${hint}`;
}

/** Comment out the entry at `x.path` (in the model as it is after the earlier rounds). */
function applyForced(root: KMap, x: Forced): void {
  const found = locate(root, x.path);
  if (!found || found.depth !== x.path.length) return;
  found.holder.disabled = x.reason;
}
