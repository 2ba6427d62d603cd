/**
 * A minimal RFB (VNC) client: enough to type into a machine's console, nothing more.
 *
 * Written by hand on purpose: no maintained npm package offers a small RFB client for key
 * events only (the live ones are browser viewers or full framebuffer decoders; the Node ones
 * are unmaintained and lack VNC Authentication on OpenSSL 3). The protocol part needed here is
 * small (RFC 6143): version handshake (3.3, 3.7, 3.8), security types None (1) and VNC
 * Authentication (2, DES in ./des.ts), ClientInit, ServerInit, then KeyEvent messages.
 *
 * The client never asks for framebuffer updates; whatever the server sends after ServerInit
 * (bell, cut text, colour maps, an unasked-for update) is read and thrown away, so the server
 * never blocks on a full socket.
 */

import { EventEmitter } from "node:events";
import type { Socket } from "node:net";
import { abortableSleep, KilnError } from "@kiln/core";
import { connectSocket } from "../internal/socket.js";
import { vncAuthResponse } from "./des.js";

export type VncErrorCode =
  | "KILN_VNC_CONNECT"
  | "KILN_VNC_AUTH"
  | "KILN_VNC_PROTOCOL"
  | "KILN_VNC_TIMEOUT"
  | "KILN_VNC_CLOSED";

export class VncError extends KilnError {
  declare readonly code: VncErrorCode;

  constructor(code: VncErrorCode, message: string, options: { cause?: unknown; hint?: string } = {}) {
    super(code, message, {
      ...(options.cause !== undefined ? { cause: options.cause } : {}),
      ...(options.hint !== undefined ? { hint: options.hint } : {}),
    });
    this.name = "VncError";
  }
}

export const VNC_SECURITY_NONE = 1;
export const VNC_SECURITY_VNC_AUTH = 2;

export interface VncConnectOptions {
  /** Default 127.0.0.1. */
  host?: string;
  port: number;
  /** For VNC Authentication; only the first 8 characters count (the protocol's limit). */
  password?: string;
  /** ClientInit's shared flag: leave other viewers connected (default true). */
  shared?: boolean;
  /** How long to keep trying to connect and to finish the handshake, ms (default 10 000). */
  timeout?: number;
  /** Pause between connection attempts while the server is not listening yet, ms (default 100). */
  retryInterval?: number;
  signal?: AbortSignal;
}

export interface VncServerInit {
  width: number;
  height: number;
  /** The 16-byte PIXEL_FORMAT, as sent. */
  pixelFormat: Buffer;
  name: string;
}

const RETRY_CODES = new Set(["ECONNREFUSED", "ECONNRESET", "EAGAIN"]);

/** Reads exact byte counts from a socket during the handshake. */
class ByteReader {
  private chunks: Buffer[] = [];
  private size = 0;
  private waiter: { n: number; resolve: (b: Buffer) => void; reject: (e: Error) => void } | undefined;
  private failure: Error | undefined;

  push(chunk: Buffer): void {
    this.chunks.push(chunk);
    this.size += chunk.length;
    this.serve();
  }

  fail(err: Error): void {
    this.failure ??= err;
    const w = this.waiter;
    if (w && this.size < w.n) {
      this.waiter = undefined;
      w.reject(this.failure);
    }
  }

  read(n: number): Promise<Buffer> {
    if (this.waiter) return Promise.reject(new Error("concurrent reads"));
    return new Promise((resolve, reject) => {
      this.waiter = { n, resolve, reject };
      this.serve();
      if (this.waiter && this.failure) {
        this.waiter = undefined;
        reject(this.failure);
      }
    });
  }

  /** Whatever is buffered beyond the reads (handed over when the handshake ends). */
  rest(): Buffer {
    const b = Buffer.concat(this.chunks);
    this.chunks = [];
    this.size = 0;
    return b;
  }

  private serve(): void {
    const w = this.waiter;
    if (!w || this.size < w.n) return;
    const all = Buffer.concat(this.chunks);
    this.chunks = all.length > w.n ? [all.subarray(w.n)] : [];
    this.size = all.length - w.n;
    this.waiter = undefined;
    w.resolve(all.subarray(0, w.n));
  }
}

/**
 * A connected RFB session after ServerInit. Emits `"close"` once when the connection ends
 * (with the error, if any).
 */
export class VncClient extends EventEmitter {
  /** The protocol version agreed on: "3.3", "3.7" or "3.8". */
  readonly version: "3.3" | "3.7" | "3.8";
  /** The version string the server announced (`RFB 003.008`). */
  readonly serverVersion: string;
  readonly securityType: number;
  readonly serverInit: VncServerInit;
  readonly host: string;
  readonly port: number;
  private readonly sock: Socket;
  private isClosed = false;
  private closeReason: Error | undefined;

  private constructor(
    sock: Socket,
    info: {
      host: string;
      port: number;
      version: "3.3" | "3.7" | "3.8";
      serverVersion: string;
      securityType: number;
      serverInit: VncServerInit;
    },
  ) {
    super();
    this.sock = sock;
    this.host = info.host;
    this.port = info.port;
    this.version = info.version;
    this.serverVersion = info.serverVersion;
    this.securityType = info.securityType;
    this.serverInit = info.serverInit;
    // Server messages are not needed: read and drop them.
    sock.on("data", () => {});
    sock.on("error", (err) => {
      this.closeReason ??= err;
    });
    sock.on("close", () => {
      this.isClosed = true;
      this.emit("close", this.closeReason);
    });
  }

  /**
   * Connect to `host:port` (retrying while nothing listens yet), agree on a protocol version,
   * authenticate (None, or VNC Authentication with `password`), send ClientInit and read
   * ServerInit.
   */
  static async connect(options: VncConnectOptions): Promise<VncClient> {
    const host = options.host ?? "127.0.0.1";
    const { port, signal } = options;
    const timeout = options.timeout ?? 10_000;
    const retryInterval = options.retryInterval ?? 100;
    const deadline = Date.now() + timeout;
    const where = `${host}:${port}`;
    let sock: Socket;
    for (;;) {
      signal?.throwIfAborted();
      try {
        // Each attempt gets what is left of the timeout: a host that drops the SYN would
        // otherwise hold it for the OS's connect timeout (minutes), deaf to `signal`.
        sock = await connectSocket(
          { host, port },
          { timeoutMs: Math.max(deadline - Date.now(), 1), ...(signal ? { signal } : {}) },
        );
        break;
      } catch (err) {
        if (signal?.aborted) throw signal.reason;
        const code = (err as NodeJS.ErrnoException).code ?? "";
        if (!RETRY_CODES.has(code) || Date.now() + retryInterval > deadline) {
          throw new VncError(
            "KILN_VNC_CONNECT",
            `cannot connect to the VNC server at ${where}: ${(err as Error).message}`,
            {
              cause: err,
              hint: "Check that the VNC server runs and listens on that address and port.",
            },
          );
        }
        await abortableSleep(retryInterval, signal);
      }
    }
    // An abort that came as the connection was made: the listener below would never fire.
    if (signal?.aborted) {
      sock.destroy();
      signal.throwIfAborted();
    }

    const reader = new ByteReader();
    const onData = (chunk: Buffer) => reader.push(chunk);
    const onError = (err: Error) =>
      reader.fail(
        new VncError("KILN_VNC_CLOSED", `VNC connection to ${where} failed: ${err.message}`, { cause: err }),
      );
    const onClose = () =>
      reader.fail(
        new VncError(
          "KILN_VNC_CLOSED",
          `the VNC server at ${where} closed the connection during the handshake`,
        ),
      );
    const onAbort = () => {
      reader.fail(signal?.reason instanceof Error ? signal.reason : new Error("aborted"));
      sock.destroy();
    };
    const timer = setTimeout(
      () => {
        reader.fail(
          new VncError(
            "KILN_VNC_TIMEOUT",
            `the VNC handshake with ${where} did not finish within ${timeout} ms`,
          ),
        );
        sock.destroy();
      },
      Math.max(deadline - Date.now(), 1000),
    );
    sock.on("data", onData);
    sock.on("error", onError);
    sock.on("close", onClose);
    signal?.addEventListener("abort", onAbort, { once: true });
    try {
      const info = await handshake(sock, reader, where, options);
      sock.off("data", onData);
      sock.off("error", onError);
      sock.off("close", onClose);
      reader.rest();
      return new VncClient(sock, { host, port, ...info });
    } catch (err) {
      sock.destroy();
      throw err;
    } finally {
      clearTimeout(timer);
      signal?.removeEventListener("abort", onAbort);
    }
  }

  get closed(): boolean {
    return this.isClosed || this.sock.destroyed;
  }

  /** Send KeyEvent messages (one write): `[keysym, down]` pairs, in order. */
  sendKeyEvents(events: ReadonlyArray<readonly [keysym: number, down: boolean]>): Promise<void> {
    if (events.length === 0) return Promise.resolve();
    if (this.closed) {
      return Promise.reject(
        new VncError("KILN_VNC_CLOSED", `the VNC connection to ${this.host}:${this.port} is closed`, {
          ...(this.closeReason ? { cause: this.closeReason } : {}),
        }),
      );
    }
    const buf = Buffer.alloc(8 * events.length);
    events.forEach(([keysym, down], i) => {
      buf.writeUInt8(4, i * 8); // KeyEvent
      buf.writeUInt8(down ? 1 : 0, i * 8 + 1);
      buf.writeUInt32BE(keysym >>> 0, i * 8 + 4);
    });
    return new Promise((resolve, reject) => {
      this.sock.write(buf, (err) => {
        if (err) {
          reject(
            new VncError("KILN_VNC_CLOSED", `writing to the VNC server failed: ${err.message}`, {
              cause: err,
            }),
          );
        } else resolve();
      });
    });
  }

  /** Press (`down`) or release one key. */
  keyEvent(keysym: number, down: boolean): Promise<void> {
    return this.sendKeyEvents([[keysym, down]]);
  }

  /** End the connection politely; resolves when it is closed. */
  close(): Promise<void> {
    if (this.closed) return Promise.resolve();
    return new Promise((resolve) => {
      const t = setTimeout(() => this.sock.destroy(), 2000);
      this.sock.once("close", () => {
        clearTimeout(t);
        resolve();
      });
      this.sock.end();
    });
  }

  /** Drop the connection at once. */
  destroy(): void {
    this.sock.destroy();
  }
}

/** The longest server-sent reason kiln puts in an error message, in characters. */
export const VNC_REASON_MAX = 256;

async function readReason(reader: ByteReader): Promise<string> {
  const len = (await reader.read(4)).readUInt32BE(0);
  if (len === 0) return "";
  return cleanReason((await reader.read(Math.min(len, 65536))).toString("utf8"));
}

// biome-ignore lint/suspicious/noControlCharactersInRegex: matches terminal escape sequences, to remove them
const TERMINAL_ESCAPES = /\u001b\[[0-?]*[ -/]*[@-~]|\u001b\][^\u0007\u001b]*(?:\u0007|\u001b\\)?/g;
/** C0, DEL and C1 controls, and the bidi embeddings, overrides and isolates. */
const UNPRINTABLE = /[\p{Cc}\u202a-\u202e\u2066-\u2069]+/gu;

/**
 * Make a server-sent reason safe to print: ANSI escape sequences, control characters and
 * bidirectional overrides go, whitespace runs become one space, and the text is cut to
 * {@link VNC_REASON_MAX} characters.
 */
export function cleanReason(text: string): string {
  const clean = text
    // CSI and OSC sequences whole, so no "[31m" is left behind once ESC goes.
    .replace(TERMINAL_ESCAPES, "")
    .replace(UNPRINTABLE, " ")
    .replace(/\s+/g, " ")
    .trim();
  const chars = [...clean];
  return chars.length > VNC_REASON_MAX ? `${chars.slice(0, VNC_REASON_MAX - 1).join("")}…` : clean;
}

function write(sock: Socket, data: Buffer | string): void {
  sock.write(data);
}

async function handshake(
  sock: Socket,
  reader: ByteReader,
  where: string,
  options: VncConnectOptions,
): Promise<{
  version: "3.3" | "3.7" | "3.8";
  serverVersion: string;
  securityType: number;
  serverInit: VncServerInit;
}> {
  // ProtocolVersion: "RFB xxx.yyy\n".
  const greeting = (await reader.read(12)).toString("latin1");
  const m = /^RFB (\d{3})\.(\d{3})\n$/.exec(greeting);
  if (!m) {
    throw new VncError(
      "KILN_VNC_PROTOCOL",
      `${where} is not a VNC server (it said ${JSON.stringify(greeting)})`,
      {
        hint: "Check the port: VNC display N listens on 5900 + N.",
      },
    );
  }
  const major = Number(m[1]);
  const minor = Number(m[2]);
  if (major < 3)
    throw new VncError("KILN_VNC_PROTOCOL", `${where} speaks RFB ${major}.${minor}, older than 3.3`);
  // 3.8 and anything newer (Apple's 3.889) → 3.8; 3.7 → 3.7; the rest (3.3, 3.5 …) → 3.3, as RFC 6143 says.
  const version = major > 3 || minor >= 8 ? "3.8" : minor === 7 ? "3.7" : "3.3";
  write(sock, `RFB 003.00${version.slice(2)}\n`);
  const serverVersion = greeting.trimEnd();

  // Security.
  let securityType: number;
  if (version === "3.3") {
    securityType = (await reader.read(4)).readUInt32BE(0);
    if (securityType === 0) {
      // A short or missing reason must not hide the refusal behind "closed during the handshake".
      const reason = await readReason(reader).catch(() => "");
      throw new VncError(
        "KILN_VNC_AUTH",
        `the VNC server at ${where} refused the connection${reason ? `: ${reason}` : ""}`,
      );
    }
    if (securityType !== VNC_SECURITY_NONE && securityType !== VNC_SECURITY_VNC_AUTH) {
      throw new VncError(
        "KILN_VNC_AUTH",
        `the VNC server at ${where} wants security type ${securityType}, which kiln does not speak`,
        {
          hint: "kiln speaks None and VNC Authentication (a password).",
        },
      );
    }
  } else {
    const count = (await reader.read(1)).readUInt8(0);
    if (count === 0) {
      const reason = await readReason(reader).catch(() => "");
      throw new VncError(
        "KILN_VNC_AUTH",
        `the VNC server at ${where} refused the connection${reason ? `: ${reason}` : ""}`,
      );
    }
    const types = [...(await reader.read(count))];
    if (types.includes(VNC_SECURITY_NONE)) securityType = VNC_SECURITY_NONE;
    else if (types.includes(VNC_SECURITY_VNC_AUTH)) securityType = VNC_SECURITY_VNC_AUTH;
    else {
      throw new VncError(
        "KILN_VNC_AUTH",
        `the VNC server at ${where} offers security types ${types.join(", ")}; kiln speaks only None (1) and VNC Authentication (2)`,
        {
          hint: "Configure the VNC server for no authentication or a plain VNC password (no TLS/SASL/VeNCrypt).",
        },
      );
    }
    write(sock, Buffer.from([securityType]));
  }

  if (securityType === VNC_SECURITY_VNC_AUTH) {
    if (options.password === undefined) {
      throw new VncError("KILN_VNC_AUTH", `the VNC server at ${where} wants a password and none was given`);
    }
    const challenge = await reader.read(16);
    write(sock, vncAuthResponse(options.password, challenge));
  }

  // SecurityResult: always in 3.8; in 3.3/3.7 only after VNC Authentication.
  if (version === "3.8" || securityType === VNC_SECURITY_VNC_AUTH) {
    const result = (await reader.read(4)).readUInt32BE(0);
    if (result !== 0) {
      const reason = version === "3.8" ? await readReason(reader).catch(() => "") : "";
      throw new VncError(
        "KILN_VNC_AUTH",
        `VNC authentication with ${where} failed${reason ? `: ${reason}` : ""}`,
        securityType === VNC_SECURITY_VNC_AUTH ? { hint: "Check the VNC password." } : {},
      );
    }
  }

  // ClientInit → ServerInit.
  write(sock, Buffer.from([options.shared === false ? 0 : 1]));
  const head = await reader.read(24);
  const nameLength = head.readUInt32BE(20);
  const name = nameLength > 0 ? (await reader.read(Math.min(nameLength, 1 << 20))).toString("utf8") : "";
  return {
    version,
    serverVersion,
    securityType,
    serverInit: {
      width: head.readUInt16BE(0),
      height: head.readUInt16BE(2),
      pixelFormat: Buffer.from(head.subarray(4, 20)),
      name,
    },
  };
}
