/**
 * The command-line parser: flags as the command table declares them, written `--flag`,
 * `--flag=value` or `--flag value`, and Packer's single-dash spelling (`-var`, `-only=…`,
 * `-force`, `-on-error=ask` …) as an alias of the same flag. Boolean flags take `=true`/`=false`
 * as Go's flag package does (`-force=true`). Every mistake is a sentence that names the flag and
 * what to write, never the parser's own message.
 */
import { COMMON_FLAGS, type CommandSpec, type Flag } from "./commands.js";

export type Values = Record<string, string | boolean | string[] | undefined>;

export type Parsed =
  | { ok: true; values: Values; positionals: string[]; help: boolean }
  | { ok: false; error: string };

/** Packer flags that kiln spells differently: what to write instead. */
const PACKER_SPELLINGS: Record<string, string> = {
  color: "--no-color (kiln's colours are on unless --no-color or NO_COLOR=1)",
};

const BOOL_WORDS: Record<string, boolean> = { true: true, false: false, "1": true, "0": false };

/** Async only so that the "did you mean" code is loaded when there is a mistake, not at every start. */
export async function parseCommandArgs(spec: CommandSpec, argv: readonly string[]): Promise<Parsed> {
  const all = [...spec.flags, ...COMMON_FLAGS];
  const flags = new Map<string, Flag>(all.map((f) => [f.name, f]));
  // A one-letter alias (`-o` for `--output`) is the same flag, its value kept under the long name.
  for (const f of all) if (f.short && !flags.has(f.short)) flags.set(f.short, f);
  const values: Values = {};
  const positionals: string[] = [];
  let help = false;
  let rest = false;
  const fail = (error: string): Parsed => ({ ok: false, error });
  for (let i = 0; i < argv.length; i++) {
    const tok = argv[i] as string;
    if (rest || tok === "-" || !tok.startsWith("-")) {
      positionals.push(tok);
      continue;
    }
    if (tok === "--") {
      rest = true;
      continue;
    }
    if (tok === "-h") {
      help = true;
      continue;
    }
    const body = tok.startsWith("--") ? tok.slice(2) : tok.slice(1);
    const eq = body.indexOf("=");
    const written = eq < 0 ? body : body.slice(0, eq);
    const inline = eq < 0 ? undefined : body.slice(eq + 1);
    const flag = flags.get(written);
    const name = flag?.name ?? written;
    if (!flag) {
      const other = PACKER_SPELLINGS[name];
      if (other) return fail(`kiln ${spec.name} has no flag ${tok}; write ${other}`);
      const { suggestion } = await import("./suggest.js");
      const close = suggestion(
        name,
        [...flags.keys()].filter((n) => n !== "help"),
      );
      return fail(`unknown flag "${tok}"${close ? `; did you mean --${close}?` : ""}`);
    }
    if (flag.name === "help") {
      help = true;
      continue;
    }
    let value: string | boolean;
    if (flag.arg === undefined) {
      if (inline === undefined) value = true;
      else {
        const b = BOOL_WORDS[inline.toLowerCase()];
        if (b === undefined) return fail(`--${name} takes no value (write --${name}, or --${name}=false)`);
        value = b;
      }
    } else {
      const next = inline ?? argv[i + 1];
      if (inline === undefined) i++;
      if (next === undefined || next === "") return fail(`--${name} needs a value: --${name} <${flag.arg}>`);
      value = next;
    }
    if (flag.multiple) {
      const list = (values[name] as string[] | undefined) ?? [];
      list.push(String(value));
      values[name] = list;
    } else values[name] = value;
  }
  return { ok: true, values, positionals, help };
}
