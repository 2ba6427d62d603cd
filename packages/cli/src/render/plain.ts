/**
 * Plain lines for logs and non-TTY output (CI): `run: text`, one whole line at a time; on long
 * work a progress line every few seconds (percent, speed, time left), and a line for a run that
 * has been quiet for a while, so a CI log shows that something is happening.
 */
import type { KilnEvent } from "@kiln/core";
import { formatMs } from "@kiln/core";
import { plainText, terminalText } from "./ansi.js";
import { checkpointLine } from "./checkpoint.js";
import { describeProgress, Rate } from "./progress.js";

export interface LineOptions {
  timestamps?: boolean;
  /** Colours (kiln's and the tools'); without, every escape sequence is removed. */
  color?: boolean;
}

const paint = (on: boolean | undefined, code: string, s: string) => (on ? `\u001b[${code}m${s}\u001b[0m` : s);

/** The text line for an event, or undefined for events that are not shown as lines. */
export function lineFor(e: KilnEvent, opts: LineOptions = {}): string | undefined {
  const c = opts.color;
  const who = e.run ? `${paint(c, "1", e.run)}: ` : "";
  const label = "label" in e && e.label ? `[${e.label}] ` : "";
  let text: string | undefined;
  switch (e.type) {
    case "build-start":
      text = `kiln: ${e.runs.length} run${e.runs.length === 1 ? "" : "s"}: ${e.runs.join(", ") || "(none)"}`;
      break;
    case "step-start":
      text = `${who}${paint(c, "2", `step ${e.step}`)}`;
      break;
    case "say":
      text = `${who}${label}==> ${e.text}`;
      break;
    case "message":
      text = `${who}${label}    ${e.text}`;
      break;
    case "error-line":
      text = `${who}${label}${paint(c, "31", e.text)}`;
      break;
    case "output":
      text = `${who}${label}${e.stream === "stderr" ? paint(c, "33", e.line) : e.line}`;
      break;
    case "artifact":
      text = `${who}artifact: ${e.artifact.description}${e.artifact.files.length ? ` (${e.artifact.files.join(", ")})` : ""}`;
      break;
    case "cleanup":
      text = e.ok ? undefined : `${who}${paint(c, "31", `cleanup of ${e.step} failed: ${e.error}`)}`;
      break;
    case "cleanup-start":
      text = `${who}${paint(c, "2", `cleaning up ${e.step}`)}`;
      break;
    case "run-end":
      text = e.ok
        ? `${who}${paint(c, "32", `finished in ${formatMs(e.durationMs)}`)}`
        : `${who}${paint(c, "31", `failed after ${formatMs(e.durationMs)}: ${e.error ?? "unknown error"}`)}`;
      break;
    case "warning":
      text = `${e.run ? who : "kiln: "}${paint(c, "33", `warning: ${e.text}`)}`;
      break;
    case "checkpoint":
      text = checkpointLine(e);
      if (text) text = `${who}${e.action === "unusable" ? paint(c, "33", text) : text}`;
      break;
    case "interrupt":
      text = `kiln: ${e.signal}: ${e.pending.length ? `cleaning up ${e.pending.join(", ")}; please wait` : "stopping"}`;
      break;
    case "build-end":
      text = e.ok
        ? paint(c, "32", `kiln: build finished in ${formatMs(e.durationMs)}`)
        : paint(
            c,
            "31",
            `kiln: ${e.failed.length} run${e.failed.length === 1 ? "" : "s"} failed: ${e.failed.join(", ")}`,
          );
      break;
    default:
      text = undefined;
  }
  if (text === undefined) return undefined;
  text = c ? terminalText(text) : plainText(text);
  if (opts.timestamps) text = `${new Date(e.time).toISOString()} ${text}`;
  return text;
}

export interface PlainOptions extends LineOptions {
  /** A transfer in progress is reported this often (default 5 s). */
  progressEveryMs?: number;
  /** A run that printed nothing for this long says which step it is in (default 30 s). */
  quietEveryMs?: number;
  now?: () => number;
}

export interface PlainRenderer {
  listener: (e: KilnEvent) => void;
  /** Stop the quiet-run timer. */
  close(): void;
}

export function plainRenderer(out: NodeJS.WritableStream, opts: PlainOptions = {}): PlainRenderer {
  const every = opts.progressEveryMs ?? 5_000;
  const quiet = opts.quietEveryMs ?? 30_000;
  const now = opts.now ?? Date.now;
  const transfers = new Map<string, { last: number; printed: boolean; rate: Rate }>();
  const runs = new Map<string, { step: string; since: number; last: number }>();
  const print = (time: number, run: string | undefined, text: string) => {
    if (run) {
      const r = runs.get(run);
      if (r) r.last = time;
    }
    out.write(`${text}\n`);
  };
  const stamp = (time: number, text: string) =>
    opts.timestamps ? `${new Date(time).toISOString()} ${text}` : text;
  const timer = setInterval(
    () => {
      const t = now();
      for (const [run, r] of runs) {
        if (t - r.last < quiet) continue;
        print(t, run, stamp(t, `${run}: still in step ${r.step} (${formatMs(t - r.since)} so far)`));
      }
    },
    Math.min(1_000, quiet),
  );
  timer.unref();
  const progress = (e: Extract<KilnEvent, { type: "progress" }>) => {
    const key = `${e.run ?? ""}\u0000${e.id}`;
    let t = transfers.get(key);
    if (!t) {
      t = { last: e.time, printed: false, rate: new Rate() };
      transfers.set(key, t);
    }
    t.rate.add(e.time, e.done);
    const complete = e.total !== undefined && e.done >= e.total;
    if (e.time - t.last >= every || (complete && t.printed)) {
      const view = describeProgress(e.done, e.total, t.rate.perSecond());
      const who = e.run ? `${e.run}: ` : "kiln: ";
      print(e.time, e.run, stamp(e.time, plainText(`${who}${e.label}: ${view.text}`)));
      t.last = e.time;
      t.printed = true;
    }
    if (complete) transfers.delete(key);
  };
  return {
    listener: (e) => {
      if (e.type === "progress") return progress(e);
      if (e.type === "run-start") runs.set(e.run, { step: "starting", since: e.time, last: e.time });
      if (e.type === "step-start") {
        const r = runs.get(e.run);
        if (r) Object.assign(r, { step: e.step, since: e.time });
      }
      if (e.type === "cleanup-start") {
        const r = runs.get(e.run);
        if (r) Object.assign(r, { step: `cleanup of ${e.step}`, since: e.time });
      }
      const line = lineFor(e, opts);
      if (line !== undefined) print(e.time, e.run, line);
      if (e.type === "run-end") runs.delete(e.run);
      if (e.type === "build-end") clearInterval(timer);
    },
    close: () => clearInterval(timer),
  };
}
