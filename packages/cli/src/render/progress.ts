/**
 * Progress of a transfer as people read it: percent, amounts, speed over the last seconds and
 * the time left at that speed. Pure: times come with the samples.
 */
import { formatBytes, formatMs } from "@kiln/core";

/** Speed is measured over this much recent time. */
const WINDOW_MS = 5_000;

export class Rate {
  private samples: Array<[number, number]> = [];

  add(time: number, done: number): void {
    const last = this.samples.at(-1);
    // A transfer that started again (a retry) starts a new measurement.
    if (last && done < last[1]) this.samples = [];
    this.samples.push([time, done]);
    while (this.samples.length > 2 && time - (this.samples[1]?.[0] ?? time) >= WINDOW_MS)
      this.samples.shift();
  }

  /**
   * Bytes per second, once at least half a second has been seen. Given the time now, a transfer
   * that stalled slows down as the seconds pass instead of keeping its last speed.
   */
  perSecond(now?: number): number | undefined {
    const first = this.samples[0];
    const seen = this.samples.at(-1);
    if (!first || !seen) return undefined;
    const last: [number, number] = now !== undefined && now > seen[0] ? [now, seen[1]] : seen;
    const from = now !== undefined ? (this.samples.find((s) => last[0] - s[0] <= WINDOW_MS) ?? seen) : first;
    if (last[0] - from[0] < 500) return undefined;
    return ((last[1] - from[1]) * 1000) / (last[0] - from[0]);
  }
}

export interface ProgressView {
  /** 0…1, when the total is known. */
  fraction: number | undefined;
  /** `45% 300 MiB/650 MiB, 12.5 MiB/s, 28s left` */
  text: string;
}

export function describeProgress(done: number, total: number | undefined, perSecond?: number): ProgressView {
  const fraction = total ? Math.min(1, done / total) : undefined;
  const parts: string[] = [];
  parts.push(
    fraction !== undefined
      ? `${Math.floor(fraction * 100)}% ${formatBytes(done)}/${formatBytes(total as number)}`
      : formatBytes(done),
  );
  if (perSecond !== undefined && perSecond > 0) {
    parts.push(`${formatBytes(perSecond)}/s`);
    if (total && done < total) parts.push(`ETA ${formatMs(Math.ceil((total - done) / perSecond) * 1000)}`);
  }
  return { fraction, text: parts.join(", ") };
}

/** A bar of `width` cells. */
export function bar(fraction: number, width: number): string {
  const full = Math.round(Math.max(0, Math.min(1, fraction)) * width);
  return `${"█".repeat(full)}${"░".repeat(width - full)}`;
}
