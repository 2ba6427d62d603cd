/**
 * A client for QEMU's machine protocol (QMP) over a unix socket, as opened by
 * `qemu-system-… -qmp unix:PATH,server=on,wait=off`.
 */

import { EventEmitter } from "node:events";
import { readFile, rm, writeFile } from "node:fs/promises";
import type { Socket } from "node:net";
import { StringDecoder } from "node:string_decoder";
import { abortableSleep, KilnError } from "@kiln/core";
import { connectSocket } from "../internal/socket.js";
import { ppmToPng } from "./png.js";

export type QmpErrorCode =
  | "KILN_QMP_CONNECT"
  | "KILN_QMP_COMMAND"
  | "KILN_QMP_CLOSED"
  | "KILN_QMP_TIMEOUT"
  | "KILN_QMP_PROTOCOL";

/** A QMP failure. `qmpClass` is QEMU's error class (`GenericError`, `CommandNotFound`, …) for command errors. */
export class QmpError extends KilnError {
  declare readonly code: QmpErrorCode;
  readonly qmpClass: string | undefined;
  readonly command: string | undefined;

  constructor(
    code: QmpErrorCode,
    message: string,
    options: { cause?: unknown; hint?: string; qmpClass?: string; command?: string } = {},
  ) {
    super(code, message, {
      ...(options.cause !== undefined ? { cause: options.cause } : {}),
      ...(options.hint !== undefined ? { hint: options.hint } : {}),
    });
    this.name = "QmpError";
    this.qmpClass = options.qmpClass;
    this.command = options.command;
  }
}

export interface QmpEvent {
  event: string;
  data?: Record<string, unknown>;
  timestamp?: { seconds: number; microseconds: number };
}

export interface QmpGreeting {
  version: { qemu: { major: number; minor: number; micro: number }; package?: string };
  capabilities: string[];
}

export interface QmpStatus {
  status: string;
  running: boolean;
  singlestep?: boolean;
}

export interface QmpConnectOptions {
  /** How long to keep trying for the socket to appear and QEMU to greet, ms (default 10 000). */
  timeout?: number;
  /** Pause between attempts, ms (default 50). */
  retryInterval?: number;
  /** Default time limit of each command, ms (default 60 000; 0 for none). */
  commandTimeout?: number;
  signal?: AbortSignal;
}

export interface ExecuteOptions {
  /** Time limit, ms; overrides the client's default (0 for none). */
  timeout?: number;
  signal?: AbortSignal;
}

export interface ScreendumpOptions {
  /** Default "png". */
  format?: "png" | "ppm";
  /** Always have QEMU write PPM and convert it here (what happens anyway on QEMU before 7.1). */
  convert?: boolean;
  device?: string;
  head?: number;
}

interface Pending {
  command: string;
  resolve: (value: unknown) => void;
  reject: (err: Error) => void;
  timer: NodeJS.Timeout | undefined;
  cleanup: () => void;
}

const RETRY_CODES = new Set(["ENOENT", "ECONNREFUSED", "EAGAIN", "ENOTSOCK"]);

/**
 * A connected QMP session. Events are emitted as `"event"` (the whole {@link QmpEvent}) and
 * under their own name (`"SHUTDOWN"`, `"POWERDOWN"`, `"STOP"`, `"RESUME"` …) with `(data, event)`;
 * `"close"` is emitted once when the connection ends.
 */
export class QmpClient extends EventEmitter {
  readonly path: string;
  readonly greeting: QmpGreeting;
  private readonly sock: Socket;
  private readonly pending = new Map<string, Pending>();
  private readonly commandTimeout: number;
  private nextId = 1;
  private buffer = "";
  private readonly decoder = new StringDecoder("utf8");
  private isClosed = false;
  private closeReason: Error | undefined;

  private constructor(path: string, sock: Socket, greeting: QmpGreeting, commandTimeout: number) {
    super();
    this.path = path;
    this.sock = sock;
    this.greeting = greeting;
    this.commandTimeout = commandTimeout;
  }

  /**
   * Connect to the QMP socket at `path`, retrying while it does not exist yet (QEMU is still
   * starting), read the greeting and negotiate capabilities.
   */
  static async connect(path: string, options: QmpConnectOptions = {}): Promise<QmpClient> {
    const timeout = options.timeout ?? 10_000;
    const retryInterval = options.retryInterval ?? 50;
    const deadline = Date.now() + timeout;
    const { signal } = options;
    let sock: Socket | undefined;
    let lastError: unknown;
    for (;;) {
      signal?.throwIfAborted();
      try {
        sock = await connectSocket(
          { path },
          { timeoutMs: Math.max(deadline - Date.now(), 1), ...(signal ? { signal } : {}) },
        );
        break;
      } catch (err) {
        if (signal?.aborted) throw signal.reason;
        lastError = err;
        const code = (err as NodeJS.ErrnoException).code ?? "";
        if (!RETRY_CODES.has(code)) {
          throw new QmpError(
            "KILN_QMP_CONNECT",
            `cannot connect to QMP socket ${path}: ${(err as Error).message}`,
            {
              cause: err,
            },
          );
        }
        if (Date.now() + retryInterval > deadline) {
          throw new QmpError(
            "KILN_QMP_CONNECT",
            `QMP socket ${path} did not accept a connection within ${timeout} ms (${code})`,
            {
              cause: lastError,
              hint: "Check that QEMU started (see its output) and was given -qmp unix:PATH,server=on,wait=off.",
            },
          );
        }
        await abortableSleep(retryInterval, signal);
      }
    }

    // An abort that came as the connection was made: readGreeting's listener would never fire.
    if (signal?.aborted) {
      sock.destroy();
      signal.throwIfAborted();
    }
    const greeting = await readGreeting(sock, Math.max(deadline - Date.now(), 1000), signal).catch((err) => {
      sock.destroy();
      throw err;
    });
    const client = new QmpClient(path, sock, greeting, options.commandTimeout ?? 60_000);
    client.attach();
    try {
      await client.execute("qmp_capabilities", undefined, { timeout: Math.max(deadline - Date.now(), 1000) });
    } catch (err) {
      client.destroy();
      throw err;
    }
    return client;
  }

  /** QEMU's version, from the greeting. */
  get version(): { major: number; minor: number; micro: number } {
    return this.greeting.version.qemu;
  }

  get closed(): boolean {
    return this.isClosed;
  }

  private attach() {
    this.sock.on("data", (chunk: Buffer) => this.onData(this.decoder.write(chunk)));
    this.sock.on("error", (err) => {
      this.closeReason = err;
    });
    this.sock.on("close", () => this.onClose());
    this.sock.resume();
  }

  private onData(chunk: string) {
    this.buffer += chunk;
    let nl = this.buffer.indexOf("\n");
    while (nl !== -1) {
      const line = this.buffer.slice(0, nl).trim();
      this.buffer = this.buffer.slice(nl + 1);
      if (line !== "") this.onMessage(line);
      nl = this.buffer.indexOf("\n");
    }
  }

  private onMessage(line: string) {
    let msg: Record<string, unknown>;
    try {
      msg = JSON.parse(line) as Record<string, unknown>;
    } catch {
      this.emit(
        "protocolError",
        new QmpError("KILN_QMP_PROTOCOL", `QMP sent a line that is not JSON: ${line.slice(0, 200)}`),
      );
      return;
    }
    if (typeof msg.event === "string") {
      const ev = msg as unknown as QmpEvent;
      this.emit("event", ev);
      this.emit(ev.event, ev.data, ev);
      return;
    }
    const id = typeof msg.id === "string" ? msg.id : undefined;
    const p = id === undefined ? undefined : this.pending.get(id);
    if (!p || id === undefined) return; // a reply nobody waits for (timed out, or not ours)
    this.pending.delete(id);
    p.cleanup();
    if ("error" in msg) {
      const e = (msg.error ?? {}) as { class?: string; desc?: string };
      p.reject(
        new QmpError("KILN_QMP_COMMAND", `QMP command ${p.command} failed: ${e.desc ?? "unknown error"}`, {
          ...(e.class !== undefined ? { qmpClass: e.class } : {}),
          command: p.command,
        }),
      );
    } else {
      p.resolve(msg.return);
    }
  }

  private onClose() {
    if (this.isClosed) return;
    this.isClosed = true;
    for (const [id, p] of this.pending) {
      this.pending.delete(id);
      p.cleanup();
      p.reject(
        new QmpError("KILN_QMP_CLOSED", `QMP connection closed before ${p.command} completed`, {
          command: p.command,
          ...(this.closeReason ? { cause: this.closeReason } : {}),
        }),
      );
    }
    this.emit("close", this.closeReason);
  }

  /**
   * Run a QMP command and return its `return` value. QEMU errors reject with a {@link QmpError}
   * (code `KILN_QMP_COMMAND`, `qmpClass` set).
   */
  execute<T = unknown>(
    command: string,
    args?: Record<string, unknown>,
    options: ExecuteOptions = {},
  ): Promise<T> {
    if (this.isClosed) {
      return Promise.reject(
        new QmpError("KILN_QMP_CLOSED", `QMP connection is closed; cannot run ${command}`, { command }),
      );
    }
    const { signal } = options;
    if (signal?.aborted) return Promise.reject(signal.reason);
    const id = `kiln-${this.nextId++}`;
    const timeout = options.timeout ?? this.commandTimeout;
    return new Promise<T>((resolve, reject) => {
      const onAbort = () => {
        this.pending.delete(id);
        cleanup();
        reject(signal?.reason);
      };
      const timer =
        timeout > 0
          ? setTimeout(() => {
              this.pending.delete(id);
              cleanup();
              reject(
                new QmpError("KILN_QMP_TIMEOUT", `QMP command ${command} got no reply within ${timeout} ms`, {
                  command,
                }),
              );
            }, timeout)
          : undefined;
      const cleanup = () => {
        if (timer) clearTimeout(timer);
        signal?.removeEventListener("abort", onAbort);
      };
      signal?.addEventListener("abort", onAbort, { once: true });
      this.pending.set(id, { command, resolve: resolve as (v: unknown) => void, reject, timer, cleanup });
      const msg = args === undefined ? { execute: command, id } : { execute: command, arguments: args, id };
      this.sock.write(`${JSON.stringify(msg)}\n`);
    });
  }

  /**
   * Resolve with the next event named `name` (or any of `names`) for which `filter` holds.
   * Call it before the action that causes the event.
   */
  waitForEvent(
    name: string | readonly string[],
    options: { timeout?: number; signal?: AbortSignal; filter?: (ev: QmpEvent) => boolean } = {},
  ): Promise<QmpEvent> {
    const names = typeof name === "string" ? [name] : name;
    const { signal, timeout, filter } = options;
    if (signal?.aborted) return Promise.reject(signal.reason);
    return new Promise((resolve, reject) => {
      const done = () => {
        this.off("event", onEvent);
        this.off("close", onClose);
        signal?.removeEventListener("abort", onAbort);
        if (timer) clearTimeout(timer);
      };
      const onEvent = (ev: QmpEvent) => {
        if (!names.includes(ev.event) || (filter && !filter(ev))) return;
        done();
        resolve(ev);
      };
      const onClose = () => {
        done();
        reject(new QmpError("KILN_QMP_CLOSED", `QMP connection closed while waiting for ${names.join("/")}`));
      };
      const onAbort = () => {
        done();
        reject(signal?.reason);
      };
      const timer =
        timeout !== undefined && timeout > 0
          ? setTimeout(() => {
              done();
              reject(new QmpError("KILN_QMP_TIMEOUT", `no ${names.join("/")} event within ${timeout} ms`));
            }, timeout)
          : undefined;
      this.on("event", onEvent);
      this.once("close", onClose);
      signal?.addEventListener("abort", onAbort, { once: true });
      if (this.isClosed) onClose();
    });
  }

  /** `query-status`: the run state (`running`, `paused`, `prelaunch`, `shutdown` …). */
  queryStatus(): Promise<QmpStatus> {
    return this.execute<QmpStatus>("query-status");
  }

  /**
   * `send-key`: press `qcodes` together, hold them `holdTimeMs` (QEMU's default is 100 ms) and
   * release them in reverse order.
   */
  async sendKeys(qcodes: readonly string[], holdTimeMs?: number): Promise<void> {
    const args: Record<string, unknown> = { keys: qcodes.map((data) => ({ type: "qcode", data })) };
    if (holdTimeMs !== undefined) args["hold-time"] = Math.max(0, Math.round(holdTimeMs));
    await this.execute("send-key", args);
  }

  /** `input-send-event` with key events: each `[qcode, down]` in order, delivered at once. */
  async sendKeyEvents(events: ReadonlyArray<readonly [qcode: string, down: boolean]>): Promise<void> {
    await this.execute("input-send-event", {
      events: events.map(([data, down]) => ({ type: "key", data: { down, key: { type: "qcode", data } } })),
    });
  }

  /** `system_powerdown`: press the ACPI power button (the guest decides what to do). */
  async systemPowerdown(): Promise<void> {
    await this.execute("system_powerdown");
  }

  /** `quit`: stop QEMU at once. Resolves when QEMU acknowledged or closed the connection. */
  async quit(): Promise<void> {
    if (this.isClosed) return;
    try {
      await this.execute("quit", undefined, { timeout: 10_000 });
    } catch (err) {
      if ((err as QmpError).code !== "KILN_QMP_CLOSED") throw err;
    }
  }

  /**
   * Save the screen to `file` (a path QEMU can write) as PNG (default) or PPM. Where QEMU
   * cannot write PNG (before 7.1), it writes PPM and this converts it.
   */
  async screendump(
    file: string,
    options: ScreendumpOptions = {},
  ): Promise<{ file: string; format: "png" | "ppm" }> {
    const format = options.format ?? "png";
    const base: Record<string, unknown> = {};
    if (options.device !== undefined) base.device = options.device;
    if (options.head !== undefined) base.head = options.head;
    if (format === "ppm") {
      await this.execute("screendump", { ...base, filename: file });
      return { file, format };
    }
    if (!options.convert) {
      try {
        await this.execute("screendump", { ...base, filename: file, format: "png" });
        return { file, format };
      } catch (err) {
        const e = err as QmpError;
        const formatUnsupported =
          e.code === "KILN_QMP_COMMAND" &&
          /format/i.test(e.message) &&
          !/no such file|permission/i.test(e.message);
        if (!formatUnsupported) throw err;
      }
    }
    const tmp = `${file}.${process.pid}.${Date.now()}.ppm`;
    try {
      await this.execute("screendump", { ...base, filename: tmp });
      const png = ppmToPng(await readFile(tmp));
      await writeFile(file, png);
    } finally {
      await rm(tmp, { force: true });
    }
    return { file, format };
  }

  /** Close the connection (QEMU keeps running). */
  close(): Promise<void> {
    if (this.isClosed) return Promise.resolve();
    return new Promise((resolve) => {
      this.once("close", () => resolve());
      this.sock.end();
      setTimeout(() => this.sock.destroy(), 1000).unref();
    });
  }

  /** Drop the connection at once. */
  destroy(): void {
    this.sock.destroy();
  }
}

function readGreeting(sock: Socket, timeout: number, signal?: AbortSignal): Promise<QmpGreeting> {
  return new Promise((resolve, reject) => {
    let buf = "";
    const done = () => {
      clearTimeout(timer);
      sock.off("data", onData);
      sock.off("close", onClose);
      sock.off("error", onError);
      sock.pause();
      signal?.removeEventListener("abort", onAbort);
    };
    const fail = (err: Error) => {
      done();
      reject(err);
    };
    const onData = (chunk: Buffer) => {
      buf += chunk.toString("utf8");
      const nl = buf.indexOf("\n");
      if (nl === -1) return;
      const line = buf.slice(0, nl).trim();
      const rest = buf.slice(nl + 1);
      done();
      if (rest !== "") sock.unshift(Buffer.from(rest, "utf8"));
      try {
        const msg = JSON.parse(line) as { QMP?: QmpGreeting };
        if (!msg.QMP) throw new Error("no QMP greeting");
        resolve(msg.QMP);
      } catch {
        reject(new QmpError("KILN_QMP_PROTOCOL", `expected a QMP greeting, got: ${line.slice(0, 200)}`));
      }
    };
    const onClose = () =>
      fail(
        new QmpError("KILN_QMP_CONNECT", "QMP socket closed before the greeting", {
          hint: "Is another client connected to this QMP socket? QEMU serves one at a time.",
        }),
      );
    const onError = (err: Error) =>
      fail(new QmpError("KILN_QMP_CONNECT", `QMP socket error: ${err.message}`, { cause: err }));
    const onAbort = () => fail(signal?.reason as Error);
    const timer = setTimeout(
      () =>
        fail(
          new QmpError("KILN_QMP_TIMEOUT", `no QMP greeting within ${timeout} ms`, {
            hint: "Is another client connected to this QMP socket? QEMU serves one at a time.",
          }),
        ),
      timeout,
    );
    sock.on("data", onData);
    sock.once("close", onClose);
    sock.once("error", onError);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}
