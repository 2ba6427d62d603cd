/**
 * boot_command_method: vnc end to end, with real QEMU under TCG and the test appliance's
 * installer: the boot command is typed through kiln's RFB client into QEMU's VNC server
 * (vnc_use_password: a random password set over QMP). The installer echoes its kernel command
 * line on the serial console, so the typed text is checked intact; it then installs and reboots,
 * and `-no-reboot` turns that reboot into QEMU exiting — a build with communicator: none ends
 * there, successfully, in well under a minute.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { buildFile, errorText, note, qemuPids, qemuSkip, useQemuScratch } from "./test-support.js";

const { skip, reason } = qemuSkip();

describe.skipIf(skip)(`qemu builder: boot_command over VNC${skip ? ` (skipped: ${reason})` : ""}`, () => {
  const scratch = useQemuScratch("vnc");

  it("types the boot command through a password-protected VNC server, intact, upper case and symbols too", async () => {
    const dir = scratch.dir("vnc");
    // Kernel command-line safe (no quotes, spaces or "<"), with shifted characters throughout.
    const payload = "Kiln-VNC_Typing:ABC.xyz/019+@%!#$^&*()~{}|?;[]=,Qq_Zz";
    const run = await buildFile(
      dir,
      "vnc.yaml",
      `kiln: 1
sources:
  vnc:
    type: qemu
    iso_url: ${scratch.appliance.installerIso}
    iso_checksum: none
    accelerator: tcg
    memory: 256
    disk_size: 128M
    communicator: none
    boot_command_method: vnc
    vnc_use_password: true
    boot_key_interval: 10ms
    http_content:
      /config: |
        hostname=kiln-vnc
        password=unused
    boot_wait: 4s
    boot_command:
      - "install url=http://\${{ http.ip }}:\${{ http.port }}/config kiln.typed=${payload}<enter>"
    shutdown_timeout: 2m
    skip_compaction: true
    qemuargs:
      - ["-serial", "file:serial.log"]
      - ["-no-reboot"]
builds:
  - sources: [vnc]
`,
    );
    expect(run.result.ok, `${run.log}\n${errorText(run)}`).toBe(true);
    expect(run.log).toMatch(/-vnc 127\.0\.0\.1:\d+,password=on/);
    expect(run.log).toContain("Typing through VNC (RFB 3.8");
    const serial = readFileSync(join(dir, "serial.log"), "utf8");
    const line = serial.split(/\r?\n/).find((l) => l.includes("KILN-CMDLINE:")) ?? "";
    expect(line, serial.slice(-2000)).toMatch(/ url=http:\/\/10\.0\.2\.2:\d+\/config kiln\.typed=(\S+)/);
    expect(/kiln\.typed=(\S+)/.exec(line)?.[1]).toBe(payload);
    expect(serial).toContain("KILN-INSTALL-DONE");
    const rate = run.log.match(/Typed (\d+) keys in ([\d.]+)s \(([\d.]+) keys\/s\) over VNC/);
    expect(rate, run.log).not.toBeNull();
    expect(qemuPids(dir)).toEqual([]);
    note(
      `[qemu e2e] VNC (password, boot_key_interval 10ms): typed ${rate?.[1]} keys at ${rate?.[3]} keys/s; build took ${(run.ms / 1000).toFixed(1)}s`,
    );
  }, 240_000);
});
