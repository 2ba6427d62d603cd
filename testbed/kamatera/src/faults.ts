/**
 * Fault injection for the Kamatera double (the same style as the PVE double's): error or hanging
 * answers for matching requests, hooks that run before a request is handled, and per command
 * kind slow, failing, stuck or oddly ending commands; plus faults of the account's servers
 * (lost, without an external IP, with a snapshot) and of the answers' shapes.
 */
import { type FaultSpec, hitsRequest } from "@kiln-testbed/doubles";
import type { CommandKind } from "./queue.js";

export type { FaultSpec };

export interface CommandFate {
  /** End with status error and this log. */
  fail?: string;
  /** End with this status instead of complete/error. */
  status?: string;
  /** Never finish. */
  stick?: boolean;
}

export type IdShape = "strings" | "numbers" | "map";

export interface Faults {
  /** Answer matching requests with an error (or never). Returns an id for remove(). */
  inject(f: FaultSpec): number;
  /** Run `fn` before matching requests are handled (e.g. lose a server at a point of the flow). */
  before(
    match: { path: RegExp | string; method?: string; times?: number },
    fn: () => void | Promise<void>,
  ): number;
  remove(id: number): void;
  /** Commands of a kind (or "*") take at least ms. */
  slowCommands(kind: CommandKind | "*", ms: number): void;
  /** The next `times` commands of a kind end with status error and this log. */
  failCommand(kind: CommandKind, log: string, times?: number): void;
  /** The next `times` commands of a kind never finish. */
  stickCommand(kind: CommandKind, times?: number): void;
  /** The next `times` commands of a kind end with this status (e.g. "cancelled", "paused"). */
  oddStatus(kind: CommandKind, status: string, times?: number): void;
  /** How power and terminate answer their command ids: ["12"] (default), [12], or {commandIds: ["12"]}. */
  idShape(shape: IdShape): void;
  /** The next create command's log has no `Name:` line. */
  dropCreateLog(times?: number): void;
  /** The next create names the server `<name><suffix>` (Kamatera's log says so). */
  renameOnCreate(suffix?: string, times?: number): void;
  /** The server vanishes from the account (its machine is gone). */
  loseServer(name: string): Promise<void>;
  /** The server's WAN interface has no IP. */
  noExternalIp(name: string): void;
  /** A snapshot of the server's disk `disk`: the hdlib list gets a child entry before that disk. */
  snapshot(name: string, disk?: number): void;
  clear(): void;
  /** For the server: the fate of the next command of a kind (counted down). */
  commandFate(kind: CommandKind): CommandFate | undefined;
}

interface Counted<T> {
  value: T;
  left: number;
}

export interface FaultHooks {
  loseServer(name: string): Promise<void>;
  noExternalIp(name: string): void;
  snapshot(name: string, disk: number): void;
}

export function createFaults(hooks: FaultHooks) {
  let seq = 0;
  const answers = new Map<number, FaultSpec & { left: number }>();
  const befores = new Map<
    number,
    { path: RegExp | string; method?: string; left: number; fn: () => void | Promise<void> }
  >();
  const slow = new Map<string, number>();
  const fates = new Map<CommandKind, Array<Counted<CommandFate>>>();
  let shape: IdShape = "strings";
  let dropLog = 0;
  let rename: Counted<string> | undefined;

  const addFate = (kind: CommandKind, fate: CommandFate, times: number) => {
    const list = fates.get(kind) ?? [];
    list.push({ value: fate, left: times });
    fates.set(kind, list);
  };

  const faults: Faults = {
    inject(f) {
      const id = ++seq;
      answers.set(id, { ...f, left: f.times ?? Number.POSITIVE_INFINITY });
      return id;
    },
    before(match, fn) {
      const id = ++seq;
      befores.set(id, { ...match, left: match.times ?? 1, fn });
      return id;
    },
    remove(id) {
      answers.delete(id);
      befores.delete(id);
    },
    slowCommands(kind, ms) {
      slow.set(kind, ms);
    },
    failCommand(kind, log, times = 1) {
      addFate(kind, { fail: log }, times);
    },
    stickCommand(kind, times = 1) {
      addFate(kind, { stick: true }, times);
    },
    oddStatus(kind, status, times = 1) {
      addFate(kind, { status }, times);
    },
    idShape(s) {
      shape = s;
    },
    dropCreateLog(times = 1) {
      dropLog += times;
    },
    renameOnCreate(suffix = "-1", times = 1) {
      rename = { value: suffix, left: times };
    },
    loseServer: (name) => hooks.loseServer(name),
    noExternalIp: (name) => hooks.noExternalIp(name),
    snapshot: (name, disk = 0) => hooks.snapshot(name, disk),
    clear() {
      answers.clear();
      befores.clear();
      slow.clear();
      fates.clear();
      shape = "strings";
      dropLog = 0;
      rename = undefined;
    },
    commandFate(kind) {
      const list = fates.get(kind);
      const f = list?.[0];
      if (!f) return undefined;
      if (--f.left <= 0) list.shift();
      return f.value;
    },
  };

  return {
    faults,
    /** The error answer that hits this request, counted down. */
    takeAnswer(rel: string, method: string): FaultSpec | undefined {
      for (const [id, f] of answers) {
        if (!hitsRequest(f, rel, method)) continue;
        if (--f.left <= 0) answers.delete(id);
        return f;
      }
      return undefined;
    },
    /** The hooks to run before this request, counted down. */
    takeBefore(rel: string, method: string): Array<() => void | Promise<void>> {
      const out: Array<() => void | Promise<void>> = [];
      for (const [id, b] of befores) {
        if (!hitsRequest(b, rel, method)) continue;
        if (--b.left <= 0) befores.delete(id);
        out.push(b.fn);
      }
      return out;
    },
    slowMs: (kind: CommandKind) => Math.max(slow.get(kind) ?? 0, slow.get("*") ?? 0),
    idShape: () => shape,
    takeDropLog(): boolean {
      if (dropLog <= 0) return false;
      dropLog--;
      return true;
    },
    takeRename(): string | undefined {
      if (!rename) return undefined;
      const s = rename.value;
      if (--rename.left <= 0) rename = undefined;
      return s;
    },
  };
}

export type FaultState = ReturnType<typeof createFaults>;
