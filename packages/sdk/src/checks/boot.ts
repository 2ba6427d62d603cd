/** The boot command's syntax as problems, each at its entry and offset (for `check`). */
import { type ConfigProblem, isDeferred } from "@kiln/core";
import { BootCommandError, parseBootCommand } from "../boot/parse.js";
import type { BootCommandOptions } from "../steps/boot-command.js";

/** Every entry of boot_command (or boot_steps) that does not parse, as a problem at its place. */
export function bootCommandProblems(o: BootCommandOptions): ConfigProblem[] {
  const out: ConfigProblem[] = [];
  const entries: Array<{ text: unknown; option: Array<string | number> }> = o.boot_steps?.length
    ? o.boot_steps.map((s, i) => ({ text: s[0], option: ["boot_steps", i, 0] }))
    : (o.boot_command ?? []).map((c, i) => ({ text: c, option: ["boot_command", i] }));
  for (const { text, option } of entries) {
    // A string with build-time values is the loader's marker until the step renders it: its text is checked.
    const value = isDeferred(text) ? String(text) : text;
    if (typeof value !== "string") continue;
    try {
      parseBootCommand([value]);
    } catch (e) {
      if (!(e instanceof BootCommandError)) throw e;
      out.push({
        option,
        offset: e.offset,
        message: e.message.replace(
          /^boot_command at offset \d+: /,
          `${option.join(".").replace(/\.(\d+)/g, "[$1]")} at offset ${e.offset}: `,
        ),
        ...(e.hint ? { hint: e.hint } : {}),
      });
    }
  }
  return out;
}
