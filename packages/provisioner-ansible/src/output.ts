/**
 * Reads ansible-playbook's output as it streams (the default callback's format) to say what
 * failed: the task (`TASK [name] ***`), the host and ansible's message (`fatal: [host]: FAILED!
 * => {"msg": …}`, `failed: [host] (item=…) => …`, `fatal: [host]: UNREACHABLE! => …`), or an
 * `ERROR! …` line (a playbook that does not parse or is not there).
 */

export interface PlaybookFailure {
  task: string | undefined;
  host: string;
  kind: "failed" | "unreachable";
  message: string | undefined;
}

const TASK = /^(?:TASK|RUNNING HANDLER) \[(.*)\] \**\s*$/;
const FAILED = /^(fatal|failed): \[([^\]]+)\](?:: (FAILED|UNREACHABLE)!)?(?: \(item=.*\))? => (.*)$/;
const ERROR = /^ERROR! (.*)$/;

/** ansible's message in a result: its msg (or stderr, or the first lines of module output). */
export function resultMessage(json: string): string | undefined {
  const pick = (r: Record<string, unknown>): string | undefined => {
    for (const k of ["msg", "stderr", "module_stderr", "reason"]) {
      const v = r[k];
      if (typeof v === "string" && v.trim() !== "") return v.trim().split("\n").slice(0, 3).join(" / ");
    }
    return undefined;
  };
  try {
    const r = JSON.parse(json) as unknown;
    if (r && typeof r === "object") return pick(r as Record<string, unknown>);
  } catch {
    const m = /"msg": "((?:[^"\\]|\\.)*)"/.exec(json);
    if (m) {
      try {
        return JSON.parse(`"${m[1]}"`) as string;
      } catch {
        return m[1];
      }
    }
  }
  return undefined;
}

export class PlaybookOutput {
  private task: string | undefined;
  private readonly partial = { stdout: "", stderr: "" };
  /** Every failure, in order. */
  readonly failures: PlaybookFailure[] = [];
  /** The `ERROR! …` lines. */
  readonly errors: string[] = [];

  /** Feed a chunk as it arrives; whole lines are read. */
  write(stream: "stdout" | "stderr", chunk: string): void {
    const text = this.partial[stream] + chunk;
    const lines = text.split("\n");
    this.partial[stream] = lines.pop() ?? "";
    for (const l of lines) this.line(l.replace(/\r$/, ""));
  }

  /** Read what is left (a last line without its newline). */
  end(): void {
    for (const s of ["stdout", "stderr"] as const) {
      if (this.partial[s]) this.line(this.partial[s]);
      this.partial[s] = "";
    }
  }

  private line(l: string): void {
    // biome-ignore lint/suspicious/noControlCharactersInRegex: ANSI colours, when ANSIBLE_FORCE_COLOR is set
    const line = l.replace(/\x1b\[[0-9;]*m/g, "");
    const t = TASK.exec(line);
    if (t) {
      this.task = t[1];
      return;
    }
    const f = FAILED.exec(line);
    if (f) {
      this.failures.push({
        task: this.task,
        host: f[2] as string,
        kind: f[3] === "UNREACHABLE" ? "unreachable" : "failed",
        message: resultMessage(f[4] as string),
      });
      return;
    }
    const e = ERROR.exec(line);
    if (e) this.errors.push((e[1] as string).trim());
  }

  /** One sentence for the error: the first failure, or the first ERROR! line. */
  summary(): string | undefined {
    const f = this.failures[0];
    if (f) {
      const what = f.kind === "unreachable" ? "could not reach" : "failed on";
      const task = f.task !== undefined ? `task "${f.task}" ${what} ${f.host}` : `${what} ${f.host}`;
      const more = this.failures.length > 1 ? ` (and ${this.failures.length - 1} more failures)` : "";
      return `${task}${f.message ? `: ${f.message}` : ""}${more}`;
    }
    const e = this.errors[0];
    return e !== undefined ? e : undefined;
  }
}
