/**
 * The outputs for programs: NDJSON events (`--json`) and Packer's machine-readable lines
 * (`--machine-readable`). Neither carries a terminal escape sequence: tools' colours are removed
 * from every string.
 */
import type { KilnEvent } from "@kiln/core";
import { plainText } from "./ansi.js";
import { checkpointLine } from "./checkpoint.js";

/** NDJSON: every event as one JSON line. */
export function jsonRenderer(out: NodeJS.WritableStream) {
  return (e: KilnEvent) => {
    out.write(`${JSON.stringify(e, (_key, v) => (typeof v === "string" ? plainText(v) : v))}\n`);
  };
}

/**
 * Packer's -machine-readable format: `timestamp,target,type,data…` with commas in data written
 * as `%!(PACKER_COMMA)` and newlines as `\n`.
 */
export function machineReadableRenderer(out: NodeJS.WritableStream) {
  const esc = (s: string) => plainText(s).replace(/,/g, "%!(PACKER_COMMA)").replace(/\n/g, "\\n");
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
