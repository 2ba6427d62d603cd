/**
 * A {@link KeyDriver} typing through a VNC server with RFB KeyEvent messages (X11 keysyms),
 * as Packer's `boot_command` over VNC does.
 *
 * The driver gets the qcodes typeBootCommand works with and sends keysyms: a character key
 * sends its own character's keysym, the shifted one while a shift key is down. So `A` is
 * Shift_L + `A` and `!` is Shift_L + `!` — the explicit shift around shifted characters is
 * what Packer's VNC driver sends too, and what servers that turn keysyms back into scancodes
 * (QEMU) need: QEMU maps `!` to the `1` key and lets the shift state decide.
 *
 * Each key is held `holdMs`; typeBootCommand then waits the key interval (default 100 ms, as
 * Packer's VNC typing; boot_key_interval overrides it). QEMU's VNC server puts 10 ms between
 * key events itself (`key-delay-ms`), so a much shorter interval only queues keys inside QEMU.
 */
import { abortableSleep } from "@kiln/core";
import type { KeyDriver } from "../boot/type.js";
import type { VncClient } from "./client.js";
import { qcodeKeysym, SHIFT_QCODES } from "./keysyms.js";

export interface VncKeyboardOptions {
  /** How long each key is held down, ms (default 20; 0 sends press and release together). */
  holdMs?: number;
  /** The pause after each key when the caller gives none, ms (default 100, Packer's VNC default). */
  keyInterval?: number;
  signal?: AbortSignal;
}

/** The VNC key interval Packer uses when boot_key_interval is not set. */
export const VNC_DEFAULT_KEY_INTERVAL = 100;

/** What the VNC client must offer (a {@link VncClient}, or a test double). */
export type VncKeySender = Pick<VncClient, "sendKeyEvents">;

function keysymOf(qcode: string, shift: boolean): number {
  const sym = qcodeKeysym(qcode, shift);
  if (sym === undefined) {
    throw new RangeError(`the key ${JSON.stringify(qcode)} has no VNC keysym`);
  }
  return sym;
}

/** A {@link KeyDriver} typing through `client` (a connected {@link VncClient}). */
export function createVncKeyDriver(client: VncKeySender, options: VncKeyboardOptions = {}): KeyDriver {
  const holdMs = options.holdMs ?? 20;
  const { signal } = options;
  /** Keys held with down(), and the keysym each was pressed with (released with the same). */
  const held = new Map<string, number>();
  const shiftHeld = () => [...held.keys()].some((k) => SHIFT_QCODES.has(k));

  return {
    keyInterval: options.keyInterval ?? VNC_DEFAULT_KEY_INTERVAL,
    async press(keys: string[]) {
      if (keys.length === 0) return;
      const shift = shiftHeld() || keys.some((k) => SHIFT_QCODES.has(k));
      const syms = keys.map((k) => keysymOf(k, shift));
      const downs = syms.map((s) => [s, true] as const);
      const ups = [...syms].reverse().map((s) => [s, false] as const);
      if (holdMs <= 0) {
        await client.sendKeyEvents([...downs, ...ups]);
        return;
      }
      await client.sendKeyEvents(downs);
      try {
        await abortableSleep(holdMs, signal);
      } catch (err) {
        await client.sendKeyEvents(ups).catch(() => {});
        throw err;
      }
      await client.sendKeyEvents(ups);
    },
    async down(key: string) {
      const sym = keysymOf(key, shiftHeld() || SHIFT_QCODES.has(key));
      held.set(key, sym);
      await client.sendKeyEvents([[sym, true]]);
    },
    async up(key: string) {
      const sym = held.get(key) ?? keysymOf(key, shiftHeld());
      held.delete(key);
      await client.sendKeyEvents([[sym, false]]);
    },
  };
}
