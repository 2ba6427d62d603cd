/**
 * For the terminal tests: run a command in a real pseudo-terminal (@lydell/node-pty) and feed what it
 * writes into a real terminal emulator (xterm.js, headless), so tests read the screen a person
 * would see — wrapped rows, erased lines, the cursor — not the escape codes.
 *
 * Output is fed frame by frame: a frame ends where kiln ends a synchronized-output block
 * (ESC[?2026l), which is what a terminal that honours the mode paints at once. `frames` holds the
 * screen after each frame, so a test can check every state the screen was in.
 */
import { fileURLToPath } from "node:url";
import pty from "@lydell/node-pty";
import xterm from "@xterm/headless";

const SYNC_OFF = "\u001b[?2026l";
export const BIN = fileURLToPath(new URL("../bin.js", import.meta.url));

export interface PtySession {
  /** Every byte written to the terminal so far. */
  raw(): string;
  /** The screen after each frame (its rows, right-trimmed). */
  frames: string[][];
  /** The rows on screen now (after everything written so far was painted). */
  screen(): Promise<string[]>;
  /** All lines (scrollback and screen), with rows that the terminal wrapped joined again. */
  lines(): Promise<string[]>;
  /** The cursor on screen: row (0-based, within the screen) and column. */
  cursor(): Promise<{ row: number; col: number }>;
  type(text: string): void;
  resize(cols: number, rows: number): void;
  /** Wait until the screen shows `re` (or the session ends: then throws). */
  waitFor(re: RegExp, timeoutMs?: number): Promise<void>;
  exit: Promise<number>;
  pid: number;
}

export function spawnPty(
  file: string,
  args: string[],
  opts: { cols?: number; rows?: number; env?: Record<string, string | undefined>; cwd?: string } = {},
): PtySession {
  const cols = opts.cols ?? 120;
  const rows = opts.rows ?? 30;
  const term = new xterm.Terminal({ cols, rows, scrollback: 5000, allowProposedApi: true });
  const proc = pty.spawn(file, args, {
    cols,
    rows,
    cwd: opts.cwd ?? process.cwd(),
    env: Object.fromEntries(
      Object.entries({ ...process.env, TERM: "xterm-256color", ...opts.env }).filter(
        (kv): kv is [string, string] => kv[1] !== undefined,
      ),
    ),
  });
  let all = "";
  let pending = "";
  let painting: Promise<void> = Promise.resolve();
  const frames: string[][] = [];
  const paint = (chunk: string, snapshot: boolean) => {
    painting = painting.then(
      () =>
        new Promise<void>((resolve) =>
          term.write(chunk, () => {
            if (snapshot) frames.push(visible());
            resolve();
          }),
        ),
    );
  };
  const visible = () => {
    const b = term.buffer.active;
    const out: string[] = [];
    for (let y = 0; y < term.rows; y++) out.push(b.getLine(b.viewportY + y)?.translateToString(true) ?? "");
    return out;
  };
  proc.onData((d) => {
    all += d;
    pending += d;
    const end = pending.lastIndexOf(SYNC_OFF);
    if (end >= 0) {
      paint(pending.slice(0, end + SYNC_OFF.length), true);
      pending = pending.slice(end + SYNC_OFF.length);
    }
  });
  const flush = async () => {
    if (pending) paint(pending, false);
    pending = "";
    await painting;
  };
  let ended = false;
  const exit = new Promise<number>((resolve) =>
    proc.onExit((e) => {
      ended = true;
      // the last bytes may arrive just after the exit
      setTimeout(() => resolve(e.exitCode), 50);
    }),
  );
  return {
    raw: () => all,
    frames,
    screen: async () => {
      await flush();
      return visible();
    },
    lines: async () => {
      await flush();
      const b = term.buffer.active;
      const out: string[] = [];
      for (let y = 0; y < b.length; y++) {
        const line = b.getLine(y);
        if (!line) continue;
        const text = line.translateToString(!b.getLine(y + 1)?.isWrapped);
        if (line.isWrapped && out.length) out[out.length - 1] += text;
        else out.push(text);
      }
      return out.map((l) => l.trimEnd());
    },
    cursor: async () => {
      await flush();
      return { row: term.buffer.active.cursorY, col: term.buffer.active.cursorX };
    },
    type: (text) => proc.write(text),
    resize: (c, r) => {
      proc.resize(c, r);
      term.resize(c, r);
    },
    waitFor: async (re, timeoutMs = 20_000) => {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        await flush();
        if (re.test(visible().join("\n"))) return;
        if (ended)
          throw new Error(`the program ended before the screen showed ${re}:\n${visible().join("\n")}`);
        if (Date.now() > deadline) throw new Error(`the screen never showed ${re}:\n${visible().join("\n")}`);
        await new Promise((r) => setTimeout(r, 30));
      }
    },
    exit,
    pid: proc.pid,
  };
}
