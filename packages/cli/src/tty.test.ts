/**
 * `kiln build` on a terminal, as a person sees it: run in a real pseudo-terminal, its output
 * painted by a real terminal emulator (xterm.js). Long lines wrap and are never cut; the live
 * lines are on screen in every frame from a run's start to its end, log lines or not; a question
 * is never drawn over while other runs go on; tools cannot move the cursor or clear the screen;
 * the cursor is never hidden, line wrap never turned off and the terminal's modes never changed,
 * so even `kill -9` leaves the terminal as it was.
 */
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { BIN, spawnPty } from "./test-pty.js";

const fixtures = fileURLToPath(new URL("../../core/test/fixtures/plugins/", import.meta.url));
const scratch = mkdtempSync(join(fixtures, "tmp-tty-"));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));
let n = 0;

function project(yaml: string): { dir: string; f: string } {
  const dir = join(scratch, `p${++n}`);
  mkdirSync(dir);
  const f = join(dir, "kiln.yaml");
  writeFileSync(f, `kiln: 1\nplugins: { term: kiln-builder-terminal }\n${yaml}`);
  return { dir, f };
}

const kiln = (args: string[], opts: Parameters<typeof spawnPty>[2] = {}) =>
  spawnPty(process.execPath, [BIN, ...args], { env: { NO_COLOR: "1" }, ...opts });

/** A live line of `run`: its name, spaces, then its elapsed time. */
const liveLine = (run: string) =>
  new RegExp(`^${run.replace(/\./g, "\\.")} +\\d+(\\.\\d+)?(ms|s)\\b|^${run} +\\d+m\\d+s`);

const LONG = `checksum mismatch: expected sha256:${"0123456789abcdef".repeat(8)} got sha256:${"fedcba9876543210".repeat(8)} (the end)`;

describe("kiln build on a terminal", () => {
  it("wraps long lines (nothing cut), keeps the live lines on screen in every frame, shows the summary", async () => {
    const { f } = project(`sources:
  a:
    type: term
    say: ["${LONG}"]
    steps: [prepare, download, chatter, boot]
    progress: { total: 10485760, chunks: 8, every_ms: 150 }
    chatter: { count: 12, every_ms: 60 }
    wait_ms: 300
builds:
  - sources: [a]
`);
    const s = kiln(["build", f], { cols: 80, rows: 24 });
    const code = await s.exit;
    expect(code).toBe(0);
    const lines = await s.lines();
    // the whole line, wrapped by the terminal over several rows, not cut at the edge
    expect(lines).toContain(`term.a: ==> ${LONG}`);
    expect(LONG.length).toBeGreaterThan(160);
    // every frame from the first live line to the end of the run shows the live line
    const live = liveLine("term.a");
    const first = s.frames.findIndex((rows) => rows.some((r) => live.test(r)));
    const last = s.frames.findIndex((rows) => rows.some((r) => r.startsWith("term.a: finished in")));
    expect(first).toBeGreaterThanOrEqual(0);
    expect(last).toBeGreaterThan(first);
    const framesWithLogLines = s.frames
      .slice(first, last)
      .filter((rows) => rows.some((r) => /chatter \d+/.test(r)));
    expect(framesWithLogLines.length).toBeGreaterThan(5);
    for (const rows of s.frames.slice(first, last)) expect(rows.some((r) => live.test(r))).toBe(true);
    // the progress bar showed the amount, the speed and the time left (wrapped at 80 columns)
    const bars = s.frames
      .map((rows) => rows.join("\n"))
      .filter((t) => /downloading disk\.img\s+[█░]{10}/.test(t));
    expect(bars.length).toBeGreaterThan(3);
    expect(
      bars.some((t) => /[█░]{10} \d+%\s+[\d.]+\s+MiB\/10\s+MiB,\s+[\d.]+\s+MiB\/s,\s+ETA\s+\d/.test(t)),
    ).toBe(true);
    // the chatter lines, in order, each once
    const chatter = lines.filter((l) => /^term\.a: ==> chatter \d+$/.test(l));
    expect(chatter).toEqual(Array.from({ length: 12 }, (_, i) => `term.a: ==> chatter ${i + 1}`));
    // at the end: no live line left, the summary, and the cursor on a fresh line
    const screen = await s.screen();
    expect(screen.some((r) => live.test(r))).toBe(false);
    const end = lines.findIndex((l) => l.startsWith("kiln: build finished in "));
    expect(end).toBeGreaterThan(0);
    expect(lines.slice(end + 1, end + 4)).toEqual([
      expect.stringMatching(/^ {2}term\.a {2}ok +\d/),
      "      artifact: disk of term.a (out/disk.img)",
      expect.stringMatching(/^ {6}log: .*\.kiln\/logs\/term\.a\.\d{8}T\d+Z-[0-9a-f]{8}\.log$/),
    ]);
    expect((await s.cursor()).col).toBe(0);
    // nothing ever hides the cursor or turns off line wrap
    expect(s.raw()).not.toContain("\u001b[?25l");
    expect(s.raw()).not.toContain("\u001b[?7l");
  });

  it("tools may colour, but cannot clear the screen or move the cursor; console.log lands above the live lines", async () => {
    const { f } = project(`sources:
  a:
    type: term
    say: ["before the tool"]
    output: ["\\u001b[32mgreen tool\\u001b[0m \\u001b]0;a title\\u0007\\u001b[2J\\u001b[Hafter clear"]
    console: "from console.log"
    steps: [prepare, boot]
    wait_ms: 400
builds:
  - sources: [a]
`);
    const s = kiln(["build", f], { env: { NO_COLOR: undefined } });
    expect(await s.exit).toBe(0);
    const lines = await s.lines();
    expect(lines).toContain("term.a: ==> before the tool");
    expect(lines).toContain("term.a: green tool after clear");
    expect(lines).toContain("from console.log");
    // colour reached the terminal, the clear and the title did not
    expect(s.raw()).toContain("\u001b[32mgreen tool");
    expect(s.raw()).not.toContain("\u001b[2J");
    expect(s.raw()).not.toContain("a title");
    // the line printed with console.log did not break the live lines
    const at = s.frames.findIndex((rows) => rows.includes("from console.log"));
    expect(at).toBeGreaterThanOrEqual(0);
    expect(s.frames[at]?.some((r) => liveLine("term.a").test(r))).toBe(true);
  });

  it("--on-error=ask: the question stays on screen, unscathed, while another run keeps printing; its lines follow the answer", async () => {
    const { f } = project(`sources:
  bad:
    type: term
    steps: [prepare]
    fail_at: prepare
  chatty:
    type: term
    steps: [chatter]
    chatter: { count: 30, every_ms: 50 }
builds:
  - sources: [bad, chatty]
`);
    const s = kiln(["build", "--on-error=ask", f], { cols: 100, rows: 30 });
    const question = /\[c\] Clean up and exit, \[a\] abort without cleanup, \[r\] retry step\? $/;
    await s.waitFor(/\[c\] Clean up and exit/);
    const shown = await s.screen();
    // meanwhile the other run goes on (30 lines, 1.5 s)
    await new Promise((r) => setTimeout(r, 1_700));
    const later = await s.screen();
    expect(later).toEqual(shown);
    const lastRow = later.filter((r) => r !== "").at(-1) ?? "";
    expect(lastRow).toMatch(question);
    expect(later.some((r) => liveLine("term.chatty").test(r))).toBe(false);
    expect(await s.cursor()).toEqual({ row: later.lastIndexOf(lastRow), col: lastRow.length });
    s.type("c\r");
    expect(await s.exit).toBe(1);
    const lines = await s.lines();
    const asked = lines.findIndex((l) => l.includes("[c] Clean up and exit"));
    expect(asked).toBeGreaterThan(0);
    expect(lines[asked]).toMatch(/retry step\? c$/);
    // the lines held back while asking come after the answer, in order, none lost
    const chatter = lines.filter((l) => /^term\.chatty: ==> chatter \d+$/.test(l));
    expect(chatter).toEqual(Array.from({ length: 30 }, (_, i) => `term.chatty: ==> chatter ${i + 1}`));
    expect(lines.indexOf("term.chatty: ==> chatter 30")).toBeGreaterThan(asked);
    expect(lines.some((l) => /^ {2}term\.bad +failed/.test(l))).toBe(true);
    expect(lines.some((l) => /^ {2}term\.chatty +ok/.test(l))).toBe(true);
  });

  it("Ctrl-C while a question is open interrupts the build: cleanups run, exit 1, no hang", async () => {
    const { f } = project(`sources:
  bad:
    type: term
    steps: [prepare, boot]
    fail_at: boot
builds:
  - sources: [bad]
`);
    const s = kiln(["build", "--on-error=ask", f]);
    await s.waitFor(/\[c\] Clean up and exit/);
    s.type("\u0003"); // the terminal turns it into SIGINT: kiln left it in its normal mode
    expect(await s.exit).toBe(1);
    const lines = await s.lines();
    expect(lines).toContain("kiln: SIGINT: cleaning up term.bad (boot); please wait");
    expect(lines.some((l) => /^term\.bad: failed after/.test(l))).toBe(true);
  });

  it("--debug: each pause is a question on its own line, answered with Enter", async () => {
    const { f } = project(`sources:
  a:
    type: term
    steps: [prepare, boot]
builds:
  - sources: [a]
`);
    const s = kiln(["build", "--debug", f]);
    for (const step of ["prepare", "boot", "provision"]) {
      const q = new RegExp(`\\[term\\.a\\] Pausing before step "${step}"\\. Press Enter to continue\\.`);
      await s.waitFor(q);
      const rows = (await s.screen()).filter((r) => r !== "");
      expect(rows.at(-1)).toMatch(q);
      s.type("\r");
    }
    expect(await s.exit).toBe(0);
  });

  it("kill -9, even while a question is open, leaves the terminal's settings as they were", async () => {
    const pidFile = join(scratch, "kiln.pid");
    const { f } = project(`sources:
  a:
    type: term
    steps: [prepare, boot]
    pid_file: ${pidFile}
    wait_ms: 200
builds:
  - sources: [a]
`);
    const before = join(scratch, "stty-before");
    const after = join(scratch, "stty-after");
    // a shell runs kiln in the terminal, as a person's would, and reads the settings around it
    const s = spawnPty("/bin/sh", [
      "-c",
      `stty -g > ${before}; "${process.execPath}" "${BIN}" build --debug "${f}"; stty -g > ${after}; echo shell-after-kiln`,
    ]);
    await s.waitFor(/Pausing before step "prepare"/);
    s.type("\r");
    await s.waitFor(/Pausing before step "boot"/);
    const pid = Number(readFileSync(pidFile, "utf8"));
    process.kill(pid, "SIGKILL");
    await s.waitFor(/shell-after-kiln/);
    await s.exit;
    expect(readFileSync(after, "utf8")).toBe(readFileSync(before, "utf8"));
    expect(s.raw()).not.toContain("\u001b[?25l");
    expect(s.raw()).not.toContain("\u001b[?7l");
  });
});

describe("kiln build without a terminal (CI)", () => {
  it("prints a progress line every few seconds with speed and time left, then the summary", async () => {
    const { f } = project(`sources:
  a:
    type: term
    steps: [download]
    progress: { label: "downloading big.iso", total: 104857600, chunks: 30, every_ms: 250 }
builds:
  - sources: [a]
`);
    const r = spawnSync(process.execPath, [BIN, "build", f], { encoding: "utf8", timeout: 30_000 });
    expect(r.status).toBe(0);
    const progress = r.stdout.split("\n").filter((l) => l.startsWith("term.a: downloading big.iso: "));
    // 7.5 s of download: a line after 5 s, and the last one at 100 %
    expect(progress.length).toBeGreaterThanOrEqual(2);
    expect(progress[0]).toMatch(
      /^term\.a: downloading big\.iso: \d+% [\d.]+ MiB\/100 MiB, [\d.]+ MiB\/s, ETA \d+s$/,
    );
    expect(progress.at(-1)).toMatch(/: 100% 100 MiB\/100 MiB, [\d.]+ MiB\/s$/);
    expect(r.stdout).toMatch(/^kiln: build finished in .*\n {2}term\.a {2}ok +\d/m);
  });
});
