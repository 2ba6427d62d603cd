/** Building the problems a component's `check` returns (see `CheckFn` in @kiln/core). */
import { type ConfigProblem, isKilnError, messageOf, parseDuration } from "@kiln/core";

/** A problem with an option (a name, or a path such as ["disks", 0, "disk_size"]). */
export function problem(
  option: string | ReadonlyArray<string | number> | undefined,
  message: string,
  hint?: string,
): ConfigProblem {
  return {
    ...(option !== undefined ? { option: typeof option === "string" ? [option] : option } : {}),
    message,
    ...(hint ? { hint } : {}),
  };
}

/** A warning about an option (validate prints it, the build goes on). */
export function warning(
  option: string | ReadonlyArray<string | number>,
  message: string,
  hint?: string,
): ConfigProblem {
  return { ...problem(option, message, hint), severity: "warning" };
}

/** The problem of a duration option that does not parse, if any. */
export function durationProblem(name: string, value: unknown): ConfigProblem[] {
  if (typeof value !== "string") return [];
  try {
    parseDuration(value);
    return [];
  } catch (e) {
    return [problem(name, `${name}: ${messageOf(e)}`, 'Write a duration such as "30s" or "5m".')];
  }
}

/** Run a check written as throwing code; its error (if any) becomes a problem with `option`. */
export function caught(option: string | undefined, f: () => void): ConfigProblem[] {
  try {
    f();
    return [];
  } catch (e) {
    return [
      problem(option, messageOf(e).replace(/^\[[a-z0-9-]+\] /, ""), isKilnError(e) ? e.hint : undefined),
    ];
  }
}
