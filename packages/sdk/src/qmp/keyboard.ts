/**
 * A fast, lossless keyboard for typeBootCommand over QMP.
 *
 * Measured against a real guest (SeaBIOS reading int 16h, echoing to a serial port, QEMU 7.2,
 * TCG): `send-key` with a hold time hands the key release to QEMU's internal keyboard queue,
 * whose timers fire late (≈10 ms past the hold time under TCG) and which silently drops events
 * once it is full — pace it on the client from the reply and the queue still grows, keys get
 * lost and shift gets stuck. So this driver times key presses itself with `input-send-event`:
 * press events, `holdMs`, release events, `gapMs`. Nothing queues inside QEMU, the order is
 * exact, and modifiers can be held across keys (`<leftAltOn>`).
 *
 * Default: hold 20 ms, 5 ms after each key — about 33 keys/s under TCG. bench/boot-typing found
 * the limit at the appliance's syslinux prompt (PS/2, 200 keys, 3 runs, also beside 2 busy
 * processes) at 0/2 ms (≈210 keys/s lossless; 0/0 ≈320 keys/s lost keys), but that limit is the
 * guest's when it gets the CPU: QEMU's PS/2 queue holds 16 bytes (2–6 per key), and whatever
 * arrives while the guest is descheduled beyond that is dropped — a lost shift release turns the
 * rest of the line into symbols. At 0/5 (≈115 keys/s) a full test run (many TCG guests on 2
 * cores) lost keys; the 20/5 default rides out stalls about 3× longer. The same holds for a USB
 * keyboard (`usb-kbd`), whose guest polls every 8–10 ms and misses shorter presses.
 */
import { abortableSleep } from "@kiln/core";
import type { KeyDriver } from "../boot/type.js";
import type { QmpClient } from "./client.js";

export interface QmpKeyboardOptions {
  /** How long each key is held down, ms (default 20). 0 sends press and release in one command. */
  holdMs?: number;
  /** Pause after each release, ms (default 5). */
  gapMs?: number;
  /**
   * "input-send-event" (default): timed here, as above. "send-key": QEMU's `send-key` with
   * `hold-time`, then a wait of hold + gap + 15 ms so QEMU's queue has drained.
   */
  method?: "input-send-event" | "send-key";
  signal?: AbortSignal;
}

/** QEMU's send-key hold timers fire late under load; wait this much longer before the next key. */
const SEND_KEY_SLACK_MS = 15;

/** The driver's timing when none is given; bench/boot-typing measures where keys start to get lost. */
export const QMP_KEYBOARD_DEFAULTS = { holdMs: 20, gapMs: 5 } as const;

/** A {@link KeyDriver} typing through QMP. Its own pacing replaces the key interval (0). */
export function createQmpKeyDriver(qmp: QmpClient, options: QmpKeyboardOptions = {}): KeyDriver {
  const holdMs = options.holdMs ?? QMP_KEYBOARD_DEFAULTS.holdMs;
  const gapMs = options.gapMs ?? QMP_KEYBOARD_DEFAULTS.gapMs;
  const { signal } = options;
  const method = options.method ?? "input-send-event";
  return {
    keyInterval: 0,
    async press(keys: string[]) {
      if (keys.length === 0) return;
      if (method === "send-key") {
        await qmp.sendKeys(keys, holdMs);
        await abortableSleep(Math.max(holdMs, 10) + gapMs + SEND_KEY_SLACK_MS, signal);
        return;
      }
      const downs = keys.map((k) => [k, true] as const);
      const ups = [...keys].reverse().map((k) => [k, false] as const);
      if (holdMs <= 0) {
        await qmp.sendKeyEvents([...downs, ...ups]);
      } else {
        await qmp.sendKeyEvents(downs);
        try {
          await abortableSleep(holdMs, signal);
        } catch (err) {
          await qmp.sendKeyEvents(ups).catch(() => {});
          throw err;
        }
        await qmp.sendKeyEvents(ups);
      }
      await abortableSleep(gapMs, signal);
    },
    async down(key: string) {
      await qmp.sendKeyEvents([[key, true]]);
      await abortableSleep(gapMs, signal);
    },
    async up(key: string) {
      await qmp.sendKeyEvents([[key, false]]);
      await abortableSleep(gapMs, signal);
    },
  };
}
