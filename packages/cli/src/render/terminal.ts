/**
 * A terminal with live lines at the bottom and log lines scrolling above them, written by hand
 * over ANSI (string-width/wrap-ansi measure and wrap; no progress library). What it promises:
 *
 * - Log lines are written whole and the terminal wraps them: nothing is ever cut. Line wrap is
 *   never turned off.
 * - A log line and the live lines after it go out in ONE write (erase the live lines, the log
 *   line, the live lines again), so the live lines never vanish for a frame. The write is framed
 *   by synchronized-output marks (DEC mode 2026), which terminals that know them use to paint it
 *   at once, and drop after a short timeout if kiln dies in between; others ignore them.
 * - The cursor is never hidden, so nothing is left to restore when kiln is killed (kill -9 runs
 *   no code); it waits at the start of the row under the live lines. The terminal's modes are
 *   never changed (no raw mode, no alternate screen).
 * - Live lines are wrapped to the width (one column spare, so no line ends in the last column
 *   where terminals differ), counted in rows and erased by that count; there are never more of
 *   them than the screen has rows, so none scrolls out of reach of the eraser. After a resize,
 *   what was drawn is erased by the count it was drawn with: kiln never erases a row it did not
 *   draw (a terminal that re-flows lines when it narrows may keep a stale half row once).
 * - pause() takes the live lines away and holds log lines back (a prompt is on screen);
 *   resume() prints what was held, in order, and brings the live lines back.
 * - Writes to process.stdout/stderr by anything else (a plugin's console.log, a Node warning)
 *   are taken in as log lines, so they cannot scribble over the live lines either.
 */
import wrapAnsi from "wrap-ansi";
import { terminalText } from "./ansi.js";

const SYNC_ON = "\u001b[?2026h";
const SYNC_OFF = "\u001b[?2026l";
const RESET = "\u001b[0m";
/** Lines held back while paused; past this they are counted, not kept (they are in .kiln/logs). */
const MAX_HELD = 10_000;

type Write = (s: string) => void;

export class LiveTerminal {
  /** Rows the live lines take on screen; the cursor is at the start of the row below them. */
  private drawn = 0;
  /** The live lines as last drawn. */
  private shown = "";
  private live: string[] = [];
  private timer: NodeJS.Timeout | undefined;
  private partialTimer: NodeJS.Timeout | undefined;
  private partial = "";
  private paused = false;
  private closed = false;
  private held: string[] = [];
  private dropped = 0;
  private readonly restore: Array<() => void> = [];
  /** Writes to the terminal itself, past the patch. */
  readonly raw: Write;

  constructor(private readonly out: NodeJS.WriteStream) {
    const original = out.write;
    this.raw = (s) => {
      original.call(out, s);
    };
    for (const stream of new Set([process.stdout, process.stderr])) {
      if (!stream.isTTY) continue; // a redirected stream does not reach the screen
      const write = stream.write;
      stream.write = ((chunk: string | Uint8Array, enc?: unknown, cb?: unknown) => {
        this.foreign(typeof chunk === "string" ? chunk : Buffer.from(chunk).toString("utf8"));
        const done = typeof enc === "function" ? enc : cb;
        if (typeof done === "function") process.nextTick(done as () => void);
        return true;
      }) as typeof stream.write;
      this.restore.push(() => {
        stream.write = write;
      });
    }
    const onResize = () => this.redraw(true);
    out.on("resize", onResize);
    this.restore.push(() => out.off("resize", onResize));
  }

  /** Permanent text above the live lines (one or more lines, no trailing newline). */
  log(text: string): void {
    if (this.closed) {
      this.raw(`${text}\n`);
      return;
    }
    if (this.paused) {
      for (const line of text.split("\n")) {
        if (this.held.length < MAX_HELD) this.held.push(line);
        else this.dropped++;
      }
      return;
    }
    this.frame(`${text}\n`);
  }

  /** The live lines; drawn within 80 ms (several changes in that time are drawn once). */
  setLive(lines: string[]): void {
    this.live = lines;
    if (this.timer || this.closed) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.redraw(false);
    }, 80);
    this.timer.unref();
  }

  /** Take the live lines away and hold log lines back until resume(). */
  pause(): void {
    if (this.paused || this.closed) return;
    this.flushPartial();
    this.paused = true;
    this.raw(this.erase());
  }

  resume(): void {
    if (!this.paused || this.closed) return;
    this.paused = false;
    const held = this.held.splice(0);
    if (this.dropped)
      held.push(`kiln: ${this.dropped} more lines were held back while waiting; see .kiln/logs`);
    this.dropped = 0;
    this.frame(held.length ? `${held.join("\n")}\n` : "");
  }

  /** Erase the live lines and give the terminal back; later log() calls just print. */
  close(): void {
    if (this.closed) return;
    this.flushPartial();
    if (this.paused) this.resume();
    clearTimeout(this.timer);
    this.timer = undefined;
    this.raw(this.erase());
    this.closed = true;
    for (const r of this.restore.splice(0)) r();
  }

  private frame(logText: string): void {
    const block = this.block();
    this.raw(`${SYNC_ON}${this.erase()}${logText}${block.text}${SYNC_OFF}`);
    this.drawn = block.rows;
    this.shown = block.text;
  }

  private redraw(force: boolean): void {
    if (this.paused || this.closed) return;
    // Nothing changed (the same text at the same size): nothing to write.
    if (!force && this.block().text === this.shown) return;
    this.frame("");
  }

  /** Erase what the live lines took, by the count they were drawn with. */
  private erase(): string {
    const rows = this.drawn;
    this.drawn = 0;
    this.shown = "";
    return rows > 0 ? `\r\u001b[${rows}A\u001b[J` : "";
  }

  /** The live lines, wrapped and counted, at most the screen's height less two rows. */
  private block(): { text: string; rows: number } {
    if (this.paused || this.closed || this.live.length === 0) return { text: "", rows: 0 };
    const width = Math.max(10, (this.out.columns || 80) - 1);
    const maxRows = Math.max(1, (this.out.rows || 24) - 2);
    let rows = this.live.flatMap((l) => wrapAnsi(l, width, { hard: true }).split("\n"));
    if (rows.length > maxRows) {
      const hidden = rows.length - (maxRows - 1);
      rows = [...rows.slice(0, maxRows - 1), `… ${hidden} more line${hidden === 1 ? "" : "s"}`];
    }
    return { text: rows.map((r) => `${r}${RESET}\n`).join(""), rows: rows.length };
  }

  /** Output from elsewhere in the process: whole lines become log lines. */
  private foreign(text: string): void {
    if (this.closed) {
      this.raw(text);
      return;
    }
    this.partial += text;
    const end = this.partial.lastIndexOf("\n");
    if (end >= 0) {
      const lines = this.partial.slice(0, end);
      this.partial = this.partial.slice(end + 1);
      this.log(terminalText(lines));
    }
    clearTimeout(this.partialTimer);
    if (this.partial) {
      // A line without its newline is shown after a moment, on a line of its own.
      this.partialTimer = setTimeout(() => this.flushPartial(), 100);
      this.partialTimer.unref();
    }
  }

  private flushPartial(): void {
    clearTimeout(this.partialTimer);
    if (!this.partial) return;
    const text = this.partial;
    this.partial = "";
    this.log(terminalText(text));
  }
}
