/**
 * One typed event stream for everything a build does. Renderers subscribe; every event passes
 * through the secrets registry before any subscriber sees it, so no renderer or log can print a
 * secret. Output chunks are split into whole lines per run and stream, so parallel runs never
 * interleave half-lines.
 */

import { SecretRegistry } from "./secrets.js";
import type { Artifact, Ui } from "./types.js";

interface Base {
  /** Milliseconds since the epoch. */
  time: number;
  /** The run (`build.type.source`) the event belongs to; absent for whole-invocation events. */
  run?: string;
}

export type KilnEvent =
  | (Base & { type: "build-start"; runs: string[]; runUuid: string })
  | (Base & { type: "run-start"; run: string })
  | (Base & { type: "step-start"; run: string; step: string })
  | (Base & { type: "step-end"; run: string; step: string; ok: boolean; durationMs: number })
  | (Base & { type: "say" | "message" | "error-line"; label?: string; text: string })
  | (Base & { type: "output"; label?: string; stream: "stdout" | "stderr"; line: string })
  | (Base & { type: "progress"; id: string; label: string; done: number; total?: number })
  | (Base & { type: "artifact"; run: string; artifact: Omit<Artifact, "destroy"> })
  | (Base & { type: "cleanup-start"; run: string; step: string })
  | (Base & { type: "cleanup"; run: string; step: string; ok: boolean; error?: string })
  | (Base & { type: "run-end"; run: string; ok: boolean; durationMs: number; error?: string; code?: string })
  | (Base & { type: "interrupt"; signal: string; pending: string[] })
  /**
   * Checkpoints (docs/checkpoints.md): `restored` — the run starts from checkpoint `index`
   * (after `step`) instead of running `skipped`; `saving`/`saved` — a checkpoint is being or was
   * written; `unusable` — a checkpoint was found but cannot be restored (`reason`), the run goes
   * on from an earlier one; `off` — no checkpoints for this run, or none from `index` on.
   */
  | (Base & {
      type: "checkpoint";
      run: string;
      action: "restored" | "saving" | "saved" | "unusable" | "off";
      index: number;
      step: string;
      key?: string;
      dir?: string;
      reason?: string;
      skipped?: string[];
      bytes?: number;
      durationMs?: number;
    })
  /** The run's output exists and was made from the same inputs: nothing ran. */
  | (Base & { type: "up-to-date"; run: string; output: string; record: string })
  /** Something is wrong that does not stop the build (e.g. its log cannot be written). */
  | (Base & { type: "warning"; text: string })
  | (Base & { type: "build-end"; ok: boolean; durationMs: number; failed: string[] });

export type KilnEventType = KilnEvent["type"];
export type Listener = (event: KilnEvent) => void;

export class EventBus {
  readonly secrets: SecretRegistry;
  private readonly listeners = new Set<Listener>();
  private readonly partial = new Map<string, string>();

  constructor(secrets = new SecretRegistry()) {
    this.secrets = secrets;
  }

  subscribe(listener: Listener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  emit(event: KilnEvent): void {
    const safe = this.secrets.size ? this.secrets.redactValue(event) : event;
    for (const l of this.listeners) {
      try {
        l(safe);
      } catch {
        // a broken renderer must not break the build
      }
    }
  }

  /** Split output into lines; keep an unfinished line until the rest arrives or flush(). */
  output(
    run: string | undefined,
    label: string | undefined,
    stream: "stdout" | "stderr",
    chunk: string,
  ): void {
    const key = `${run ?? ""}\u0000${label ?? ""}\u0000${stream}`;
    const text = (this.partial.get(key) ?? "") + chunk.replace(/\r\n/g, "\n");
    const lines = text.split("\n");
    const rest = lines.pop() ?? "";
    // A very long line without a newline is shown in pieces rather than held forever.
    if (rest.length > 64 * 1024) {
      lines.push(rest);
      this.partial.delete(key);
    } else if (rest) this.partial.set(key, rest);
    else this.partial.delete(key);
    for (const line of lines) this.emitOutput(run, label, stream, line);
  }

  /** Emit unfinished lines of a run (at the end of a command). */
  flush(run?: string): void {
    for (const [key, rest] of [...this.partial]) {
      const [r, label, stream] = key.split("\u0000");
      if (run !== undefined && r !== run) continue;
      this.partial.delete(key);
      this.emitOutput(r || undefined, label || undefined, stream as "stdout" | "stderr", rest);
    }
  }

  private emitOutput(
    run: string | undefined,
    label: string | undefined,
    stream: "stdout" | "stderr",
    line: string,
  ): void {
    // Carriage returns inside a line (progress bars of remote tools): keep the last state.
    const shown = line.includes("\r") ? (line.split("\r").filter(Boolean).pop() ?? "") : line;
    this.emit({
      type: "output",
      time: Date.now(),
      ...(run ? { run } : {}),
      ...(label ? { label } : {}),
      stream,
      line: shown,
    });
  }

  /** A Ui bound to a run (and optionally a label) that emits onto this bus. */
  ui(run?: string, label?: string): Ui {
    const base = () => ({ time: Date.now(), ...(run ? { run } : {}), ...(label ? { label } : {}) });
    return {
      say: (text) => this.emit({ type: "say", ...base(), text }),
      message: (text) => this.emit({ type: "message", ...base(), text }),
      error: (text) => this.emit({ type: "error-line", ...base(), text }),
      output: (stream, chunk) => this.output(run, label, stream, chunk),
      progress: (id, l, done, total) =>
        this.emit({
          type: "progress",
          ...base(),
          id,
          label: l,
          done,
          ...(total !== undefined ? { total } : {}),
        }),
      fork: (l) => this.ui(run, label ? `${label}/${l}` : l),
    };
  }
}
