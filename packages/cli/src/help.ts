/** The help texts, made from the command table: one line per command, one line per flag. */
import { COMMANDS, COMMON_FLAGS, type CommandSpec, type Flag } from "./commands.js";

const flagText = (f: Flag) =>
  `${f.name === "help" ? "-h, " : f.short ? `-${f.short}, ` : ""}--${f.name}${f.arg ? ` <${f.arg}>` : ""}`;

function table(rows: Array<[string, string]>, indent = "  "): string[] {
  const width = Math.max(0, ...rows.map(([a]) => a.length));
  return rows.map(([a, b]) => (b ? `${indent}${a.padEnd(width)}  ${b}` : `${indent}${a}`).trimEnd());
}

export function globalHelp(): string {
  return [
    "kiln — build machine images from YAML build files",
    "",
    "Usage: kiln <command> [flags] [arguments]",
    "",
    "Commands:",
    ...table([
      ...COMMANDS.map((c): [string, string] => [c.name, c.summary]),
      ["help <command>", "the flags and examples of a command"],
    ]),
    "",
    "Environment:",
    ...table([
      ["KILN_VAR_<name>, PKR_VAR_<name>", "a variable's value (KILN_VAR_ wins over PKR_VAR_)"],
      ["KILN_LOG=1", "write a debug log to stderr, or to the file KILN_LOG_PATH names"],
      ["HTTP_PROXY, HTTPS_PROXY, NO_PROXY", "the proxy downloads go through"],
      ["NO_COLOR=1", "no colours"],
      ["CI=true", "no plugin installs beyond kiln.lock, no questions asked"],
    ]),
    "",
    "Exit codes: 0 ok, 1 build failed, 2 invalid input or usage, 3 fmt --check found unformatted files.",
    "Packer's single-dash flags work too: kiln build -var a=b -only=x -force image.kiln.yaml",
    "Run `kiln help <command>` (or `kiln <command> --help`) for a command's flags.",
    "",
  ].join("\n");
}

export const usageLine = (c: CommandSpec) =>
  `kiln ${c.name}${c.flags.length ? " [flags]" : ""}${c.operands ? ` ${c.operands}` : ""}`;

export function commandHelp(c: CommandSpec): string {
  const flags = [...c.flags, ...COMMON_FLAGS];
  return [
    `kiln ${c.name} — ${c.summary}`,
    "",
    `Usage: ${usageLine(c)}`,
    "",
    "Flags:",
    ...table(flags.map((f) => [flagText(f), f.help])),
    "",
    c.examples.length === 1 ? "Example:" : "Examples:",
    ...c.examples.flatMap(([line, what]) => (what ? [`  # ${what}`, `  ${line}`] : [`  ${line}`])),
    "",
  ].join("\n");
}
