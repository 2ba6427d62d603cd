/** What the route modules share: the handler shape and how command ids are answered. */
import type { FlagValue } from "../contract.js";
import type { FaultState } from "../faults.js";
import type { CommandState } from "../queue.js";
import type { Account } from "../state.js";

/** Handles one contract endpoint (by id) with its checked flags; returns the answer. */
export type Handler = (flags: Record<string, FlagValue>) => Promise<unknown> | unknown;
export type Handlers = Record<string, Handler>;

export interface RouteContext {
  account: Account;
  faults: FaultState;
  /** How long an ACPI power-off may take before the double pulls the plug. */
  shutdownTimeoutMs: number;
  /** Refuse to clone the disk of a server that is on (default: a crash-consistent copy). */
  refuseRunningClone: boolean;
  /** APP_DEBUG: post-processing errors carry the exception text. */
  appDebug: boolean;
}

/** The command ids of power/terminate answers, in the shape the idShape fault asks for. */
export function commandIdsAnswer(ctx: RouteContext, cmds: CommandState[]): unknown {
  const shape = ctx.faults.idShape();
  if (shape === "numbers") return cmds.map((c) => c.id);
  if (shape === "map") return { commandIds: cmds.map((c) => String(c.id)) };
  return cmds.map((c) => String(c.id));
}
