#!/usr/bin/env node
// bench/qemu-vs-packer: the same appliance ISO build — boot command typed at the installer
// prompt, install config served over HTTP, SSH, a shell and a file provisioner, shutdown, qcow2 —
// with Debian's packer 1.6.6 (its qemu builder) and with kiln, alternately, same accelerator
// (tcg), same guest, same provisioning. Prints both medians, the ratio kiln/packer, and kiln's
// time minus the guest's own time (from starting QEMU to the guest having stopped).
//   node bench/qemu-vs-packer/run.mjs [--runs N]      (needs: pnpm build, apt-get install packer)
import { spawnSync } from "node:child_process";
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import {
  applianceIso,
  GUEST,
  kilnYaml,
  PASSWORD,
  SHELL,
  writeInstallConfig,
} from "../lib/appliance-build.mjs";

const repo = fileURLToPath(new URL("../../", import.meta.url));
const runsArg = process.argv.indexOf("--runs");
const RUNS = runsArg > 0 ? Number(process.argv[runsArg + 1]) : 3;
const dir = join(repo, "bench/qemu-vs-packer/.tmp");
rmSync(dir, { recursive: true, force: true });
mkdirSync(join(dir, "http"), { recursive: true });

const packerVersion = spawnSync("packer", ["version"], { encoding: "utf8" });
if (packerVersion.status !== 0) {
  console.error("packer is not installed: apt-get install packer (Debian's 1.6.6 is the peer)");
  process.exit(2);
}
const iso = applianceIso(repo);
writeInstallConfig(dir);
const motd = "benchmarked\n";
writeFileSync(join(dir, "motd"), motd);

writeFileSync(
  join(dir, "packer.json"),
  JSON.stringify(
    {
      builders: [
        {
          type: "qemu",
          iso_url: iso,
          iso_checksum: "none",
          ...GUEST,
          disk_size: "256M",
          disk_interface: "virtio",
          net_device: "virtio-net",
          headless: true,
          http_directory: "http",
          boot_wait: "3s",
          boot_command: ["install url=http://{{ .HTTPIP }}:{{ .HTTPPort }}/config<enter>"],
          ssh_username: "root",
          ssh_password: PASSWORD,
          ssh_file_transfer_method: "sftp",
          ssh_timeout: "10m",
          shutdown_command: "poweroff",
          output_directory: "output-packer",
          vm_name: "appliance.qcow2",
        },
      ],
      provisioners: [
        { type: "shell", inline: [SHELL] },
        { type: "file", source: "motd", destination: "/etc/motd" },
      ],
    },
    null,
    2,
  ),
);
writeFileSync(join(dir, "kiln.yaml"), kilnYaml(iso));

function timed(cmd, args) {
  const t0 = Date.now();
  const r = spawnSync(cmd, args, {
    cwd: dir,
    encoding: "utf8",
    env: { ...process.env, CHECKPOINT_DISABLE: "1", PACKER_NO_COLOR: "1" },
  });
  const ms = Date.now() - t0;
  if (r.status !== 0)
    throw new Error(
      `${cmd} ${args.join(" ")} failed (${r.status}):\n${r.stdout.slice(-3000)}\n${r.stderr.slice(-3000)}`,
    );
  return { ms, out: r.stdout };
}
const median = (xs) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
const s = (ms) => `${(ms / 1000).toFixed(1)} s`;

const kiln = [];
const packer = [];
const overhead = [];
for (let i = 0; i < RUNS; i++) {
  const p = timed("packer", ["build", "-force", "packer.json"]);
  packer.push(p.ms);
  const k = timed(process.execPath, [
    join(repo, "packages/cli/bin.js"),
    "build",
    "--force",
    // Packer has no checkpoints: every kiln run is a full build too (bench/rebuild measures them).
    "--no-cache",
    "--json",
    "kiln.yaml",
  ]);
  kiln.push(k.ms);
  const events = k.out
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l));
  const start = events.find((e) => e.type === "step-start" && e.step === "start vm")?.time;
  const stop = events.find((e) => e.type === "step-end" && e.step === "shutdown")?.time;
  if (start && stop) overhead.push(k.ms - (stop - start));
  console.log(`run ${i + 1}: packer ${s(p.ms)}, kiln ${s(k.ms)}`);
}
console.log(
  `qemu-vs-packer: appliance ISO install + shell + file provisioners, tcg, ${RUNS} runs each, alternating`,
);
console.log(
  `  packer median ${s(median(packer))}  (${packerVersion.stdout.trim()}, qemu builder, VNC typing)`,
);
console.log(`  kiln   median ${s(median(kiln))}`);
console.log(`  ratio kiln/packer ${(median(kiln) / median(packer)).toFixed(2)}`);
if (overhead.length)
  console.log(
    `  kiln time minus the guest's own time (QEMU start → guest stopped): median ${s(median(overhead))}`,
  );
if (!process.env.KEEP) rmSync(dir, { recursive: true, force: true });
