#!/usr/bin/env node
// bench/rebuild: checkpoints on the appliance ISO build (boot command typed at the installer,
// install config over HTTP, SSH, a shell and a file provisioner, shutdown, qcow2), in one run
// on one fresh cache:
//   1. full build (saves a checkpoint after connect and after each provisioner),
//   2. rebuild after changing the last provisioner (restores the checkpoint before it),
//   3. the up-to-date check (nothing changed: nothing runs),
// side by side with their ratios to the full build (goals: rebuild ≤ 0.15, up to date ≤ 0.02),
// and where the rebuild's time goes (the floor). --overhead adds a full build with --no-cache,
// to show what saving the checkpoints costs.
// Each round starts from an empty cache; medians of --runs rounds (default 3).
//   node bench/rebuild/run.mjs [--runs N] [--overhead]   (needs: pnpm build; QEMU; one guest at a time)
import { spawnSync } from "node:child_process";
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { applianceIso, kilnYaml, writeInstallConfig } from "../lib/appliance-build.mjs";

const repo = fileURLToPath(new URL("../../", import.meta.url));
const runsArg = process.argv.indexOf("--runs");
const RUNS = runsArg > 0 ? Number(process.argv[runsArg + 1]) : 3;
const OVERHEAD = process.argv.includes("--overhead");
const dir = join(repo, "bench/rebuild/.tmp");
const cache = join(dir, "cache");
rmSync(dir, { recursive: true, force: true });
mkdirSync(join(dir, "http"), { recursive: true });

const iso = applianceIso(repo);
writeInstallConfig(dir);
const file = (motd) => {
  writeFileSync(join(dir, "motd"), motd);
  writeFileSync(join(dir, "kiln.yaml"), kilnYaml(iso));
};

function kiln(...args) {
  const t0 = Date.now();
  const r = spawnSync(
    process.execPath,
    [join(repo, "packages/cli/bin.js"), "build", "--json", "--cache-dir", cache, ...args, "kiln.yaml"],
    { cwd: dir, encoding: "utf8", maxBuffer: 64 * 1024 * 1024 },
  );
  const ms = Date.now() - t0;
  if (r.status !== 0)
    throw new Error(
      `kiln build ${args.join(" ")} failed (${r.status}):\n${r.stdout.slice(-3000)}\n${r.stderr.slice(-3000)}`,
    );
  const events = r.stdout
    .trim()
    .split("\n")
    .filter(Boolean)
    .map((l) => JSON.parse(l));
  return { ms, events };
}
const s = (ms) => `${(ms / 1000).toFixed(1)} s`;
const stepMs = (events, name) =>
  events.filter((e) => e.type === "step-end" && e.step === name).reduce((n, e) => n + e.durationMs, 0);
const between = (events, from, to) => {
  const a = events.find(from)?.time;
  const b = events.find(to)?.time;
  return a && b ? b - a : 0;
};

const median = (xs) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
const trios = [];
for (let i = 0; i < RUNS; i++) {
  // Each round from scratch: a fresh cache and no output.
  rmSync(cache, { recursive: true, force: true });
  rmSync(join(dir, "output-kiln"), { recursive: true, force: true });
  rmSync(join(dir, ".output-kiln.kiln-inputs.json"), { force: true });
  file("benchmarked\n");
  const full = kiln();
  file(`benchmarked again ${i}\n`);
  const rebuild = kiln("--force");
  if (!rebuild.events.some((e) => e.type === "checkpoint" && e.action === "restored"))
    throw new Error("the rebuild restored no checkpoint");
  const upToDate = kiln();
  if (!upToDate.events.some((e) => e.type === "up-to-date"))
    throw new Error("the unchanged build was not up to date");
  // Last, so it does not warm the machine for the others: the same full build, no checkpoints.
  const plain = OVERHEAD ? kiln("--no-cache", "--force") : undefined;
  trios.push({ full, rebuild, upToDate, plain });
  console.log(
    `round ${i + 1}: full ${s(full.ms)}, rebuild ${s(rebuild.ms)}, up to date ${s(upToDate.ms)}${plain ? `, full --no-cache ${s(plain.ms)}` : ""}`,
  );
}
const med = (pick) => median(trios.map(pick));
const full = med((t) => t.full.ms);
const rebuild = med((t) => t.rebuild.ms);
const upToDate = med((t) => t.upToDate.ms);
const saves = trios[0].full.events.filter((e) => e.type === "checkpoint" && e.action === "saved");
const ratio = (x) => (x / full).toFixed(3);
console.log(`rebuild: appliance ISO install + shell + file provisioners, tcg, ${RUNS} round(s), medians`);
console.log(
  `  full build        ${s(full).padStart(8)}   1.000   (${saves.length} checkpoints saved, median ${s(med((t) => t.full.events.filter((e) => e.type === "checkpoint" && e.action === "saved").reduce((n, e) => n + e.durationMs, 0)))} in all)`,
);
console.log(`  rebuild, last     ${s(rebuild).padStart(8)}   ${ratio(rebuild)}   goal ≤ 0.15`);
console.log(`  up to date        ${s(upToDate).padStart(8)}   ${ratio(upToDate)}   goal ≤ 0.02`);
if (OVERHEAD) {
  const plain = med((t) => t.plain.ms);
  console.log(
    `  full, --no-cache  ${s(plain).padStart(8)}   ${ratio(plain)}   (no checkpoints; the difference is mostly the install's own variance — the saves themselves are the figure above)`,
  );
}
const part = (f) => med((t) => f(t.rebuild.events));
const saved = (ev) =>
  ev.filter((e) => e.type === "checkpoint" && e.action === "saved").reduce((n, e) => n + e.durationMs, 0);
console.log("  where the rebuild's time goes (medians):");
console.log(
  `    kiln starting, loading, keys      ${s(
    med(
      (t) =>
        t.rebuild.ms -
        between(
          t.rebuild.events,
          (e) => e.type === "build-start",
          (e) => e.type === "build-end",
        ),
    ),
  )}`,
);
console.log(
  `    restore (QEMU -incoming, state, SSH) ${s(
    part((ev) =>
      between(
        ev,
        (e) => e.type === "run-start",
        (e) => e.type === "step-end" && e.step === "reconnect",
      ),
    ),
  )}   (load state ${s(part((ev) => stepMs(ev, "load state")))}, reconnect ${s(part((ev) => stepMs(ev, "reconnect")))})`,
);
console.log(`    the changed provisioner           ${s(part((ev) => stepMs(ev, "provision") - saved(ev)))}`);
console.log(`    saving its checkpoint             ${s(part(saved))}`);
console.log(`    shutdown                          ${s(part((ev) => stepMs(ev, "shutdown")))}`);
console.log(`    compaction                        ${s(part((ev) => stepMs(ev, "compact")))}`);
rmSync(dir, { recursive: true, force: true });
