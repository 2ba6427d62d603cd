/**
 * A client of the real qemu-guest-agent (QGA) over the virtio-serial port
 * `org.qemu.guest_agent.0`, whose host end is a unix socket QEMU listens on.
 *
 * The protocol is QMP-like JSON lines, but the channel has no greeting and keeps what the
 * guest did not read yet, so every (re)connection first syncs: `guest-sync-delimited` with a
 * random id, whose answer is preceded by a 0xFF byte; answers before it (stale replies of
 * earlier, timed-out requests) are dropped. A guest without an agent never answers the sync:
 * that is `AgentNotRunningError`, PVE's "QEMU guest agent is not running".
 */
import crypto from "node:crypto";
import net from "node:net";

export class AgentNotRunningError extends Error {
  constructor() {
    super("QEMU guest agent is not running");
    this.name = "AgentNotRunningError";
  }
}

/** The agent answered with an error (`{"error": {"class", "desc"}}`). */
export class AgentCommandError extends Error {
  constructor(
    readonly command: string,
    readonly errorClass: string,
    readonly desc: string,
  ) {
    super(`guest agent ${command}: ${desc}`);
    this.name = "AgentCommandError";
  }
}

/** Commands the agent does not answer when they succeed. */
const NO_REPLY = new Set([
  "guest-shutdown",
  "guest-suspend-disk",
  "guest-suspend-ram",
  "guest-suspend-hybrid",
]);

/** `ping` → `guest-ping`, `network-get-interfaces` → `guest-network-get-interfaces` (PVE's names). */
export const agentCommandName = (c: string): string => (c.startsWith("guest-") ? c : `guest-${c}`);

/**
 * Splits channel data into what precedes a sync answer and the JSON lines of answers.
 * Pure: `buf` in, `{ lines, rest }` out (complete lines, the incomplete tail); 0xFF bytes are
 * delimiters (QGA writes one before the answer of guest-sync-delimited) and are dropped.
 */
export function splitAgentData(buf: Buffer): { lines: string[]; rest: Buffer } {
  const lines: string[] = [];
  let start = 0;
  for (let i = 0; i < buf.length; i++) {
    const b = buf[i];
    if (b === 0xff) {
      start = i + 1;
    } else if (b === 0x0a) {
      const line = buf.subarray(start, i).toString("utf8").trim();
      if (line) lines.push(line);
      start = i + 1;
    }
  }
  return { lines, rest: Buffer.from(buf.subarray(start)) };
}

export interface AgentOptions {
  /** Wait for the sync answer this long (default 3 s): a booting guest's agent is "not running". */
  syncTimeoutMs?: number;
  /** Default time limit of a command (default 30 s; fsfreeze may take a while). */
  timeoutMs?: number;
}

export class GuestAgent {
  private sock: net.Socket | undefined;
  private synced = false;
  private buf: Buffer = Buffer.alloc(0);
  private waiter: ((line: string) => void) | undefined;
  private chain: Promise<unknown> = Promise.resolve();
  private closed = false;

  constructor(
    private readonly socketPath: string,
    private readonly o: AgentOptions = {},
  ) {}

  /**
   * Runs one agent command (`guest-` prefix optional) and resolves with its `return`.
   * Commands are sent one at a time, in call order.
   */
  execute<T = unknown>(command: string, args?: Record<string, unknown>, timeoutMs?: number): Promise<T> {
    const run = () => this.run<T>(agentCommandName(command), args, timeoutMs ?? this.o.timeoutMs ?? 30_000);
    const p = this.chain.then(run, run);
    this.chain = p.catch(() => undefined);
    return p;
  }

  private async run<T>(
    command: string,
    args: Record<string, unknown> | undefined,
    timeoutMs: number,
  ): Promise<T> {
    if (this.closed) throw new AgentNotRunningError();
    if (!this.synced) await this.sync();
    const msg = args ? { execute: command, arguments: args } : { execute: command };
    this.sock?.write(`${JSON.stringify(msg)}\n`);
    if (NO_REPLY.has(command)) {
      this.disconnect(); // its eventual error answer (if any) must not be read as the next reply
      return undefined as T;
    }
    let line: string;
    try {
      line = await this.next(timeoutMs);
    } catch {
      this.disconnect();
      throw new AgentNotRunningError();
    }
    const r = JSON.parse(line) as { return?: T; error?: { class?: string; desc?: string } };
    if (r.error)
      throw new AgentCommandError(command, r.error.class ?? "GenericError", r.error.desc ?? "error");
    return r.return as T;
  }

  private async sync(): Promise<void> {
    await this.connect();
    const id = crypto.randomInt(1, 2 ** 31);
    this.sock?.write(`${JSON.stringify({ execute: "guest-sync-delimited", arguments: { id } })}\n`);
    const deadline = Date.now() + (this.o.syncTimeoutMs ?? 3000);
    try {
      for (;;) {
        const line = await this.next(Math.max(1, deadline - Date.now()));
        try {
          if ((JSON.parse(line) as { return?: unknown }).return === id) break;
        } catch {
          /* garbage from an earlier session: skip */
        }
      }
    } catch {
      this.disconnect();
      throw new AgentNotRunningError();
    }
    this.synced = true;
  }

  private connect(): Promise<void> {
    if (this.sock) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const s = net.createConnection(this.socketPath);
      s.once("connect", () => {
        this.sock = s;
        resolve();
      });
      s.once("error", () => {
        this.disconnect();
        reject(new AgentNotRunningError());
      });
      s.on("data", (d: Buffer) => {
        const { lines, rest } = splitAgentData(Buffer.concat([this.buf, d]));
        this.buf = rest;
        for (const l of lines) this.lines.push(l);
        this.deliver();
      });
      s.on("close", () => {
        if (this.sock === s) this.disconnect();
      });
    });
  }

  private lines: string[] = [];

  private deliver(): void {
    if (this.waiter && this.lines.length) {
      const w = this.waiter;
      this.waiter = undefined;
      w(this.lines.shift() as string);
    }
  }

  private next(timeoutMs: number): Promise<string> {
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => {
        this.waiter = undefined;
        reject(new Error("agent timeout"));
      }, timeoutMs);
      this.waiter = (l) => {
        clearTimeout(t);
        resolve(l);
      };
      this.deliver();
    });
  }

  private disconnect(): void {
    this.synced = false;
    this.sock?.destroy();
    this.sock = undefined;
    this.buf = Buffer.alloc(0);
    this.lines = [];
  }

  close(): void {
    this.closed = true;
    this.disconnect();
  }
}
