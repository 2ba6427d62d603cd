/** Locals: evaluated in dependency order, cycles reported once. */
import { type Diagnostic, diagnostic } from "../errors.js";
import { parseTemplate, references, type Scope, type Template } from "../expr/index.js";
import { setOwn } from "../util/own.js";
import { evaluateTree, parseAt } from "./expand.js";
import { type PathSegment, positionOf, type SourceFile } from "./parse.js";

/**
 * Evaluate every local into `locals`, in dependency order. A local held back by `hold` (it uses
 * a value that is missing) is added to `missingLocals` so what uses it is held back too. A local
 * computed from a sensitive value is added to `sensitiveLocals` (before the locals that use it
 * are evaluated, so the mark carries on), and its values to `secrets`.
 */
export function evaluateLocals(
  localsRaw: Record<string, unknown>,
  locals: Record<string, unknown>,
  scope: () => Scope,
  src: SourceFile,
  diags: Diagnostic[],
  hold: (t: Template) => boolean,
  missingLocals: Set<string>,
  sensitiveLocals: Set<string>,
  secrets: unknown[],
): void {
  const { order, cyclic } = orderLocals(localsRaw, src, diags);
  for (const name of order) {
    if (cyclic.has(name)) {
      // Already reported as a cycle: keep the text as written rather than report it again.
      setOwn(locals, name, localsRaw[name]);
      continue;
    }
    const r = evaluateTree(localsRaw[name], ["locals", name], scope(), src, diags, false, hold);
    if (r.deferred.length > 0 && hasMissing(localsRaw[name], hold)) missingLocals.add(name);
    if (r.sensitive.length > 0) {
      sensitiveLocals.add(name);
      secrets.push(...r.sensitive);
    }
    setOwn(locals, name, r.value);
  }
}

/** True when some expression in `value` is held back by `hold`. */
function hasMissing(value: unknown, hold: (t: Template) => boolean): boolean {
  if (typeof value === "string") {
    if (!value.includes("${{")) return false;
    try {
      return hold(parseTemplate(value));
    } catch {
      return false;
    }
  }
  if (Array.isArray(value)) return value.some((v) => hasMissing(v, hold));
  if (value && typeof value === "object") return Object.values(value).some((v) => hasMissing(v, hold));
  return false;
}

/** Topological order of locals; cycles and unknown locals are reported. */
function orderLocals(
  localsRaw: Record<string, unknown>,
  src: SourceFile,
  diags: Diagnostic[],
): { order: string[]; cyclic: Set<string> } {
  const deps = new Map<string, Set<string>>();
  for (const [name, value] of Object.entries(localsRaw)) {
    const set = new Set<string>();
    const scan = (v: unknown, rel: PathSegment[]) => {
      if (typeof v === "string" && v.includes("${{")) {
        const t = parseAt(v, src, ["locals", name, ...rel], []);
        if (!t) return;
        for (const r of references(t))
          if (r.root === "local" && r.member && Object.hasOwn(localsRaw, r.member)) set.add(r.member);
      } else if (Array.isArray(v)) {
        for (const [i, x] of v.entries()) scan(x, [...rel, i]);
      } else if (v && typeof v === "object") for (const [k, x] of Object.entries(v)) scan(x, [...rel, k]);
    };
    scan(value, []);
    deps.set(name, set);
  }
  const order: string[] = [];
  const state = new Map<string, "visiting" | "done">();
  const reported = new Set<string>();
  const cyclic = new Set<string>();
  const report = (name: string, stack: string[]) => {
    const cycle = [...stack.slice(stack.indexOf(name)), name];
    for (const c of cycle) cyclic.add(c);
    const key = [...cycle].sort().join(",");
    if (reported.has(key)) return;
    reported.add(key);
    diags.push(
      diagnostic(
        "KILN_LOCAL_CYCLE",
        `locals refer to each other in a cycle: ${cycle.map((c) => `local.${c}`).join(" → ")}`,
        {
          path: `locals.${name}`,
          pos: positionOf(src, ["locals", name], "key"),
          hint: "Break the cycle: compute one of them from variables only.",
        },
      ),
    );
  };
  // Depth-first, with an explicit stack: a chain of thousands of locals must not overflow.
  for (const root of deps.keys()) {
    if (state.has(root)) continue;
    const path: string[] = [root];
    const iters: Array<Iterator<string>> = [(deps.get(root) ?? new Set<string>()).values()];
    state.set(root, "visiting");
    while (path.length > 0) {
      const next = (iters[iters.length - 1] as Iterator<string>).next();
      if (next.done) {
        const name = path.pop() as string;
        iters.pop();
        state.set(name, "done");
        order.push(name);
        continue;
      }
      const d = next.value;
      const s = state.get(d);
      if (s === "done") continue;
      if (s === "visiting") {
        report(d, path);
        continue;
      }
      state.set(d, "visiting");
      path.push(d);
      iters.push((deps.get(d) ?? new Set<string>()).values());
    }
  }
  return { order, cyclic };
}
