#!/usr/bin/env node
// bench/cli-startup: cold `kiln validate` of a generated build file with 50 QEMU sources, run
// repeatedly in fresh processes; prints the median and, when Debian's packer is installed, the
// same for `packer validate` of the equivalent JSON template and the ratio kiln/packer. Then
// what the time goes to, each in fresh processes too: node's own start, kiln's start
// (`kiln version`: the bundle, its compiled code from the cache), reading the YAML and checking
// its structure (`validate --syntax-only`), the rest (plugins, options, expressions).
//   node bench/cli-startup/run.mjs [--runs N]
import { spawnSync } from "node:child_process";
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const repo = fileURLToPath(new URL("../../", import.meta.url));
const runsArg = process.argv.indexOf("--runs");
const RUNS = runsArg > 0 ? Number(process.argv[runsArg + 1]) : 21;
const N = 50;
// Inside the repo so the first-party plugins resolve from its node_modules, as in a project.
const dir = join(repo, "bench/cli-startup/.tmp");
rmSync(dir, { recursive: true, force: true });
mkdirSync(dir, { recursive: true });

const lines = ["kiln: 1", "variables:", '  version: { type: string, default: "24.04" }', "sources:"];
const packerBuilders = [];
for (let i = 0; i < N; i++) {
  lines.push(
    `  vm${i}:`,
    "    type: qemu",
    `    iso_url: https://example.invalid/ubuntu-\${{ var.version }}-${i}.iso`,
    "    iso_checksum: sha256:0000000000000000000000000000000000000000000000000000000000000000",
    "    accelerator: tcg",
    "    memory: 1024",
    "    disk_size: 10G",
    "    boot_wait: 5s",
    '    boot_command: ["<esc>linux ds=nocloud-net;s=http://${{ http.ip }}:${{ http.port }}/<enter>"]',
    "    http_directory: http",
    "    ssh_username: ubuntu",
    "    ssh_password: ubuntu",
    "    ssh_timeout: 30m",
    "    shutdown_command: sudo poweroff",
    `    vm_name: vm${i}.qcow2`,
  );
  packerBuilders.push({
    type: "qemu",
    name: `vm${i}`,
    iso_url: `https://example.invalid/ubuntu-{{user \`version\`}}-${i}.iso`,
    iso_checksum: "sha256:0000000000000000000000000000000000000000000000000000000000000000",
    accelerator: "tcg",
    memory: 1024,
    disk_size: "10G",
    boot_wait: "5s",
    boot_command: ["<esc>linux ds=nocloud-net;s=http://{{ .HTTPIP }}:{{ .HTTPPort }}/<enter>"],
    http_directory: "http",
    ssh_username: "ubuntu",
    ssh_password: "ubuntu",
    ssh_timeout: "30m",
    shutdown_command: "sudo poweroff",
    vm_name: `vm${i}.qcow2`,
    output_directory: `output-vm${i}`,
  });
}
lines.push(
  "builds:",
  "  - name: all",
  `    sources: [${Array.from({ length: N }, (_, i) => `vm${i}`).join(", ")}]`,
);
const kilnFile = join(dir, "fifty.yaml");
writeFileSync(kilnFile, `${lines.join("\n")}\n`);
mkdirSync(join(dir, "http"), { recursive: true });
const packerFile = join(dir, "fifty.json");
writeFileSync(
  packerFile,
  JSON.stringify({ variables: { version: "24.04" }, builders: packerBuilders }, null, 2),
);

function time(cmd, args) {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(cmd, args, {
    cwd: dir,
    encoding: "utf8",
    env: { ...process.env, CHECKPOINT_DISABLE: "1", PACKER_LOG: "" },
  });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  if (r.status !== 0)
    throw new Error(`${cmd} ${args.join(" ")} failed (${r.status}):\n${r.stdout}\n${r.stderr}`);
  return ms;
}
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[s.length >> 1];
};

const kilnBin = join(repo, "packages/cli/bin.js");
const packer = spawnSync("packer", ["version"], { encoding: "utf8" });
const havePacker = packer.status === 0;
const kilnTimes = [];
const packerTimes = [];
time(process.execPath, [kilnBin, "validate", kilnFile]); // warm the file-system cache, not the process
if (havePacker) time("packer", ["validate", packerFile]);
for (let i = 0; i < RUNS; i++) {
  kilnTimes.push(time(process.execPath, [kilnBin, "validate", kilnFile]));
  if (havePacker) packerTimes.push(time("packer", ["validate", packerFile]));
}
const k = median(kilnTimes);
// The first run on a machine compiles the schemas' validators and caches them (and the CLI's code); measure it too.
const coldCaches = [];
for (let i = 0; i < 5; i++) {
  const cache = join(dir, `cache-${i}`);
  const t0 = process.hrtime.bigint();
  const r = spawnSync(process.execPath, [kilnBin, "validate", kilnFile], {
    cwd: dir,
    env: { ...process.env, KILN_CACHE_DIR: cache },
  });
  if (r.status !== 0) throw new Error(`kiln validate with an empty cache failed:\n${r.stderr}`);
  coldCaches.push(Number(process.hrtime.bigint() - t0) / 1e6);
}
console.log(`cli-startup: kiln validate, ${N} qemu sources, ${RUNS} cold runs`);
console.log(
  `  kiln   median ${k.toFixed(1)} ms  (min ${Math.min(...kilnTimes).toFixed(1)}, max ${Math.max(...kilnTimes).toFixed(1)})`,
);
console.log(
  `  kiln   median ${median(coldCaches).toFixed(1)} ms  with empty caches (compiled validators and code: the first run on a machine)`,
);
const nodeOnly = median(Array.from({ length: 11 }, () => time(process.execPath, ["-e", ""])));
console.log(`  node   median ${nodeOnly.toFixed(1)} ms  (an empty node process, the floor)`);
// The stages in turn within each round, so that a change in the machine's load hits them alike.
const stages = { start: [], syntax: [], full: [] };
for (let i = 0; i < RUNS; i++) {
  stages.start.push(time(process.execPath, [kilnBin, "version"]));
  stages.syntax.push(time(process.execPath, [kilnBin, "validate", "--syntax-only", kilnFile]));
  stages.full.push(time(process.execPath, [kilnBin, "validate", kilnFile]));
}
const start = median(stages.start);
const syntax = median(stages.syntax);
const full = median(stages.full);
console.log("  where it goes (medians):");
console.log(`    node's start                          ${nodeOnly.toFixed(1)} ms`);
console.log(`    + kiln's start (kiln version)         ${(start - nodeOnly).toFixed(1)} ms`);
console.log(`    + YAML and structure (--syntax-only)  ${(syntax - start).toFixed(1)} ms`);
console.log(`    + plugins, options, expressions       ${(full - syntax).toFixed(1)} ms`);
if (havePacker) {
  const p = median(packerTimes);
  console.log(`  packer median ${p.toFixed(1)} ms  (${packer.stdout.trim()}, same template as JSON)`);
  console.log(`  ratio kiln/packer ${(k / p).toFixed(2)}`);
} else {
  console.log("  packer not installed (apt-get install packer) — no ratio");
}
if (!process.env.KEEP) rmSync(dir, { recursive: true, force: true });
