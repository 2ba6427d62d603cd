/**
 * Data sources (`data:` blocks): evaluated once per `kiln build`, before any run, each after the
 * data sources its options read (`${{ data.other.x }}`); what one returns is `data.<name>.*` for
 * the sources, provisioners, post-processors and data sources after it. A failure stops the
 * build before anything is made, with the data source's position in the file.
 */
import { type Diagnostic, isKilnError, KilnError } from "../errors.js";
import { isDeferred, references } from "../expr/index.js";
import type { LoadedBuildFile, LoadedComponent } from "../load/index.js";
import { formatPath, positionOf } from "../load/parse.js";
import { createRuntime } from "../plugins/runtime.js";
import { applyDefaults } from "../schema/defaults.js";
import { messageOf } from "../util/abort.js";
import { createRunContext } from "./context.js";
import type { EventBus } from "./events.js";
import { withTimeout } from "./runner.js";
import type { DataSourceRuntime } from "./types.js";

export type DataValues = Record<string, Record<string, unknown>>;

export interface DataSourceOptions {
  loaded: LoadedBuildFile;
  bus: EventBus;
  signal: AbortSignal;
  runUuid: string;
  env?: Record<string, string | undefined>;
  cwd?: string;
  graceMs?: number;
}

/** The roots and data sources an option tree's markers read. */
function readsOf(v: unknown, out = { roots: new Set<string>(), data: new Set<string>() }) {
  if (isDeferred(v)) {
    for (const r of references(v.template)) {
      out.roots.add(r.root);
      if (r.root === "data" && r.member !== undefined) out.data.add(r.member);
    }
  } else if (Array.isArray(v)) for (const x of v) readsOf(x, out);
  else if (v && typeof v === "object") for (const x of Object.values(v)) readsOf(x, out);
  return out;
}

function failure(
  loaded: LoadedBuildFile,
  c: LoadedComponent,
  message: string,
  hint?: string,
  cause?: unknown,
): KilnError {
  const d: Diagnostic = {
    code: "KILN_DATA_SOURCE",
    severity: "error",
    message,
    path: formatPath(c.path),
    pos: positionOf(loaded.src, c.path),
    ...(hint ? { hint } : {}),
  };
  return new KilnError("KILN_DATA_SOURCE", message, {
    diagnostics: [d],
    ...(hint ? { hint } : {}),
    ...(cause ? { cause } : {}),
  });
}

/** Data sources in an order where each comes after those it reads; a cycle is an error. */
export function dataOrder(loaded: LoadedBuildFile): string[] {
  const order: string[] = [];
  const state = new Map<string, "visiting" | "done">();
  const visit = (name: string, chain: string[]) => {
    if (state.get(name) === "done") return;
    const c = loaded.data[name] as LoadedComponent;
    if (state.get(name) === "visiting")
      throw failure(
        loaded,
        c,
        `data sources read each other in a cycle: ${[...chain, name].map((n) => `data.${n}`).join(" → ")}`,
        "A data source can only read data sources that do not read it back.",
      );
    state.set(name, "visiting");
    for (const dep of readsOf(c.options).data) if (loaded.data[dep]) visit(dep, [...chain, name]);
    state.set(name, "done");
    order.push(name);
  };
  for (const name of Object.keys(loaded.data)) visit(name, []);
  return order;
}

/** Run every data source of the file; their outputs by name. */
export async function evaluateDataSources(o: DataSourceOptions): Promise<DataValues> {
  const { loaded, bus } = o;
  const values: DataValues = {};
  for (const name of dataOrder(loaded)) {
    const c = loaded.data[name] as LoadedComponent;
    const label = `data.${name}`;
    const early = [...readsOf(c.options).roots].filter(
      (r) => r === "build" || r === "http" || r === "source",
    );
    if (early.length)
      throw failure(
        loaded,
        c,
        `${label} (${c.type}) reads ${early.map((r) => `${r}.*`).join(", ")}, which exist only while a build runs`,
        "Data sources are read before any build starts: give them variables, locals, env or other data sources.",
      );
    if (!c.plugin) throw new KilnError("KILN_INTERNAL", `data source ${name} (${c.type}) is not resolved`);
    const plugin = c.plugin;
    const ui = bus.ui(undefined, label);
    const { ctx, dispose } = createRunContext({
      run: { name: label, build: "", source: name, type: c.type, runUuid: o.runUuid },
      ui,
      signal: o.signal,
      baseDir: loaded.dir,
      secret: (v) => bus.secrets.add(v),
      redact: (t) => bus.secrets.redact(t),
      variables: Object.fromEntries(Object.entries(loaded.variables).map(([k, v]) => [k, v.value])),
      locals: loaded.locals,
      env: o.env ?? process.env,
      ...(o.cwd ? { cwd: o.cwd } : {}),
      data: values,
    });
    try {
      ui.say(`Reading data source ${name} (${c.type})...`);
      const runtime = await withTimeout(
        `loading ${plugin.pkg.name}`,
        o.signal,
        undefined,
        () => createRuntime<DataSourceRuntime>(plugin),
        o.graceMs,
      );
      const { type: _t, ...own } = ctx.render(c.options);
      const options = applyDefaults(plugin.schema, own);
      const out = await withTimeout(
        `data source ${name}`,
        o.signal,
        undefined,
        async (signal) => {
          await runtime.prepare?.(options);
          return runtime.execute({ name, options, ui, signal, baseDir: loaded.dir, secret: ctx.secret });
        },
        o.graceMs,
      );
      if (!out || typeof out !== "object" || Array.isArray(out))
        throw new KilnError(
          "KILN_DATA_SOURCE",
          `${plugin.pkg.name}'s ${c.type} returned no object of values`,
        );
      values[name] = out;
    } catch (e) {
      if (o.signal.aborted) throw e;
      const hint = isKilnError(e) ? e.hint : undefined;
      throw failure(loaded, c, `${label} (${c.type}): ${messageOf(e)}`, hint, e);
    } finally {
      await dispose();
    }
  }
  return values;
}
