/** What an import tells its user: positions in the Packer files, the report's entries, errors. */

/** A place in a Packer template (1-based line and column). */
export interface Position {
  file: string;
  line: number;
  column: number;
}

/**
 * One entry of the report.
 * - `unsupported`: no kiln equivalent; kept in the output as a commented block.
 * - `changed`: translated, but kiln behaves differently or needs a look (the message says how).
 * - `invalid`: the output does not validate here (from `kiln validate`, at the output's position).
 */
export interface ReportEntry {
  kind: "unsupported" | "changed" | "invalid";
  /** Where it is in the Packer files (for `invalid`: in the output). */
  pos?: Position;
  /** What it is: `source "virtualbox-iso" "vm"`, `provisioner "powershell"`, `sources.vm.winrm_password`. */
  what: string;
  message: string;
}

export class ImportError extends Error {
  override name = "ImportError";
  readonly code = "KILN_IMPORT";
  constructor(
    message: string,
    readonly pos?: Position,
    readonly extra: { hint?: string } = {},
  ) {
    super(message);
  }
}

export function formatPosition(pos: Position | undefined): string {
  return pos ? `${pos.file}:${pos.line}:${pos.column}` : "";
}

/** The report as text: one line per entry, `file:line:col: kind: what: message`. */
export function formatReport(entries: readonly ReportEntry[]): string {
  return entries
    .map((e) => {
      const at = e.pos ? `${formatPosition(e.pos)}: ` : "";
      return `${at}${e.kind}: ${e.what}: ${e.message}`;
    })
    .join("\n");
}
