#!/usr/bin/env node
// bench/boot-typing: how fast can kiln type a boot command over QMP without losing a key?
// Boots the test appliance's installer ISO under TCG to its syslinux `boot:` prompt (which
// echoes what it reads to the serial console), types a fixed 200-character line with the SDK's
// QMP key driver at several (hold, gap) timings, and compares the echo with what was typed.
// Prints keys/s and lost/wrong keys per timing; the driver's default should be the fastest
// timing that lost nothing in every run, with margin.
// With --load N, N busy processes compete for the CPU meanwhile (a CI machine running other
// guests), since a guest descheduled for longer than QEMU's 16-byte PS/2 queue lasts drops keys.
//   node bench/boot-typing/run.mjs [--runs N] [--timings 20/5,0/5,...] [--load N]   (needs: pnpm build)
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const repo = fileURLToPath(new URL("../../", import.meta.url));
const { QmpClient, createQmpKeyDriver, parseBootCommand, typeBootCommand, QMP_KEYBOARD_DEFAULTS } =
  await import(join(repo, "packages/sdk/dist/index.js"));

const arg = (name, fallback) => {
  const i = process.argv.indexOf(name);
  return i > 0 ? process.argv[i + 1] : fallback;
};
const RUNS = Number(arg("--runs", "3"));
const TIMINGS = arg("--timings", "20/5,10/5,5/5,0/10,0/5,0/3,0/2,0/0")
  .split(",")
  .map((t) => t.split("/").map(Number))
  .map(([holdMs, gapMs]) => ({ holdMs, gapMs }));

const LOAD = Number(arg("--load", "0"));
const busy = Array.from({ length: LOAD }, () =>
  spawn(process.execPath, ["-e", "for (;;) {}"], { stdio: "ignore" }),
);
process.on("exit", () => {
  for (const b of busy) b.kill("SIGKILL");
});

const appliance = spawnSync("bash", [join(repo, "testbed/appliance/build.sh")], { encoding: "utf8" });
const iso = /^installer_iso=(.*)$/m.exec(appliance.stdout)?.[1];
if (!iso) throw new Error(`could not build the appliance:\n${appliance.stderr}`);

// Letters, digits, shifted characters and spaces: what boot commands are made of. No `<`
// (boot-command syntax) and no tab (syslinux completes on it).
const CHARS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 =/.:-_,+!?@#%&*()";
const LINE = Array.from({ length: 200 }, (_, i) => CHARS[(i * 37 + 11) % CHARS.length]).join("");

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Length of the longest common subsequence: typed − lcs is what was lost or garbled. */
function lcs(a, b) {
  const prev = new Array(b.length + 1).fill(0);
  for (let i = 1; i <= a.length; i++) {
    let diag = 0;
    for (let j = 1; j <= b.length; j++) {
      const keep = prev[j];
      prev[j] = a[i - 1] === b[j - 1] ? diag + 1 : Math.max(prev[j], prev[j - 1]);
      diag = keep;
    }
  }
  return prev[b.length];
}

async function once(timing) {
  const dir = mkdtempSync(join(tmpdir(), "kiln-bench-typing-"));
  const serial = join(dir, "serial.log");
  const qmpPath = join(dir, "qmp.sock");
  const qemu = spawn(
    "qemu-system-x86_64",
    [
      "-machine",
      "pc,accel=tcg",
      "-m",
      "256",
      "-display",
      "none",
      "-cdrom",
      iso,
      "-boot",
      "d",
      "-serial",
      `file:${serial}`,
      "-qmp",
      `unix:${qmpPath},server=on,wait=off`,
      "-no-reboot",
    ],
    { stdio: "ignore" },
  );
  let qmp;
  try {
    for (let i = 0; i < 200; i++) {
      try {
        qmp = await QmpClient.connect(qmpPath, { timeout: 2000 });
        break;
      } catch {
        await sleep(100);
      }
    }
    const t0 = Date.now();
    while (!/boot: ?$/m.test(readFileSync(serial, "utf8").replace(/\r/g, ""))) {
      if (Date.now() - t0 > 60_000) throw new Error("no boot: prompt within 60 s");
      await sleep(100);
    }
    await sleep(300);
    const before = readFileSync(serial, "utf8").length;
    const driver = createQmpKeyDriver(qmp, timing);
    const start = Date.now();
    await typeBootCommand(parseBootCommand([LINE]), driver);
    const ms = Date.now() - start;
    await sleep(1500);
    // syslinux redraws a line longer than the screen (ESC [ K …): what counts is that every typed
    // key appears, in order.
    const echoed = readFileSync(serial, "utf8")
      .slice(before)
      // biome-ignore lint/suspicious/noControlCharactersInRegex: strip terminal escapes
      .replace(/\x1b\[[0-9;]*[A-Za-z]/g, "")
      .replace(/[\r\n]/g, "");
    const kept = lcs(LINE, echoed);
    return { keysPerSecond: LINE.length / (ms / 1000), lost: LINE.length - kept };
  } finally {
    qmp?.destroy();
    qemu.kill("SIGKILL");
    rmSync(dir, { recursive: true, force: true });
  }
}

console.log(
  `boot-typing: ${LINE.length} keys at the appliance's syslinux prompt, TCG, ${RUNS} run(s) per timing`,
);
console.log(
  `driver default: hold ${QMP_KEYBOARD_DEFAULTS?.holdMs} ms, gap ${QMP_KEYBOARD_DEFAULTS?.gapMs} ms`,
);
console.log("hold/gap ms   keys/s (median)   lost keys (each run)");
for (const timing of TIMINGS) {
  const results = [];
  for (let r = 0; r < RUNS; r++) results.push(await once(timing));
  const rates = results.map((x) => x.keysPerSecond).sort((a, b) => a - b);
  const median = rates[Math.floor(rates.length / 2)];
  console.log(
    `${`${timing.holdMs}/${timing.gapMs}`.padEnd(14)}${median.toFixed(1).padStart(8)}${" ".repeat(10)}${results
      .map((x) => x.lost)
      .join(",")}`,
  );
}
process.exit(0);
