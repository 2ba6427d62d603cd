/**
 * What every part of a translation shares: the names the template defines, the expression
 * translator (with the references' kiln spellings), the components kiln has, and the report.
 */
import { relative } from "node:path";
import type { KEntry, KItem, KNode } from "../emit/model.js";
import { scalar } from "../emit/model.js";
import type { Body, Expr } from "../hcl/ast.js";
import type { Position, ReportEntry } from "../report.js";
import { ExprTranslator, Unsupported } from "./expr.js";
import { quote } from "./gotemplate.js";
import type { Named } from "./names.js";

export type Kind = "builder" | "provisioner" | "post-processor" | "datasource";

/** A JSON Schema fragment (as plugins ship them). */
export interface SchemaLike {
  type?: string | string[];
  properties?: Record<string, SchemaLike>;
  items?: SchemaLike;
  anyOf?: SchemaLike[];
  oneOf?: SchemaLike[];
}

export interface ComponentInfo {
  schema: SchemaLike;
  /** The package, and whether the file must pin it in `plugins:` (found only by the naming convention). */
  pkg: string;
  pin: boolean;
}

/** Which components kiln has here: the schema of one, or why there is none. */
export interface Components {
  lookup(kind: Kind, type: string): ComponentInfo | { missing: string };
}

export interface ContextOptions {
  components: Components;
  /** The folder of the Packer template (path.root there). */
  templateDir: string;
  /** The folder the kiln file is written to (path.root in kiln). */
  outDir: string;
  /** How a Packer file is named in the report. */
  displayFile: (file: string) => string;
  /** How a Packer file is named in the output's comments (relative to the output). */
  commentFile?: (file: string) => string;
  /** Values from `*.auto.pkrvars.*`: Packer reads them first, so they are the defaults. */
  autoValues?: ReadonlyMap<string, { value: unknown; pos: Position }>;
  /** Locals validation found kiln cannot evaluate (a function it lacks), and why. */
  forcedLocals?: ReadonlyMap<string, string>;
  /**
   * A legacy JSON template: its values are strings that Packer decodes weakly, so a number or
   * bool option set to "" (an unset variable) is that option's zero value: unset.
   */
  legacy?: boolean;
}

export class Context {
  readonly report: ReportEntry[] = [];
  readonly sources = new Map<string, Named>();
  readonly data = new Map<string, Named>();
  readonly variables = new Map<string, { sensitive: boolean; type?: string }>();
  /** Locals not imported, and why. */
  readonly droppedLocals = new Map<string, string>();
  readonly localNames = new Set<string>();
  /** Packages to pin in `plugins:` (type → package). */
  readonly pins = new Map<string, string>();
  readonly translator: ExprTranslator;
  /** kiln expression for `{{ .Name }}` in the source being translated. */
  vmName: string | undefined;
  /** Variables whose Packer default is computed: the local that computes it, by variable. */
  readonly computedDefaults = new Map<string, { local: string; expr: string; pos: Position }>();
  private plain = 0;
  /** Variables standing for values Packer read from a secret store, by name. */
  readonly externals = new Map<string, { fn: string; args: string[]; sensitive: boolean; pos: Position }>();

  constructor(readonly opts: ContextOptions) {
    for (const [k, v] of opts.forcedLocals ?? []) this.droppedLocals.set(k, v);
    this.translator = new ExprTranslator({
      reference: (root, attrs, pos) => this.reference(root, attrs, pos),
      field: (name) => this.field(name),
      note: (message, pos) => this.note("changed", "template", message, pos),
      external: (fn, args, pos) => this.external(fn, args, pos),
    });
  }

  note(kind: ReportEntry["kind"], what: string, message: string, pos?: Position): void {
    const p = pos && pos.line > 0 ? { ...pos, file: this.opts.displayFile(pos.file) } : undefined;
    if (
      this.report.some((r) => r.kind === kind && r.what === what && r.message === message && same(r.pos, p))
    )
      return;
    this.report.push({ kind, what, message, ...(p ? { pos: p } : {}) });
  }

  /** `file:line:col` of a position as the report shows it. */
  where(pos: Position): string {
    return `${(this.opts.commentFile ?? this.opts.displayFile)(pos.file)}:${pos.line}:${pos.column}`;
  }

  /** A disabled entry/item for `what` (written as its Packer text), reported as unsupported. */
  drop<T extends KEntry | KItem>(base: T, what: string, reason: string, pos: Position, raw: string): T {
    this.note("unsupported", what, reason, pos);
    return { ...base, disabled: `${reason} (${this.where(pos)})`, raw, value: scalar(null) };
  }

  /** Translate with `var.x` meaning the variable itself (in its validation), not a computed default. */
  plainVars<T>(fn: () => T): T {
    this.plain++;
    try {
      return fn();
    } finally {
      this.plain--;
    }
  }

  private external(fn: string, args: string[], pos: Position): string {
    const base = `${fn === "aws_secretsmanager_raw" ? "aws_secretsmanager" : fn}_${args.join("_")}`
      .replace(/[^A-Za-z0-9_]+/g, "_")
      .replace(/_+/g, "_")
      .replace(/^_|_$/g, "");
    let name = base;
    for (
      let i = 2;
      this.variables.has(name) ||
      (this.externals.has(name) && this.externals.get(name)?.args.join("\0") !== args.join("\0"));
      i++
    )
      name = `${base}_${i}`;
    if (!this.externals.has(name)) {
      this.externals.set(name, { fn, args, sensitive: fn !== "consul_key", pos });
      this.note(
        "changed",
        `${fn}(${args.map((a) => JSON.stringify(a)).join(", ")})`,
        `kiln reads no secret store: the value is the ${fn !== "consul_key" ? "sensitive " : ""}variable ${name}; set it with --var, a variables file or KILN_VAR_${name}`,
        pos,
      );
    }
    return `var.${name}`;
  }

  private field(name: string): string | undefined {
    const fields: Record<string, string> = {
      HTTPIP: "http.ip",
      HTTPPort: "http.port",
      HTTPAddr: "http.addr",
      PackerHTTPIP: "http.ip",
      PackerHTTPPort: "http.port",
      PackerHTTPAddr: "http.addr",
      SSHPublicKey: "build.SSHPublicKey",
      SSHPrivateKey: "build.SSHPrivateKey",
      Host: "build.Host",
      Port: "build.Port",
      User: "build.User",
      Password: "build.Password",
      ID: "build.ID",
      PackerRunUUID: "build.PackerRunUUID",
    };
    if (name === "Name") return this.vmName ?? 'format("packer-%s", source.name)';
    return Object.hasOwn(fields, name) ? fields[name] : undefined;
  }

  private reference(
    root: string,
    attrs: string[],
    pos: Position,
  ): { text: string; used: number } | undefined {
    switch (root) {
      case "var": {
        const name = attrs[0];
        if (name === undefined) return undefined;
        const computed = this.plain === 0 ? this.computedDefaults.get(name) : undefined;
        if (computed) return { text: `local.${computed.local}`, used: 1 };
        return { text: `var.${name}`, used: 1 };
      }
      case "local": {
        const name = attrs[0];
        if (name === undefined) return undefined;
        const why = this.droppedLocals.get(name);
        if (why !== undefined)
          throw new Unsupported(`uses local.${name}, which is not imported (${rootCause(why)})`, pos);
        return { text: `local.${name}`, used: 1 };
      }
      case "path": {
        if (attrs[0] === "root") {
          const rel = relative(this.opts.outDir, this.opts.templateDir).split("\\").join("/");
          return { text: rel === "" ? "path.root" : `abspath(${quote(rel)})`, used: 1 };
        }
        return undefined;
      }
      case "packer":
        if (attrs[0] === "version") return { text: "kiln.version", used: 1 };
        throw new Unsupported(`packer.${attrs[0] ?? ""} has no kiln equivalent`, pos);
      case "data": {
        const [type, name] = attrs;
        if (type === undefined || name === undefined) return undefined;
        const d = this.data.get(`data.${type}.${name}`);
        if (!d) return undefined;
        if (d.dropped)
          throw new Unsupported(`uses data.${type}.${name}, which is not imported (${d.dropped})`, pos);
        return { text: `data.${d.kiln}`, used: 2 };
      }
      case "source":
      case "build":
        return undefined;
      case "count":
      case "self":
      case "each":
        throw new Unsupported(`${root}.${attrs[0] ?? ""} is not something kiln knows here`, pos);
      default:
        return undefined;
    }
  }

  /** An expression as a value; what kiln lacks throws Unsupported. */
  value(e: Expr): KNode {
    return this.translator.value(e);
  }

  expr(e: Expr): string {
    return this.translator.expr(e);
  }
}

/** The first reason of a chain "uses local.a, which is not imported (uses local.b, … (reason))". */
function rootCause(why: string): string {
  let r = why;
  for (
    let m = /^uses [^ ]+, which is not imported \((.*)\)$/.exec(r);
    m;
    m = /^uses [^ ]+, which is not imported \((.*)\)$/.exec(r)
  )
    r = m[1] as string;
  return r;
}

function same(a: Position | undefined, b: Position | undefined): boolean {
  return a?.file === b?.file && a?.line === b?.line && a?.column === b?.column;
}

/** The attributes of a body as plain `name → Expr` (the last of a name wins). */
export function attrs(body: Body): Map<string, Expr> {
  const out = new Map<string, Expr>();
  for (const i of body.items) if (i.kind === "attribute") out.set(i.name, i.expr);
  return out;
}

/** The schema of an option in a component's schema (through anyOf/oneOf). */
export function propertySchema(schema: SchemaLike | undefined, name: string): SchemaLike | undefined {
  if (!schema) return undefined;
  const direct = schema.properties?.[name];
  if (direct) return direct;
  for (const alt of [...(schema.anyOf ?? []), ...(schema.oneOf ?? [])]) {
    const p = propertySchema(alt, name);
    if (p) return p;
  }
  return undefined;
}

/** Whether the schema wants an object (a single block) rather than a list of blocks. */
export function wantsObject(schema: SchemaLike | undefined): boolean {
  if (!schema) return false;
  const types = [
    schema.type,
    ...(schema.anyOf ?? []).map((s) => s.type),
    ...(schema.oneOf ?? []).map((s) => s.type),
  ]
    .flat()
    .filter((t): t is string => typeof t === "string");
  return types.includes("object") && !types.includes("array");
}

/** The schema of the items of a list option (or the option's own when it is an object). */
export function blockSchema(schema: SchemaLike | undefined): SchemaLike | undefined {
  if (!schema) return undefined;
  if (schema.items) return schema.items;
  for (const alt of [...(schema.anyOf ?? []), ...(schema.oneOf ?? [])]) {
    if (alt.items) return alt.items;
    if (alt.properties) return alt;
  }
  return schema.properties ? schema : undefined;
}
