/**
 * The qemu builder end to end, with real QEMU under TCG and kiln's test appliance
 * (testbed/appliance): build files loaded and run through @kiln/core exactly as `kiln build`
 * does, the plugin resolved from the workspace (its dist/).
 *
 *  - ISO flow: boot_command typed at the installer's prompt, config from the builder's HTTP
 *    server, SSH with a password, shell + file provisioners, shutdown_command, qcow2 out; then a
 *    second build from that image (disk_image) proving the first build's file is in it.
 *  - Cloud-image flow: disk_image + a cidata seed CD whose user-data holds the temporary key.
 *  - Failures: a wrong, 300-character boot command (checked intact on the serial console) ends
 *    in an SSH timeout naming a screenshot; an abort during boot. Neither leaves a QEMU process,
 *    an output directory or a temporary one.
 */
import { execFileSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { isKilnError, type KilnError } from "@kiln/core";
import { describe, expect, it } from "vitest";
import { buildFile, errorText, note, qemuPids, qemuSkip, useQemuScratch } from "./test-support.js";

const { skip, reason } = qemuSkip();

const PNG = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

function leftovers(dir: string): string[] {
  // The record of a build's inputs beside its output (up to date, docs/checkpoints.md) is no leftover.
  return readdirSync(dir).filter(
    (f) => (f.startsWith("output-") || f.startsWith(".output-")) && !f.endsWith(".kiln-inputs.json"),
  );
}

describe.skipIf(skip).concurrent(`qemu builder end to end${skip ? ` (skipped: ${reason})` : ""}`, () => {
  const scratch = useQemuScratch("e2e");

  it("installs from the ISO, provisions, saves qcow2; a second build from that image sees the file", async () => {
    const dir = scratch.dir("iso");
    const outDir = join(dir, "output-appliance");
    let outputSeenEarly = false;
    const first = await buildFile(
      dir,
      "install.yaml",
      `kiln: 1
variables:
  pw: { type: string, default: "s3cret-Pw", sensitive: true }
sources:
  appliance:
    type: qemu
    iso_url: ${scratch.appliance.installerIso}
    iso_checksum: none
    accelerator: tcg
    memory: 256
    disk_size: 300M
    http_content:
      /config: |
        hostname=kiln-e2e
        password=\${{ var.pw }}
    boot_wait: 4s
    boot_command:
      - "install url=http://\${{ http.ip }}:\${{ http.port }}/config<enter>"
    ssh_username: root
    ssh_password: \${{ var.pw }}
    ssh_timeout: 3m
    shutdown_command: poweroff
builds:
  - name: e2e
    sources: [appliance]
    provisioners:
      - type: shell
        inline:
          - echo "proof from \${{ build.PackerRunUUID }}" > /etc/kiln-proof
          - hostname
      - type: file
        content: "baked by kiln\\n"
        destination: /etc/motd
`,
      {
        onEvent: (e) => {
          if (e.type === "step-start" && e.step === "provision" && existsSync(outDir)) outputSeenEarly = true;
        },
      },
    );
    expect(first.result.ok, `${first.log}\n${errorText(first)}`).toBe(true);
    expect(outputSeenEarly, "the output directory must appear only at the end").toBe(false);
    const artifact = first.result.runs[0]?.artifacts[0];
    expect(artifact?.builderType).toBe("qemu");
    expect(artifact?.id).toBe("packer-appliance");
    const image = join(outDir, "packer-appliance");
    expect(artifact?.files).toEqual([image]);
    expect(readFileSync(image).subarray(0, 4).toString("latin1")).toBe("QFI\xfb");
    expect(first.log).toContain("HTTP GET /config 200");
    expect(first.log).toMatch(/keys\/s/);
    expect(first.log).not.toContain("s3cret-Pw");
    expect(leftovers(dir)).toEqual(["output-appliance"]);
    note(
      `[qemu e2e] ISO install build: ${(first.ms / 1000).toFixed(1)}s; ${first.log.match(/Typed .*keys\/s\)/)?.[0]}`,
    );

    const second = await buildFile(
      dir,
      "reuse.yaml",
      `kiln: 1
sources:
  again:
    type: qemu
    iso_url: ${image}
    iso_checksum: none
    disk_image: true
    skip_resize_disk: true
    accelerator: tcg
    memory: 256
    ssh_username: root
    ssh_password: s3cret-Pw
    ssh_timeout: 3m
builds:
  - sources: [again]
    provisioners:
      - type: shell
        inline:
          - test -f /etc/kiln-proof
          - grep -q "proof from" /etc/kiln-proof
          - grep -q "baked by kiln" /etc/motd
          - cat /etc/kiln-proof
`,
    );
    expect(second.result.ok, `${second.log}\n${errorText(second)}`).toBe(true);
    expect(second.log).toContain("out: proof from");
    expect(existsSync(join(dir, "output-again", "packer-again"))).toBe(true);
    note(`[qemu e2e] build from the installed image: ${(second.ms / 1000).toFixed(1)}s`);
    expect(qemuPids(dir)).toEqual([]);
  }, 420_000);

  it("boots a cloud image with a cidata seed carrying the temporary SSH key", async () => {
    const dir = scratch.dir("seed");
    const run = await buildFile(
      dir,
      "seed.yaml",
      `kiln: 1
sources:
  cloud:
    type: qemu
    iso_url: ${scratch.appliance.disk}
    iso_checksum: none
    disk_image: true
    use_backing_file: true
    disk_size: 3G
    accelerator: tcg
    memory: 256
    cd_label: cidata
    cd_content:
      meta-data: |
        instance-id: kiln-seed-test
        local-hostname: seeded
      user-data: |
        #cloud-config
        ssh_authorized_keys:
          - "\${{ build.SSHPublicKey }}"
    ssh_username: root
    ssh_timeout: 3m
    output_directory: out/cloud
    vm_name: seeded.qcow2
builds:
  - sources: [cloud]
    provisioners:
      - type: shell
        inline:
          - hostname
          - grep -c kiln-temporary-key /root/.ssh/authorized_keys
          - echo seeded > /etc/kiln-seeded
`,
    );
    expect(run.result.ok, `${run.log}\n${errorText(run)}`).toBe(true);
    expect(run.log).toContain("out: seeded");
    expect(run.log).toContain("temporary ed25519 key pair");
    expect(run.log).toContain("Halting the virtual machine");
    const image = join(dir, "out", "cloud", "seeded.qcow2");
    expect(existsSync(image)).toBe(true);
    const info = JSON.parse(
      execFileSync("qemu-img", ["info", "--output=json", image], { encoding: "utf8" }),
    ) as {
      "virtual-size": number;
      "backing-filename"?: string;
    };
    expect(info["backing-filename"]).toBe(scratch.appliance.disk);
    expect(info["virtual-size"]).toBe(3 * 1024 ** 3);
    note(`[qemu e2e] cloud image + seed build: ${(run.ms / 1000).toFixed(1)}s`);
    expect(qemuPids(dir)).toEqual([]);
  }, 300_000);

  it("a wrong boot command: typed intact (300 characters), then an SSH timeout naming a screenshot; nothing left", async () => {
    const dir = scratch.dir("wrong");
    const prefix = "install url=http://10.0.2.2:9/nothing kiln.typing=";
    const alphabet = "abcXYZ0189-_=.,:/+@%ghQRst";
    let pad = "";
    for (let i = 0; prefix.length + pad.length < 300; i++) pad += alphabet[(i * 7) % alphabet.length];
    const typed = prefix + pad;
    expect(typed.length).toBe(300);
    const run = await buildFile(
      dir,
      "wrong.yaml",
      `kiln: 1
sources:
  wrong:
    type: qemu
    iso_url: ${scratch.appliance.installerIso}
    iso_checksum: none
    accelerator: tcg
    memory: 256
    disk_size: 64M
    boot_wait: 4s
    boot_command:
      - ${JSON.stringify(`${typed}<enter>`)}
    ssh_username: root
    ssh_password: whatever
    ssh_timeout: 40s
    qemuargs:
      - ["-serial", "file:serial.log"]
builds:
  - sources: [wrong]
`,
    );
    expect(run.result.ok).toBe(false);
    const e = run.result.runs[0]?.error as KilnError;
    expect(isKilnError(e)).toBe(true);
    note(`[qemu e2e] the error a wrong boot command ends in:\n${errorText(run)}`);
    expect(e.code).toBe("KILN_QEMU_SSH_TIMEOUT");
    expect(e.message.startsWith("[qemu] ")).toBe(true);
    const png = /Screenshot saved to (\S+\.png)/.exec(e.message)?.[1];
    expect(png, e.message).toBeDefined();
    expect(png).toBe(join(dir, "kiln-qemu.wrong-failure.png"));
    expect(readFileSync(png as string).subarray(0, 8)).toEqual(PNG);
    expect(e.hint).toContain("serial console");
    expect(qemuPids(dir)).toEqual([]);
    expect(leftovers(dir)).toEqual([]);
    // The appliance echoes its kernel command line: the typed text arrived intact.
    const serial = readFileSync(join(dir, "serial.log"), "utf8");
    const line = serial.split(/\r?\n/).find((l) => l.includes("KILN-CMDLINE:")) ?? "";
    expect(line, serial.slice(-2000)).toContain(typed.slice("install ".length));
    const rate = run.log.match(/Typed (\d+) keys in ([\d.]+)s \(([\d.]+) keys\/s\)/);
    expect(rate?.[1]).toBe("301");
    note(
      `[qemu e2e] typed 300 characters + Enter at ${rate?.[3]} keys/s; failed build took ${(run.ms / 1000).toFixed(1)}s`,
    );
  }, 300_000);

  it("an abort during boot stops QEMU and leaves nothing behind", async () => {
    const dir = scratch.dir("abort");
    const ctl = new AbortController();
    let abortedAt = 0;
    const run = await buildFile(
      dir,
      "abort.yaml",
      `kiln: 1
sources:
  stop:
    type: qemu
    iso_url: ${scratch.appliance.installerIso}
    iso_checksum: none
    accelerator: auto
    memory: 256
    disk_size: 64M
    boot_wait: 60s
    boot_command: ["install<enter>"]
    ssh_username: root
    ssh_password: x
builds:
  - sources: [stop]
`,
      {
        signal: ctl.signal,
        onEvent: (e) => {
          if (e.type === "step-start" && e.step === "boot") {
            setTimeout(() => {
              // QEMU is running: make sure the test really checks that it gets stopped.
              expect(qemuPids(dir).length).toBe(1);
              abortedAt = Date.now();
              ctl.abort();
            }, 1500);
          }
        },
      },
    );
    const stoppedIn = Date.now() - abortedAt;
    expect(run.result.ok).toBe(false);
    expect(abortedAt).toBeGreaterThan(0);
    expect((run.result.runs[0]?.error as KilnError | undefined)?.code).toBe("KILN_INTERRUPTED");
    expect(qemuPids(dir)).toEqual([]);
    expect(leftovers(dir)).toEqual([]);
    expect(stoppedIn).toBeLessThan(15_000);
    // accelerator: auto probed KVM (on this test bed KVM hangs guests, so it falls back to tcg).
    const accel = run.log.match(/Accelerator: (kvm|tcg)[^\n]*/)?.[0];
    expect(accel, run.log).toBeDefined();
    note(`[qemu e2e] ${accel}`);
    note(`[qemu e2e] abort during boot: cleaned up ${(stoppedIn / 1000).toFixed(1)}s after the abort`);
  }, 120_000);
});
