/** PVE worker tasks: UPIDs and their running → stopped life cycle. */

export interface TaskInfo {
  upid: string;
  node: string;
  pid: number;
  pstart: number;
  starttime: number;
  type: string;
  id: string;
  user: string;
  status: "running" | "stopped";
  exitstatus?: string;
  log: string[];
  endtime?: number;
  done: Promise<void>;
}

const hex8 = (n: number) => n.toString(16).toUpperCase().padStart(8, "0");

export function formatUpid(
  t: Pick<TaskInfo, "node" | "pid" | "pstart" | "starttime" | "type" | "id" | "user">,
): string {
  return `UPID:${t.node}:${hex8(t.pid)}:${hex8(t.pstart)}:${hex8(t.starttime)}:${t.type}:${t.id}:${t.user}:`;
}

export function parseUpid(upid: string): Omit<TaskInfo, "status" | "log" | "done" | "upid"> | undefined {
  const m =
    /^UPID:([a-zA-Z0-9]([a-zA-Z0-9-]*[a-zA-Z0-9])?):([0-9A-Fa-f]{8}):([0-9A-Fa-f]{8,9}):([0-9A-Fa-f]{8}):([^:\s]+):([^:\s]*):([^:\s]+):$/.exec(
      upid,
    );
  if (!m) return undefined;
  return {
    node: m[1] as string,
    pid: Number.parseInt(m[3] as string, 16),
    pstart: Number.parseInt(m[4] as string, 16),
    starttime: Number.parseInt(m[5] as string, 16),
    type: m[6] as string,
    id: m[7] as string,
    user: m[8] as string,
  };
}

export class TaskError extends Error {}

export class Tasks {
  readonly all = new Map<string, TaskInfo>();
  private nextPid = 40000 + Math.floor(Math.random() * 10000);
  private readonly pstart = 1000000 + Math.floor(Math.random() * 1000000);
  private timers = new Set<NodeJS.Timeout>();
  private closed = false;

  constructor(
    private readonly node: string,
    /** Minimum duration of a task of this type, in ms. */
    private readonly durationMs: (type: string) => number,
    /** A forced failure for this type, if a fault asks for one. */
    private readonly forcedFailure: (type: string) => string | undefined,
  ) {}

  /** Starts a worker; `work` runs right away, the task stops after max(work, duration). */
  start(
    type: string,
    id: string | number,
    user: string,
    work: (log: (l: string) => void) => Promise<void>,
    /** Undo what the call did before its worker ran, when a fault makes the worker fail
     * (as PVE's own error paths do: a failed create or clone leaves no VM and no lock). */
    onForcedFailure?: () => void,
  ): TaskInfo {
    let starttime = Math.floor(Date.now() / 1000);
    const t: TaskInfo = {
      upid: "",
      node: this.node,
      pid: this.nextPid++,
      pstart: this.pstart,
      starttime,
      type,
      id: String(id),
      user,
      status: "running",
      log: [],
      done: Promise.resolve(),
    };
    t.upid = formatUpid(t);
    while (this.all.has(t.upid)) {
      t.starttime = ++starttime;
      t.upid = formatUpid(t);
    }
    const delay = this.durationMs(type);
    const forced = this.forcedFailure(type);
    const log = (l: string) => t.log.push(l);
    t.done = (async () => {
      let err: unknown;
      try {
        if (forced) {
          onForcedFailure?.();
          throw new TaskError(forced);
        }
        await work(log);
      } catch (e) {
        err = e;
      }
      if (delay > 0 && !this.closed) await this.sleep(delay);
      t.status = "stopped";
      t.endtime = Math.floor(Date.now() / 1000);
      if (err) {
        const msg = (err as Error).message ?? String(err);
        t.exitstatus = msg.replace(/\n+$/, "");
        log(`TASK ERROR: ${t.exitstatus}`);
      } else {
        t.exitstatus = "OK";
        log("TASK OK");
      }
    })();
    this.all.set(t.upid, t);
    return t;
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((r) => {
      const timer = setTimeout(() => {
        this.timers.delete(timer);
        r();
      }, ms);
      this.timers.add(timer);
    });
  }

  close(): void {
    this.closed = true;
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
  }
}
