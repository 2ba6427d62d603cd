/**
 * Questions of `--debug` and `--on-error=ask|pause`, one at a time (parallel runs queue up), read
 * as a line in the terminal's normal (cooked) mode: the terminal echoes and edits the answer,
 * Ctrl-C is a real SIGINT, and since kiln never switches the terminal to raw mode, a kill
 * leaves nothing to restore. While a question is open, `before`/`after` let the live view step
 * aside (it holds its lines back), so the question is never drawn over.
 *
 * No terminal to answer on (stdin is not a TTY, or it closes), or the build is interrupted:
 * the question gets its fallback answer at once.
 */
import { createInterface } from "node:readline";

export interface AskerOptions {
  input: NodeJS.ReadStream;
  /** Writes the question where the answer is typed. */
  write: (text: string) => void;
  /** Says that nobody can answer (a line of output). */
  note: (text: string) => void;
  before?: () => void;
  after?: () => void;
  /** Aborted: open and queued questions get their fallback. */
  signal?: AbortSignal;
}

export type Ask = (question: string, fallback: string) => Promise<string>;

export function createAsker(opts: AskerOptions): Ask {
  let queue: Promise<unknown> = Promise.resolve();
  const one = (question: string, fallback: string): Promise<string> => {
    if (opts.signal?.aborted) return Promise.resolve(fallback);
    if (!opts.input.isTTY) {
      opts.note(`${question} (no terminal to answer: continuing)`);
      return Promise.resolve(fallback);
    }
    opts.before?.();
    opts.write(`${question} `);
    const rl = createInterface({ input: opts.input, terminal: false });
    return new Promise<string>((resolve) => {
      let settled = false;
      const settle = (answer: string, newline: boolean) => {
        if (settled) return;
        settled = true;
        opts.signal?.removeEventListener("abort", onAbort);
        rl.close();
        if (newline) opts.write("\n");
        opts.after?.();
        resolve(answer);
      };
      const onAbort = () => settle(fallback, true);
      rl.once("line", (line) => settle(line, false));
      rl.once("close", () => settle(fallback, true));
      opts.signal?.addEventListener("abort", onAbort, { once: true });
    });
  };
  return (question, fallback) => {
    const next = queue.then(() => one(question, fallback));
    queue = next.catch(() => undefined);
    return next;
  };
}
