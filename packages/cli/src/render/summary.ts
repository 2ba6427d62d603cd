/**
 * The summary printed at the end of a build (on a terminal and in CI): each run, how it ended,
 * its time, its artifacts and the path of its log file.
 */
import { relative } from "node:path";
import { formatMs, type KilnEvent } from "@kiln/core";
import { plainText, terminalText } from "./ansi.js";

interface RunSummary {
  state: "running" | "ok" | "failed";
  durationMs?: number;
  error?: string;
  artifacts: string[];
  /** "up to date", or the checkpoint it resumed from (docs/checkpoints.md). */
  note?: string;
}

export interface Summary {
  listener: (e: KilnEvent) => void;
  /** The summary's lines (after the build's last line), given each run's log file. */
  lines(logFiles: ReadonlyMap<string, string>, opts?: { color?: boolean; cwd?: string }): string[];
}

export function buildSummary(): Summary {
  const order: string[] = [];
  const runs = new Map<string, RunSummary>();
  const runOf = (name: string) => {
    let r = runs.get(name);
    if (!r) {
      r = { state: "running", artifacts: [] };
      runs.set(name, r);
    }
    return r;
  };
  return {
    listener: (e) => {
      if (e.type === "build-start") order.push(...e.runs);
      if (e.type === "artifact") {
        const a = e.artifact;
        runOf(e.run).artifacts.push(`${a.description}${a.files.length ? ` (${a.files.join(", ")})` : ""}`);
      }
      if (e.type === "up-to-date") runOf(e.run).note = "up to date";
      if (e.type === "checkpoint" && e.action === "restored")
        runOf(e.run).note = `resumed from checkpoint ${e.index}, after ${e.step}`;
      if (e.type === "run-end") {
        const r = runOf(e.run);
        r.state = e.ok ? "ok" : "failed";
        r.durationMs = e.durationMs;
        if (e.error) r.error = e.error;
      }
    },
    lines(logFiles, opts = {}) {
      const cwd = opts.cwd ?? process.cwd();
      const c = opts.color === true;
      const paint = (code: string, s: string) => (c ? `\u001b[${code}m${s}\u001b[0m` : s);
      const clean = (s: string) => (c ? terminalText(s) : plainText(s));
      const names = [...new Set([...order, ...runs.keys()])];
      const width = Math.max(0, ...names.map((n) => n.length));
      const out: string[] = [];
      for (const name of names) {
        const r = runs.get(name);
        const state =
          r?.state === "ok"
            ? paint("32", "ok    ")
            : r?.state === "failed"
              ? paint("31", "failed")
              : paint("33", "not run");
        const time = r?.durationMs !== undefined ? `  ${formatMs(r.durationMs)}` : "";
        const note = r?.note ? `  (${r.note})` : "";
        out.push(`  ${name.padEnd(width)}  ${state}${time}${note}`.trimEnd());
        for (const a of r?.artifacts ?? []) out.push(`      artifact: ${clean(a)}`);
        if (r?.error) out.push(`      error: ${clean(r.error)}`);
        const log = logFiles.get(name);
        if (log) {
          const rel = relative(cwd, log);
          out.push(`      log: ${rel && !rel.startsWith("..") ? rel : log}`);
        }
      }
      return out;
    },
  };
}
