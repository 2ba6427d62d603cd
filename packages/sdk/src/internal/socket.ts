import { createConnection, type NetConnectOpts, type Socket } from "node:net";

export interface ConnectSocketOptions {
  /**
   * Give up on this one attempt after this many ms (the socket is destroyed and the promise
   * rejects with an error whose code is `ETIMEDOUT`). Without it, a host that drops the SYN
   * keeps the attempt pending for the OS's connect timeout (minutes).
   */
  timeoutMs?: number;
  /** Abort the attempt: the socket is destroyed and the promise rejects with `signal.reason`. */
  signal?: AbortSignal;
}

/**
 * Open a TCP or unix-socket connection; rejects (and destroys the socket) on the first error,
 * on `timeoutMs`, or when `signal` aborts.
 */
export function connectSocket(options: NetConnectOpts, opts: ConnectSocketOptions = {}): Promise<Socket> {
  const { timeoutMs, signal } = opts;
  if (signal?.aborted) return Promise.reject(signal.reason);
  return new Promise((resolve, reject) => {
    const sock = createConnection(options);
    let timer: NodeJS.Timeout | undefined;
    const cleanup = () => {
      if (timer) clearTimeout(timer);
      sock.off("error", onError);
      sock.off("connect", onConnect);
      signal?.removeEventListener("abort", onAbort);
    };
    const fail = (err: unknown) => {
      cleanup();
      // Keep a late "error" from the destroyed socket from going unhandled.
      sock.on("error", () => {});
      sock.destroy();
      reject(err);
    };
    const onError = (err: Error) => fail(err);
    const onAbort = () => fail(signal?.reason);
    const onConnect = () => {
      cleanup();
      resolve(sock);
    };
    sock.once("error", onError);
    sock.once("connect", onConnect);
    signal?.addEventListener("abort", onAbort, { once: true });
    if (timeoutMs !== undefined && Number.isFinite(timeoutMs)) {
      const ms = Math.max(0, timeoutMs);
      timer = setTimeout(() => {
        const where = "port" in options ? `${options.host ?? "localhost"}:${options.port}` : options.path;
        const err: NodeJS.ErrnoException = new Error(`connecting to ${where} timed out after ${ms} ms`);
        err.code = "ETIMEDOUT";
        fail(err);
      }, ms);
    }
  });
}
