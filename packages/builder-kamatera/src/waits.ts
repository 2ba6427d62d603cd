/** The wait settings of a run: poll_interval and wait_timeout, parsed once with option-named errors. */
import { errors } from "./errors.js";
import type { KamateraOptions } from "./schema.js";

export interface Waits {
  pollMs: number;
  timeoutMs: number;
  timeoutName: string;
}

export function waits(o: Pick<KamateraOptions, "poll_interval" | "wait_timeout">): Waits {
  return {
    pollMs: errors.duration("poll_interval", o.poll_interval),
    timeoutMs: errors.duration("wait_timeout", o.wait_timeout),
    timeoutName: `wait_timeout ${o.wait_timeout}`,
  };
}
