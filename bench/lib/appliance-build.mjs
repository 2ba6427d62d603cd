// What the appliance-ISO benchmarks share: the appliance built through testbed/appliance, the
// install config its installer fetches over HTTP, and kiln's build file for it (boot command
// typed at the installer prompt, SSH, a shell and a file provisioner, shutdown, qcow2, tcg).
import { spawnSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";

export const PASSWORD = "bench-pw";
/** The shell provisioner's one command. */
export const SHELL = "echo provisioned > /etc/kiln-bench";
/** The guest's size, as both builders are given it. */
export const GUEST = { memory: 256, disk_size: "256M", format: "qcow2", accelerator: "tcg" };

/** Builds (or finds in the cache) the appliance; returns its installer ISO's path. */
export function applianceIso(repo) {
  const r = spawnSync("bash", [join(repo, "testbed/appliance/build.sh")], { encoding: "utf8" });
  const iso = /^installer_iso=(.*)$/m.exec(r.stdout)?.[1];
  if (!iso) throw new Error(`could not build the appliance:\n${r.stderr}`);
  return iso;
}

/** Writes `dir`/http/config, what the installer fetches (`dir`/http must exist). */
export function writeInstallConfig(dir) {
  writeFileSync(join(dir, "http/config"), `hostname=bench\npassword=${PASSWORD}\n`);
}

/** kiln's build file for the appliance install, output in `dir`/output-kiln. */
export function kilnYaml(iso) {
  return `kiln: 1
sources:
  appliance:
    type: qemu
    iso_url: ${iso}
    iso_checksum: none
    memory: ${GUEST.memory}
    disk_size: ${GUEST.disk_size}
    format: ${GUEST.format}
    accelerator: ${GUEST.accelerator}
    http_directory: http
    boot_wait: 3s
    boot_command: ["install url=http://\${{ http.ip }}:\${{ http.port }}/config<enter>"]
    ssh_username: root
    ssh_password: ${PASSWORD}
    ssh_timeout: 10m
    shutdown_command: poweroff
    output_directory: output-kiln
    vm_name: appliance.qcow2
builds:
  - name: bench
    sources: [appliance]
    provisioners:
      - { type: shell, inline: [${JSON.stringify(SHELL)}] }
      - { type: file, source: motd, destination: /etc/motd }
`;
}
