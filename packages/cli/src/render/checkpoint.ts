/** How checkpoint events (docs/checkpoints.md) read on the terminal and in logs. */
import { formatBytes, formatMs, type KilnEvent } from "@kiln/core";

export function checkpointLine(e: Extract<KilnEvent, { type: "checkpoint" }>): string | undefined {
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
