/**
 * Playing parsed boot-command actions through a keyboard driver (QMP, VNC, a builder's own API …).
 */
import { abortableSleep } from "@kiln/core";
import { charQcodes, SPECIAL_KEY_QCODES, type SpecialKey } from "./keys.js";
import { type BootAction, BootCommandError, type HoldAction } from "./parse.js";

/**
 * What a hypervisor offers to type with. Keys are QEMU qcodes.
 * `press` presses the keys together (in order) and releases them (in reverse order).
 * With `down`/`up`, held keys (`<leftAltOn>`) are really held; without, they are added to every
 * press until released (how Proxmox's `sendkey` works: `ctrl-alt-delete`).
 */
export interface KeyDriver {
  press(keys: string[]): Promise<void>;
  down?(key: string): Promise<void>;
  up?(key: string): Promise<void>;
  /** Send anything buffered; called before waits and at the end. */
  flush?(): Promise<void>;
  /** The pause after each key this driver wants when the caller gives none (ms). */
  readonly keyInterval?: number;
}

export interface TypeProgress {
  /** Actions done so far (1-based count, including this one). */
  done: number;
  total: number;
  action: BootAction;
}

export interface TypeBootCommandOptions {
  /** Pause after each key press, ms. Default: the driver's `keyInterval`, else 100 (Packer's). */
  keyInterval?: number;
  /** Pause between boot_command entries, ms (Packer's boot_keygroup_interval). Default 0. */
  groupInterval?: number;
  signal?: AbortSignal;
  onProgress?: (progress: TypeProgress) => void;
}

/** The qcodes of a key or character action (throws for a character with no US key). */
export function actionQcodes(action: BootAction): string[] {
  switch (action.type) {
    case "wait":
      return [];
    case "key":
      return [SPECIAL_KEY_QCODES[action.key]];
    case "char":
      return qcodesOfChar(action.char, action);
    case "down":
    case "up":
      return action.char ? qcodesOfChar(action.key, action) : [SPECIAL_KEY_QCODES[action.key as SpecialKey]];
  }
}

function qcodesOfChar(ch: string, where: BootAction): string[] {
  const q = charQcodes(ch);
  if (q === undefined) {
    throw new BootCommandError(`boot_command: ${JSON.stringify(ch)} cannot be typed on a US keyboard`, where);
  }
  return [...q];
}

function union(held: readonly string[], keys: readonly string[]): string[] {
  const out = [...held];
  for (const k of keys) if (!out.includes(k)) out.push(k);
  return out;
}

/**
 * Type `actions` through `driver`: characters and special keys are pressed, holds are kept
 * down until released, waits pause. Keys still held at the end (or on failure or abort) are
 * released, so a modifier is never left stuck. Rejects with the signal's reason on abort.
 */
export async function typeBootCommand(
  actions: readonly BootAction[],
  driver: KeyDriver,
  options: TypeBootCommandOptions = {},
): Promise<void> {
  const { signal, onProgress } = options;
  const keyInterval = options.keyInterval ?? driver.keyInterval ?? 100;
  const groupInterval = options.groupInterval ?? 0;
  const realHolds = typeof driver.down === "function" && typeof driver.up === "function";
  const held: string[] = [];
  let lastGroup = actions[0]?.group ?? 0;
  try {
    for (let i = 0; i < actions.length; i++) {
      signal?.throwIfAborted();
      const action = actions[i] as BootAction;
      if (action.group !== lastGroup) {
        lastGroup = action.group;
        if (groupInterval > 0) {
          await driver.flush?.();
          await abortableSleep(groupInterval, signal);
        }
      }
      switch (action.type) {
        case "wait":
          await driver.flush?.();
          await abortableSleep(action.ms, signal);
          break;
        case "char":
        case "key": {
          const keys = actionQcodes(action);
          const chord = realHolds ? keys.filter((k) => !held.includes(k)) : union(held, keys);
          if (chord.length > 0) {
            await driver.press(chord);
            await abortableSleep(keyInterval, signal);
          }
          break;
        }
        case "down":
        case "up":
          await hold(action, driver, held, realHolds);
          break;
      }
      onProgress?.({ done: i + 1, total: actions.length, action });
    }
    await driver.flush?.();
  } finally {
    if (realHolds) {
      for (const k of held.reverse()) await driver.up?.(k).catch(() => {});
    }
  }
}

async function hold(action: HoldAction, driver: KeyDriver, held: string[], realHolds: boolean) {
  const keys = actionQcodes(action);
  if (action.type === "down") {
    for (const k of keys) {
      if (held.includes(k)) continue;
      if (realHolds) await driver.down?.(k);
      held.push(k);
    }
  } else {
    for (const k of [...keys].reverse()) {
      const at = held.indexOf(k);
      if (at === -1) continue;
      if (realHolds) await driver.up?.(k);
      held.splice(at, 1);
    }
  }
}
