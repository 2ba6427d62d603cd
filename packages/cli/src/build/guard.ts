/**
 * What keeps a `kiln build` honest at the process level, for as long as the build runs:
 *
 * - SIGINT, SIGTERM, SIGHUP and SIGQUIT stop the build (cleanups run) instead of killing kiln.
 * - A closed stdout or stderr (`kiln build f.yaml | head`: EPIPE) stops the output, and the build
 *   is stopped as by an interrupt, so cleanups run and the exit code says it did not finish.
 * - An error thrown where nothing awaits it (a plugin's timer, an unawaited promise) fails the
 *   run whose code threw it (every run, when it came from none); kiln does not crash.
 * - `process.exit()` called by plugin code throws instead of ending kiln mid-build.
 * - When nothing is left running but the build has not finished (a plugin promise that never
 *   settles), the build is stopped with that error; the process never ends with exit code 0
 *   while a build is unfinished.
 */
import { failRunOf, KilnError, messageOf, StalledError } from "@kiln/core";

export const STOP_SIGNALS: NodeJS.Signals[] = ["SIGINT", "SIGTERM", "SIGHUP", "SIGQUIT"];

export interface GuardOptions {
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
  /** Stop the whole build with this reason (cleanups run). */
  stop: (reason: unknown) => void;
  /** A stop signal arrived. */
  onSignal: (signal: NodeJS.Signals) => void;
  /** What is still running, e.g. `img.qemu.a (boot)`, for messages. */
  pending: () => string[];
}

export interface Guard {
  /** Writes to `stream` unless it was closed (EPIPE); give this to renderers. */
  safe(stream: NodeJS.WritableStream): NodeJS.WritableStream;
  /** The build has finished: put everything back. */
  dispose(): void;
}

const CLOSED = new Set(["EPIPE", "ERR_STREAM_DESTROYED", "ERR_STREAM_WRITE_AFTER_END", "EIO"]);

export function guardBuild(opts: GuardOptions): Guard {
  const closed = new Set<NodeJS.WritableStream>();
  let done = false;
  const disposers: (() => void)[] = [];
  // biome-ignore lint/suspicious/noExplicitAny: listeners of different events take different arguments
  const on = (target: NodeJS.EventEmitter, event: string, fn: (...a: any[]) => void) => {
    target.on(event, fn);
    disposers.push(() => target.off(event, fn));
  };

  for (const sig of STOP_SIGNALS) on(process, sig, () => opts.onSignal(sig));

  for (const [name, stream] of [
    ["stdout", opts.stdout],
    ["stderr", opts.stderr],
  ] as const) {
    quietWhenClosed(stream);
    on(stream, "error", (err: NodeJS.ErrnoException) => {
      if (!CLOSED.has(err.code ?? "")) return;
      if (closed.has(stream)) return;
      closed.add(stream);
      if (!done)
        opts.stop(
          new KilnError(
            "KILN_OUTPUT_CLOSED",
            `kiln's ${name} was closed (${err.code}); the build was stopped and cleaned up`,
            {
              hint: "Keep the reader open (kiln build f.yaml | tee out.txt), or use --json and read it to the end.",
            },
          ),
        );
    });
  }

  const uncaught = (err: unknown) => {
    if (done) return;
    if (failRunOf(err)) return;
    opts.stop(
      new KilnError("KILN_PLUGIN_CRASH", `an error was thrown where nothing awaited it: ${messageOf(err)}`, {
        cause: err,
      }),
    );
  };
  on(process, "uncaughtException", uncaught);
  on(process, "unhandledRejection", uncaught);

  const realExit = process.exit;
  process.exit = ((code?: number | string | null) => {
    throw new KilnError(
      "KILN_PLUGIN_EXIT",
      `plugin code called process.exit(${code ?? ""}) during the build; kiln stopped the run instead, so that its cleanups run`,
      {
        hint: "A plugin must throw an error (or return) rather than end the process. Report it to its author.",
      },
    );
  }) as typeof process.exit;
  disposers.push(() => {
    process.exit = realExit;
  });

  let stalls = 0;
  on(process, "beforeExit", () => {
    if (done) return;
    const pending = opts.pending().join(", ") || "the build";
    if (++stalls === 1) {
      opts.stop(new StalledError(pending));
      return;
    }
    // Stopped already, and still nothing can finish (a cleanup that never settles).
    opts.stderr.write(
      `kiln: ${pending} never finished after the build was stopped, and nothing is left that could finish it; exiting\n`,
    );
    process.exitCode = 1;
  });
  on(process, "exit", (code: number) => {
    if (done || code !== 0) return;
    // Whatever ended the process, an unfinished build is not a success.
    process.exitCode = 1;
    opts.stderr.write("kiln: the process ended before the build finished\n");
  });

  return {
    // Renderers only write lines; the TTY renderer gets the terminal itself.
    safe: (stream) =>
      ({
        write: (chunk: string) => !closed.has(stream) && stream.write(chunk),
      }) as unknown as NodeJS.WritableStream,
    dispose: () => {
      done = true;
      for (const d of disposers.splice(0)) d();
    },
  };
}

const quieted = new WeakSet<NodeJS.WritableStream>();
/** A closed stdout/stderr never crashes kiln, also after the build (its last lines). */
function quietWhenClosed(stream: NodeJS.WritableStream): void {
  if (quieted.has(stream) || (stream !== process.stdout && stream !== process.stderr)) return;
  quieted.add(stream);
  stream.on("error", (err: NodeJS.ErrnoException) => {
    if (!CLOSED.has(err.code ?? "")) throw err;
  });
}
