/**
 * The boot-command step, for every builder that types at a boot prompt: wait `boot_wait`, open
 * the builder's keyboard (QMP, VNC, Proxmox sendkey …), type `boot_command` (or `boot_steps`,
 * each with its description) with `${{ http.* }}` rendered, show throttled progress, and say how
 * fast it typed. The typing statistics are left in the state (BOOT_TYPING) for benchmarks.
 */
import {
  abortableSleep,
  isDeferred,
  messageOf,
  parseDuration,
  type RunContext,
  type Step,
  stateKey,
} from "@kiln/core";
import { type BootAction, parseBootCommand } from "../boot/parse.js";
import { type KeyDriver, typeBootCommand } from "../boot/type.js";
import type { BootOptions } from "../schemas.js";

/** What the step typed: keys, typing time without waits, keys per second. */
export const BOOT_TYPING = stateKey<{ keys: number; typingMs: number; keysPerSecond: number }>("boot-typing");

export type BootCommandOptions = BootOptions & {
  /** Packer's boot_steps: [command, description] pairs, typed in turn. */
  boot_steps?: string[][];
};

export interface Keyboard {
  driver: KeyDriver;
  /** Shown once typing starts, e.g. "over VNC". */
  via?: string;
  close?(): Promise<void>;
}

export interface BootCommandStepOptions {
  /** Open the keyboard to type with, once boot_wait has passed. */
  keyboard(ctx: RunContext, signal: AbortSignal): Promise<Keyboard>;
  /**
   * A signal to type under instead of the step's own, e.g. one that also aborts when the
   * machine is gone; disposed when the step ends.
   */
  guard?(ctx: RunContext): { signal: AbortSignal; dispose(): void };
  /** Turn a failure (not an interrupt) into the builder's own error, with what it can find out. */
  failure?(error: unknown, ctx: RunContext, signal: AbortSignal): Promise<Error> | Error;
  /** Pause after each key when boot_key_interval is not set (ms); default: the driver's. */
  keyInterval?: number;
}

/** The boot command as groups to type: boot_steps, else boot_command as one group. */
export function bootGroups(o: BootCommandOptions): Array<{ command: string[]; description?: string }> {
  if (o.boot_steps?.length)
    return o.boot_steps.map((s) => ({ command: [s[0] ?? ""], ...(s[1] ? { description: s[1] } : {}) }));
  return o.boot_command?.length ? [{ command: o.boot_command }] : [];
}

export function countKeys(actions: BootAction[]): { keys: number; waitMs: number } {
  let keys = 0;
  let waitMs = 0;
  for (const a of actions) {
    if (a.type === "wait") waitMs += a.ms;
    else if (a.type === "char" || a.type === "key") keys++;
  }
  return { keys, waitMs };
}

/** Check the boot command's syntax (for prepare): expressions are rendered later and never add `<…>`. */
export function checkBootCommand(o: BootCommandOptions): void {
  // A string with build-time values is the loader's marker until the step renders it: check its text.
  for (const g of bootGroups(o)) parseBootCommand(g.command.map((c) => (isDeferred(c) ? String(c) : c)));
}

export function bootCommandStep(o: BootCommandOptions, how: BootCommandStepOptions): Step {
  return {
    name: "boot command",
    async run(ctx) {
      const groups = bootGroups(o);
      if (groups.length === 0) return;
      const guard = how.guard?.(ctx) ?? { signal: ctx.signal, dispose() {} };
      let keyboard: Keyboard | undefined;
      try {
        const wait = parseDuration(o.boot_wait);
        if (wait > 0) {
          ctx.ui.say(`Waiting ${o.boot_wait} for boot...`);
          await abortableSleep(wait, guard.signal);
        }
        const keyInterval =
          o.boot_key_interval !== undefined ? parseDuration(o.boot_key_interval) : how.keyInterval;
        keyboard = await how.keyboard(ctx, guard.signal);
        let totalKeys = 0;
        let typingMs = 0;
        for (const g of groups) {
          const actions = parseBootCommand(ctx.render(g.command));
          const { keys, waitMs } = countKeys(actions);
          ctx.ui.say(
            g.description
              ? `Typing boot command: ${g.description}`
              : `Typing the boot command (${keys} keys)...`,
          );
          const t0 = Date.now();
          let lastShown = 0;
          await typeBootCommand(actions, keyboard.driver, {
            signal: guard.signal,
            ...(keyInterval !== undefined ? { keyInterval } : {}),
            onProgress: (p) => {
              const now = Date.now();
              if (now - lastShown > 500 || p.done === p.total) {
                lastShown = now;
                ctx.ui.progress("boot-command", "Typing boot command", p.done, p.total);
              }
            },
          });
          totalKeys += keys;
          typingMs += Math.max(1, Date.now() - t0 - waitMs);
        }
        const keysPerSecond = totalKeys / (typingMs / 1000);
        ctx.state.put(BOOT_TYPING, { keys: totalKeys, typingMs, keysPerSecond });
        ctx.ui.say(
          `Typed ${totalKeys} keys in ${(typingMs / 1000).toFixed(1)}s (${keysPerSecond.toFixed(1)} keys/s)${keyboard.via ? ` ${keyboard.via}` : ""}.`,
        );
      } catch (e) {
        if (ctx.signal.aborted || !how.failure) throw e;
        throw await how.failure(e, ctx, guard.signal);
      } finally {
        guard.dispose();
        await keyboard
          ?.close?.()
          .catch((e: unknown) => ctx.ui.message(`closing the keyboard: ${messageOf(e)}`));
      }
    },
  };
}
