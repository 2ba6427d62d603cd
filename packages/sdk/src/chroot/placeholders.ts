/**
 * The chroot options' placeholders, in kiln's syntax: where Packer writes `{{.Device}}`,
 * `{{.MountPath}}` or `{{.Command}}`, a kiln build file writes `${{ build.Device }}`,
 * `${{ build.MountPath }}`, `${{ build.Command }}`. The loader keeps such a string for build time
 * (a `Deferred` marker); `renderWith` evaluates it through `ctx.render` with the fields set in
 * `build.*` for that one evaluation. A plain string is used as it is — except that Packer's own
 * `{{ .Field }}` in it is an error with the kiln spelling as the fix, since leaving it would mount
 * at, or run, the literal text.
 */
import { Deferred, isDeferred, KilnError, type RunContext } from "@kiln/core";

/** Packer's Go-template field syntax, `{{.Device}}` or `{{ .Device }}` (not inside `${{ … }}`). */
const PACKER_FIELD = /(?<!\$)\{\{-?\s*\.([A-Za-z_][A-Za-z0-9_]*)\s*-?\}\}/;

/** The text of an option value as written (a Deferred's source, a string), or undefined. */
function sourceOf(value: unknown): string | undefined {
  if (typeof value === "string") return value;
  if (isDeferred(value)) return value.source;
  return undefined;
}

/**
 * A problem with `value` (option `name`): Packer's `{{ .Field }}` syntax, or a field other than
 * `fields`. Undefined when it is fine. For a builder's prepare.
 */
export function placeholderProblem(
  name: string,
  value: unknown,
  fields: readonly string[],
): string | undefined {
  const text = sourceOf(value);
  if (text === undefined) return undefined;
  const m = PACKER_FIELD.exec(text);
  if (m) {
    const field = m[1] as string;
    const known = fields.includes(field);
    return `${name}: ${m[0]} is Packer's template syntax; in kiln write \${{ build.${field} }}${
      known
        ? ""
        : ` (and only ${fields.map((f) => `build.${f}`).join(", ")} ${fields.length === 1 ? "is" : "are"} known here)`
    }`;
  }
  return undefined;
}

/** The error for {@link placeholderProblem}'s message. */
export function placeholderError(message: string): KilnError {
  return new KilnError("KILN_CHROOT_CONFIG", message, {
    hint: "kiln expressions are ${{ … }}: the fields of these options are build.* values.",
  });
}

/**
 * Render `value` (a string or a build-time marker; `fallback`, a template in kiln syntax, when it is
 * undefined) with `fields` as `build.*` for this evaluation only. The result must be a string.
 */
export function renderWith(
  ctx: Pick<RunContext, "render" | "buildVars">,
  name: string,
  value: unknown,
  fields: Record<string, string>,
  fallback?: string,
): string {
  const v = value === undefined && fallback !== undefined ? Deferred.parse(fallback) : value;
  const problem = placeholderProblem(name, v, Object.keys(fields));
  if (problem) throw placeholderError(problem);
  if (typeof v === "string") return v;
  if (!isDeferred(v)) throw new KilnError("KILN_CHROOT_CONFIG", `${name} must be a string`);
  const saved = new Map<string, unknown>();
  for (const [k, x] of Object.entries(fields)) {
    saved.set(k, Object.hasOwn(ctx.buildVars, k) ? ctx.buildVars[k] : undefined);
    ctx.buildVars[k] = x;
  }
  let out: unknown;
  try {
    out = ctx.render(v);
  } catch (err) {
    throw new KilnError(
      "KILN_CHROOT_CONFIG",
      `${name}: ${err instanceof Error ? err.message : String(err)}`,
      {
        cause: err,
        hint: `Here ${Object.keys(fields)
          .map((f) => `build.${f}`)
          .join(", ")} can be used.`,
      },
    );
  } finally {
    for (const [k, x] of saved) {
      if (x === undefined) delete ctx.buildVars[k];
      else ctx.buildVars[k] = x as string;
    }
  }
  if (typeof out !== "string") throw new KilnError("KILN_CHROOT_CONFIG", `${name} must give a string`);
  return out;
}

/** A command wrapper from `command_wrapper`: the command as it is when the option is unset. */
export function commandWrapper(
  ctx: Pick<RunContext, "render" | "buildVars">,
  value: unknown,
): (command: string) => string {
  if (value === undefined || value === "") return (command) => command;
  // Checked once now, so that a mistake shows before anything runs.
  const problem = placeholderProblem("command_wrapper", value, ["Command"]);
  if (problem) throw placeholderError(problem);
  if (
    typeof value === "string" ||
    !/\bbuild\.Command\b|build\[["']Command["']\]/.test(sourceOf(value) ?? "")
  ) {
    // A plain string cannot hold the command: the loader keeps ${{ build.Command }} as a marker.
    throw new KilnError(
      "KILN_CHROOT_CONFIG",
      `command_wrapper "${sourceOf(value) ?? String(value)}" does not use \${{ build.Command }}, so every command would be replaced by it`,
      { hint: "Write it around the command, e.g. sudo ${{ build.Command }}." },
    );
  }
  return (command) => renderWith(ctx, "command_wrapper", value, { Command: command });
}
