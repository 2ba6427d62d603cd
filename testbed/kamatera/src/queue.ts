/**
 * The double's command queue: every mutating call starts a command with an increasing integer
 * id. A command is `pending`, then `running` while its work runs, then `complete` or `error`
 * (with the reason in `log`), taking at least its kind's duration. Faults can slow, fail,
 * stick (never finish) or give it an odd final status.
 */
import type { Faults } from "./faults.js";

export type CommandKind = "create" | "poweroff" | "poweron" | "reboot" | "terminate" | "clone";

export interface CommandState {
  id: number;
  kind: CommandKind;
  server: string;
  description: string;
  status: string;
  added: string;
  executed: string | null;
  completed: string | null;
  log: string;
  /** Resolves when the command has ended (a stuck one: when its server is gone). */
  done: Promise<void>;
}

/** A command's work: returns the log of a success, throws for an error (the message is the log). */
export type CommandWork = (cmd: CommandState) => Promise<string>;

const stamp = () =>
  new Date()
    .toISOString()
    .replace("T", " ")
    .replace(/\.\d+Z$/, "");
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export class Queue {
  readonly all = new Map<number, CommandState>();
  private seq = 1000;
  private closed = false;

  constructor(
    private readonly durationOf: (kind: CommandKind) => number,
    private readonly faults: Faults,
    /** Whether no server of this name exists (any more): a stuck command of it then ends. */
    private readonly isGone: (server: string) => boolean,
  ) {}

  start(kind: CommandKind, server: string, description: string, work: CommandWork): CommandState {
    const cmd: CommandState = {
      id: ++this.seq,
      kind,
      server,
      description,
      status: "pending",
      added: stamp(),
      executed: null,
      completed: null,
      log: "",
      done: Promise.resolve(),
    };
    this.all.set(cmd.id, cmd);
    cmd.done = this.run(cmd, work);
    return cmd;
  }

  private async run(cmd: CommandState, work: CommandWork): Promise<void> {
    const total = this.durationOf(cmd.kind);
    const t0 = Date.now();
    await sleep(Math.floor(total / 4));
    if (this.closed) return;
    cmd.status = "running";
    cmd.executed = stamp();
    const fate = this.faults.commandFate(cmd.kind);
    if (fate?.stick) {
      // Stuck: never finishes while its server exists. A create does its work first (the
      // server is there, its command hangs); any other command does nothing.
      if (cmd.kind === "create") await work(cmd).catch(() => {});
      while (!this.closed && cmd.status === "running" && !this.isGone(cmd.server)) await sleep(25);
      if (!this.closed) this.abort(cmd, "Server was terminated");
      return;
    }
    let ok = true;
    let log = "";
    if (fate?.fail !== undefined) {
      // A failing command does nothing (a failed create leaves its server half made: listed, no machine).
      ok = false;
      log = fate.fail;
    } else {
      try {
        log = await work(cmd);
      } catch (e) {
        ok = false;
        log = (e as Error).message;
      }
    }
    const left = total - (Date.now() - t0);
    if (left > 0) await sleep(left);
    if (this.closed || cmd.status !== "running") return; // ended elsewhere (e.g. the server was terminated)
    cmd.log = log;
    cmd.status = fate?.status ?? (ok ? "complete" : "error");
    cmd.completed = stamp();
  }

  /** End a running command from outside (its server went away). */
  abort(cmd: CommandState, log: string): void {
    if (cmd.status !== "pending" && cmd.status !== "running") return;
    cmd.status = "error";
    cmd.log = log;
    cmd.completed = stamp();
  }

  unfinished(): CommandState[] {
    return [...this.all.values()].filter((c) => c.status === "pending" || c.status === "running");
  }

  close(): void {
    this.closed = true;
  }
}
