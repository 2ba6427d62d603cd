/** What the chroot steps share: the host command runner for the options' wrapper, the teardown list, command lists. */
import type { RunContext } from "@kiln/core";
import { CHROOT_TEARDOWN } from "../../state.js";
import { type HostCommands, hostCommands } from "../host.js";
import { commandWrapper, renderWith } from "../placeholders.js";
import { ChrootTeardown } from "../teardown.js";

/** Host commands run through the source's command_wrapper. */
export function hostFor(ctx: RunContext, o: { command_wrapper?: unknown }): HostCommands {
  return hostCommands(commandWrapper(ctx, o.command_wrapper));
}

/** The run's teardown list (made by the first chroot step that needs it). */
export function teardownOf(ctx: RunContext): ChrootTeardown {
  let t = ctx.state.get(CHROOT_TEARDOWN);
  if (!t) {
    t = new ChrootTeardown();
    ctx.state.put(CHROOT_TEARDOWN, t);
  }
  return t;
}

/**
 * Undo this step's entries, for its cleanup: every one is tried, and what could not be undone fails
 * the cleanup (so the run fails, saying what is left) after the others ran.
 */
export async function undoOwn(ctx: RunContext, ids: number[]): Promise<void> {
  if (ids.length === 0) return;
  await teardownOf(ctx).undo(ids, { strict: true });
}

/** Run a list of user commands on this machine (pre_mount_commands, post_mount_commands), in order. */
export async function runCommandList(
  ctx: RunContext,
  host: HostCommands,
  name: string,
  list: readonly unknown[] | undefined,
  fields: Record<string, string>,
): Promise<void> {
  if (!list || list.length === 0) return;
  ctx.ui.say(`Running ${name}...`);
  for (const [i, raw] of list.entries()) {
    const label = `${name}[${i}]`;
    const command = renderWith(ctx, label, raw, fields);
    ctx.ui.message(`${label}: ${command}`);
    await host.runUser(command, { label, signal: ctx.signal, output: (s, c) => ctx.ui.output(s, c) });
  }
}
