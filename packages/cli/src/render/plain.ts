/** Plain lines for logs and non-TTY output: `run: text`, one whole line at a time. */
import type { KilnEvent } from "@kiln/core";
import { formatBytes, formatMs } from "@kiln/core";

export interface LineOptions {
  timestamps?: boolean;
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
  if (opts.timestamps) text = `${new Date(e.time).toISOString()} ${text}`;
  return text;
}

/** How a checkpoint event reads on the terminal. */
function checkpointLine(e: Extract<KilnEvent, { type: "checkpoint" }>): string | undefined {
  const which = `checkpoint ${e.index} (after ${e.step}${e.key ? `, ${e.key.slice(0, 12)}` : ""})`;
  switch (e.action) {
    case "restored":
      return `==> Restored ${which} from ${e.dir}: not running ${e.skipped?.join(", ") || "anything before it"} again`;
    case "saved":
      return `    Saved ${which}${e.bytes !== undefined ? `, ${formatBytes(e.bytes)}` : ""}${e.durationMs !== undefined ? ` in ${formatMs(e.durationMs)}` : ""}`;
    case "unusable":
      return `warning: ${which} cannot be used: ${e.reason}; running from an earlier point`;
    case "off":
      return `    No checkpoints${e.index > 0 ? ` from ${e.step} on` : ""}: ${e.reason}`;
    default:
      return undefined;
  }
}

export function plainRenderer(out: NodeJS.WritableStream, opts: LineOptions = {}) {
  return (e: KilnEvent) => {
    if (e.type === "progress") return;
    const line = lineFor(e, opts);
    if (line !== undefined) out.write(`${line}\n`);
  };
}

/** NDJSON: every event as one JSON line. */
export function jsonRenderer(out: NodeJS.WritableStream) {
  return (e: KilnEvent) => {
    out.write(`${JSON.stringify(e)}\n`);
  };
}

/**
 * Packer's -machine-readable format: `timestamp,target,type,data…` with commas in data written
 * as `%!(PACKER_COMMA)` and newlines as `\n`.
 */
export function machineReadableRenderer(out: NodeJS.WritableStream) {
  const esc = (s: string) => s.replace(/,/g, "%!(PACKER_COMMA)").replace(/\r?\n/g, "\\n");
  const row = (time: number, target: string, type: string, ...data: string[]) =>
    out.write(`${Math.floor(time / 1000)},${target},${type}${data.map((d) => `,${esc(d)}`).join("")}\n`);
  const artifactIndex = new Map<string, number>();
  return (e: KilnEvent) => {
    const target = e.run ?? "";
    switch (e.type) {
      case "say":
        row(e.time, target, "ui", "say", `==> ${target ? `${target}: ` : ""}${e.text}`);
        break;
      case "message":
        row(e.time, target, "ui", "message", `    ${target ? `${target}: ` : ""}${e.text}`);
        break;
      case "output":
        row(e.time, target, "ui", "message", `    ${target ? `${target}: ` : ""}${e.line}`);
        break;
      case "error-line":
        row(e.time, target, "ui", "error", e.text);
        break;
      case "warning":
        row(e.time, target, "ui", "error", `Warning: ${e.text}`);
        break;
      case "checkpoint": {
        const text = checkpointLine(e);
        if (text) row(e.time, target, "ui", e.action === "unusable" ? "error" : "say", text.trim());
        break;
      }
      case "artifact": {
        const i = artifactIndex.get(target) ?? 0;
        artifactIndex.set(target, i + 1);
        row(e.time, target, "artifact", String(i), "builder-id", e.artifact.builderType);
        row(e.time, target, "artifact", String(i), "id", e.artifact.id);
        row(e.time, target, "artifact", String(i), "string", e.artifact.description);
        row(e.time, target, "artifact", String(i), "files-count", String(e.artifact.files.length));
        for (const [j, f] of e.artifact.files.entries())
          row(e.time, target, "artifact", String(i), "file", String(j), f);
        row(e.time, target, "artifact", String(i), "end");
        break;
      }
      case "run-end":
        if (!e.ok) row(e.time, target, "error", e.error ?? "failed");
        else row(e.time, target, "artifact-count", String(artifactIndex.get(target) ?? 0));
        break;
      case "build-end":
        row(
          e.time,
          "",
          "ui",
          e.ok ? "say" : "error",
          e.ok ? "Builds finished." : `Some builds failed: ${e.failed.join(", ")}`,
        );
        break;
      default:
        break;
    }
  };
}
