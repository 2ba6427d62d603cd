/**
 * The TTY view: log lines scroll above, and below them a live line per running run with its
 * current step, elapsed time and, while something is downloading or copying, a bar with the
 * amount, speed and time left. The terminal handling (wrap, erase, prompts) is terminal.ts.
 */
import { formatMs, type KilnEvent } from "@kiln/core";
import { lineFor } from "./plain.js";
import { bar, describeProgress, Rate } from "./progress.js";
import { LiveTerminal } from "./terminal.js";

interface RunLine {
  started: number;
  step: string;
  progress?: { id: string; label: string; done: number; total?: number; rate: Rate };
}

export interface TtyView {
  listener: (e: KilnEvent) => void;
  /** A line of kiln's own, above the live lines. */
  log(text: string): void;
  /** For a question: the live lines step aside and log lines are held back until resume(). */
  pause(): void;
  resume(): void;
  /** Writes to the terminal directly (the question itself). */
  raw(text: string): void;
  close(): void;
}

export function ttyView(
  out: NodeJS.WriteStream,
  opts: { timestamps?: boolean; color?: boolean } = {},
): TtyView {
  const term = new LiveTerminal(out);
  const runs = new Map<string, RunLine>();
  let width = 0;
  const bold = (s: string) => (opts.color ? `\u001b[1m${s}\u001b[0m` : s);
  const lines = () => {
    const now = Date.now();
    return [...runs].map(([name, r]) => {
      const head = `${bold(name.padEnd(width))}  ${formatMs(now - r.started).padStart(6)}  `;
      const p = r.progress;
      if (!p) return `${head}${r.step}`;
      const view = describeProgress(p.done, p.total, p.rate.perSecond(now));
      const cells = (out.columns ?? 80) >= 100 ? 20 : 10;
      const shown = view.fraction !== undefined ? `${bar(view.fraction, cells)} ${view.text}` : view.text;
      return `${head}${p.label}  ${shown}`;
    });
  };
  const tick = setInterval(() => term.setLive(lines()), 1000);
  tick.unref();
  return {
    listener: (e) => {
      if (e.type === "build-start") width = Math.max(0, ...e.runs.map((r) => r.length));
      if (e.type === "run-start") runs.set(e.run, { started: e.time, step: "starting" });
      const r = e.run ? runs.get(e.run) : undefined;
      if (r && e.type === "step-start") {
        r.step = e.step;
        delete r.progress;
      }
      if (r && e.type === "cleanup-start") {
        r.step = `cleaning up ${e.step}`;
        delete r.progress;
      }
      if (r && e.type === "progress") {
        if (r.progress?.id !== e.id) r.progress = { id: e.id, label: e.label, done: 0, rate: new Rate() };
        const p = r.progress;
        p.label = e.label;
        p.done = e.done;
        if (e.total !== undefined) p.total = e.total;
        else delete p.total;
        p.rate.add(e.time, e.done);
      }
      if (e.type === "run-end") runs.delete(e.run);
      if (e.type === "build-end") clearInterval(tick);
      term.setLive(lines());
      const line = lineFor(e, opts);
      if (line !== undefined) term.log(line);
    },
    log: (text) => term.log(text),
    pause: () => term.pause(),
    resume: () => term.resume(),
    raw: (text) => term.raw(text),
    close: () => {
      clearInterval(tick);
      term.close();
    },
  };
}
