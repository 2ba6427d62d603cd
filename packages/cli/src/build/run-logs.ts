/**
 * A full log per run, without colour, with timestamps, beside the build file:
 * `.kiln/logs/<run>.<UTC time>-<run UUID prefix>.log`, a new file for each invocation (two builds in one folder at
 * once never write into the same file), and `.kiln/logs/<run>.log`, a link to the newest one.
 *
 * A log is a convenience, never a reason to stop a build: when one cannot be written (a full
 * disk, a read-only or blocked folder) kiln says so once and builds on without logs.
 */
import { createWriteStream, mkdirSync, renameSync, rmSync, symlinkSync } from "node:fs";
import { join } from "node:path";
import { finished, type Writable } from "node:stream";
import { type KilnEvent, messageOf } from "@kiln/core";
import { lineFor } from "../render/plain.js";

export interface RunLogsOptions {
  /** The log folder (`<build file folder>/.kiln/logs`). */
  dir: string;
  /** Told once, on the first failure. */
  warn: (text: string) => void;
  /** Opens a log file for writing; tests pass streams that fail. */
  open?: (file: string) => Writable;
}

export interface RunLogs {
  /** Subscribe this to the event bus. */
  listener: (e: KilnEvent) => void;
  /** The log file of each run so far. */
  files: Map<string, string>;
  /** Finish writing; never rejects. */
  close(): Promise<void>;
}

/** `2025-01-31T10:20:30.456Z` → `20250131T102030456Z` (names sort by time) */
const compact = (time: number) => new Date(time).toISOString().replace(/[-:.]/g, "");

export function runLogs(opts: RunLogsOptions): RunLogs {
  const open = opts.open ?? ((file: string) => createWriteStream(file, { flags: "wx" }));
  const streams = new Map<string, Writable>();
  const files = new Map<string, string>();
  let stamp: string | undefined;
  let broken = false;
  const fail = (file: string, err: unknown) => {
    if (broken) return;
    broken = true;
    for (const s of streams.values()) s.destroy();
    opts.warn(`cannot write the build log ${file} (${messageOf(err)}); the build goes on without logs`);
  };
  const streamFor = (run: string): Writable | undefined => {
    const known = streams.get(run);
    if (known) return known;
    const name = `${run}.${stamp ?? compact(Date.now())}.log`;
    const file = join(opts.dir, name);
    let s: Writable;
    try {
      mkdirSync(opts.dir, { recursive: true });
      s = open(file);
    } catch (err) {
      fail(file, err);
      return undefined;
    }
    s.on("error", (err) => fail(file, err));
    streams.set(run, s);
    files.set(run, file);
    pointLatest(opts.dir, `${run}.log`, name);
    return s;
  };
  return {
    files,
    listener: (e) => {
      if (e.type === "build-start") stamp = `${compact(e.time)}-${e.runUuid.slice(0, 8)}`;
      if (broken || !e.run || e.type === "progress") return;
      const line = lineFor(e, { timestamps: true });
      if (line === undefined) return;
      streamFor(e.run)?.write(`${line}\n`);
    },
    close: async () => {
      await Promise.all(
        [...streams.values()].map(
          (s) =>
            new Promise<void>((resolve) => {
              if (s.destroyed) return resolve();
              finished(s, () => resolve());
              s.end();
            }),
        ),
      );
    },
  };
}

/** Point `<dir>/<link>` at `target` (replacing an older link at once); best effort. */
function pointLatest(dir: string, link: string, target: string): void {
  const tmp = join(dir, `.${link}.${process.pid}.${Date.now()}.tmp`);
  try {
    symlinkSync(target, tmp);
    renameSync(tmp, join(dir, link));
  } catch {
    rmSync(tmp, { force: true });
  }
}
