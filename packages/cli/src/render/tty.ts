/**
 * The TTY view: log lines scroll above, and below them a live line per run with its current
 * step, elapsed time and, while something is downloading or copying, a progress bar.
 */
import { formatBytes, formatMs, type KilnEvent } from "@kiln/core";
import cliProgress from "cli-progress";
import { type LineOptions, lineFor } from "./plain.js";

interface RunLine {
  bar: cliProgress.SingleBar;
  started: number;
  step: string;
  state: "running" | "ok" | "failed";
}

export function ttyRenderer(out: NodeJS.WriteStream, opts: LineOptions = {}) {
  const multi = new cliProgress.MultiBar(
    {
      stream: out,
      clearOnComplete: false,
      hideCursor: true,
      autopadding: true,
      fps: 8,
      format: (
        options,
        params,
        payload: { run: string; status: string; progress: string; elapsed: string },
      ) => {
        const width = options.barsize ?? 20;
        const bar = payload.progress
          ? `${"█".repeat(Math.round(params.progress * width))}${"░".repeat(width - Math.round(params.progress * width))} ${payload.progress}`
          : "";
        return `${payload.run}  ${payload.elapsed.padStart(6)}  ${payload.status}${bar ? `  ${bar}` : ""}`;
      },
    },
    cliProgress.Presets.shades_classic,
  );
  const runs = new Map<string, RunLine>();
  const timer = setInterval(() => {
    for (const [name, r] of runs) if (r.state === "running") update(name, r, {});
  }, 1000);
  timer.unref();
  const width = { run: 0 };
  function update(
    name: string,
    r: RunLine,
    payload: Partial<{ status: string; progress: string }>,
    value?: number,
    total?: number,
  ) {
    if (total !== undefined) r.bar.setTotal(Math.max(total, 1));
    r.bar.update(value ?? r.bar.getProgress() * r.bar.getTotal(), {
      run: name.padEnd(width.run),
      elapsed: formatMs(Date.now() - r.started),
      status: payload.status ?? (r.state === "running" ? r.step : r.state === "ok" ? "done" : "failed"),
      progress: payload.progress ?? "",
    });
  }
  return (e: KilnEvent) => {
    if (e.type === "build-start") {
      width.run = Math.max(0, ...e.runs.map((r) => r.length));
    }
    if (e.type === "run-start") {
      const bar = multi.create(1, 0, {
        run: e.run.padEnd(width.run),
        elapsed: "0s",
        status: "starting",
        progress: "",
      });
      runs.set(e.run, { bar, started: e.time, step: "starting", state: "running" });
    }
    const r = e.run ? runs.get(e.run) : undefined;
    if (r && e.type === "step-start") {
      r.step = e.step;
      update(e.run as string, r, { progress: "" }, 0, 1);
    }
    if (r && e.type === "progress") {
      const pct = e.total
        ? `${Math.floor((e.done / e.total) * 100)}% ${formatBytes(e.done)}/${formatBytes(e.total)}`
        : formatBytes(e.done);
      update(
        e.run as string,
        r,
        { status: `${r.step}: ${e.label}`, progress: pct },
        e.done,
        e.total ?? e.done,
      );
      return;
    }
    if (r && e.type === "up-to-date") r.step = "up to date";
    if (r && e.type === "checkpoint" && e.action === "restored") r.step = `restored checkpoint ${e.index}`;
    if (r && e.type === "run-end") {
      r.state = e.ok ? "ok" : "failed";
      update(e.run as string, r, {
        status: e.ok ? (r.step === "up to date" ? "up to date" : "done") : "failed",
      });
    }
    const line = lineFor(e, opts);
    if (line !== undefined) multi.log(`${line}\n`);
    if (e.type === "build-end") {
      clearInterval(timer);
      // draw once more so log lines buffered since the last frame are written
      multi.update();
      multi.stop();
    }
  };
}
