/**
 * floppy_*, vtpm and ssh_clear_authorized_keys end to end: a real TCG guest (kiln's test
 * appliance as a cloud image, a cidata seed holding the temporary key and another one), built
 * through @kiln/core as `kiln build` does.
 *
 *  - The guest sees the TPM: /dev/tpm0, TPM 2.0 (its kernel has tpm_tis/tpm_crb built in).
 *  - The floppy is attached: QEMU's monitor lists it (`info block`) with kiln's image, whose files
 *    mtools reads back. The appliance's Debian *cloud* kernel has no floppy driver at all
 *    (CONFIG_BLK_DEV_FD is off), so the guest itself cannot mount it.
 *  - After provisioning the temporary key is gone from /root/.ssh/authorized_keys and the other
 *    key is still there (printed by the shutdown command, which runs after the removal).
 *  - swtpm is stopped at the end of a successful build, a failed one and an aborted one.
 */
import { execFileSync, spawnSync } from "node:child_process";
import { copyFileSync, mkdirSync, writeFileSync } from "node:fs";
import { createConnection } from "node:net";
import { join } from "node:path";
import type { KilnError } from "@kiln/core";
import { generateTemporaryKeyPair } from "@kiln/sdk";
import { beforeAll, describe, expect, it } from "vitest";
import { buildFile, errorText, note, qemuPids, qemuSkip, useQemuScratch } from "./test-support.js";

const qemu = qemuSkip();
const need = (cmd: string, pkg: string) =>
  spawnSync("sh", ["-c", `command -v ${cmd} || test -x /usr/sbin/${cmd}`], { stdio: "ignore" }).status === 0
    ? []
    : [`${cmd} (apt-get install ${pkg})`];
const missing = [
  ...(qemu.skip ? [qemu.reason] : []),
  ...need("swtpm", "swtpm swtpm-tools"),
  ...need("mkfs.fat", "dosfstools"),
  ...need("mcopy", "mtools"),
];
const skip = missing.length > 0 && process.env.CI !== "true";
const MENV = { ...process.env, MTOOLS_SKIP_CHECK: "1", LC_ALL: "C.UTF-8" };

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** The swtpm pid the build reported ("Started swtpm: … (pid N)"). */
function swtpmPid(log: string): number {
  const m = /Started swtpm: .*\(pid (\d+)\)/.exec(log);
  if (!m) throw new Error(`no swtpm in the build log:\n${log}`);
  return Number(m[1]);
}

/** Run human-monitor commands on a `-monitor unix:…` socket; the output of each. */
function hmp(path: string, commands: string[]): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const sock = createConnection(path);
    const out: string[] = [];
    let buf = "";
    let i = -1; // -1: waiting for the banner's prompt
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new Error(`monitor timeout; got: ${buf}`));
    }, 15_000);
    sock.setEncoding("utf8");
    sock.on("error", (e) => {
      clearTimeout(timer);
      reject(e);
    });
    sock.on("data", (d: string) => {
      buf += d;
      while (buf.includes("(qemu) ")) {
        const at = buf.indexOf("(qemu) ");
        if (i >= 0) out.push(buf.slice(0, at));
        buf = buf.slice(at + "(qemu) ".length);
        i++;
        if (i < commands.length) sock.write(`${commands[i]}\n`);
        else {
          clearTimeout(timer);
          sock.end();
          resolve(out);
          return;
        }
      }
    });
  });
}

describe
  .skipIf(skip)
  .concurrent(
    `qemu floppy, vtpm, ssh_clear_authorized_keys${skip ? ` (skipped: ${missing.join("; ")})` : ""}`,
    () => {
      beforeAll(() => {
        if (missing.length) throw new Error(`CI=true requires: ${missing.join("; ")}`);
      });
      const scratch = useQemuScratch("devices");

      it("the guest has a TPM 2.0, the floppy is attached with kiln's image, the temporary key is removed", async () => {
        const dir = scratch.dir("full");
        mkdirSync(join(dir, "floppy", "drivers", "net"), { recursive: true });
        writeFileSync(join(dir, "floppy", "Autounattend.xml"), "<unattend/>\n");
        writeFileSync(join(dir, "floppy", "drivers", "net", "netkvm.inf"), "[Version]\n");
        const other = generateTemporaryKeyPair("ed25519", undefined, "admin@elsewhere").publicKey;
        const monitor = join(dir, "hmp.sock");
        let probe: Promise<{ block: string; tpm: string; floppyFiles: string; readme: string }> | undefined;
        const run = await buildFile(
          dir,
          "devices.yaml",
          `kiln: 1
sources:
  dev:
    type: qemu
    iso_url: ${scratch.appliance.disk}
    iso_checksum: none
    disk_image: true
    use_backing_file: true
    accelerator: tcg
    memory: 256
    cd_label: cidata
    cd_content:
      meta-data: |
        instance-id: kiln-devices
      user-data: |
        #cloud-config
        ssh_authorized_keys:
          - "${other}"
          - "\${{ build.SSHPublicKey }}"
    floppy_files: ["floppy/Autounattend.xml"]
    floppy_dirs: ["floppy/drivers"]
    floppy_content:
      "A long name for the seed file.txt": "run \${{ build.PackerRunUUID }}"
    floppy_label: KILNFLOPPY
    vtpm: true
    ssh_username: root
    ssh_timeout: 4m
    ssh_clear_authorized_keys: true
    shutdown_command: "echo KEYS-BEGIN; cat /root/.ssh/authorized_keys; echo KEYS-END; poweroff"
    qemuargs:
      - ["-monitor", "unix:${monitor},server=on,wait=off"]
builds:
  - sources: [dev]
    provisioners:
      - type: shell
        inline:
          - ls -l /dev/tpm0 /dev/tpmrm0
          - echo "tpm-version=$(cat /sys/class/tpm/tpm0/tpm_version_major)"
          - echo "temp-keys=$(grep -c kiln-temporary-key /root/.ssh/authorized_keys)"
          - sleep 2
`,
          {
            onEvent: (e) => {
              if (e.type === "step-start" && e.step === "provision") {
                probe = (async () => {
                  const [block = "", tpm = ""] = await hmp(monitor, ["info block", "info tpm"]);
                  const image = /floppy0 \(#block\d+\): (\S+) \(raw\)/.exec(block)?.[1] ?? "";
                  const copy = join(dir, "floppy-copy.img");
                  copyFileSync(image, copy);
                  const floppyFiles = execFileSync("mdir", ["-i", copy, "-/", "-b", "::"], {
                    env: MENV,
                    encoding: "utf8",
                  });
                  const readme = execFileSync("mtype", ["-i", copy, "::/A long name for the seed file.txt"], {
                    env: MENV,
                    encoding: "utf8",
                  });
                  return { block, tpm, floppyFiles, readme };
                })();
              }
            },
          },
        );
        expect(run.result.ok, `${run.log}\n${errorText(run)}`).toBe(true);
        note(`[devices e2e] build with floppy + vtpm + clear keys: ${(run.ms / 1000).toFixed(1)}s`);

        // TPM: seen by the guest's kernel.
        expect(run.log).toMatch(/out: .*\/dev\/tpm0/);
        expect(run.log).toContain("out: tpm-version=2");
        expect(run.log).toContain("out: temp-keys=1");
        // Floppy: attached to QEMU with kiln's image holding the files.
        expect(probe, "the provision step never started").toBeDefined();
        const p = await (probe as NonNullable<typeof probe>);
        note(
          `[devices e2e] info block (floppy):\n${p.block
            .split("\n")
            .filter((l) => /floppy/.test(l))
            .join("\n")}`,
        );
        expect(p.block).toMatch(/floppy0 \(#block\d+\): \S+\/floppy\.img \(raw\)/);
        expect(p.tpm).toMatch(/tpm0: model=tpm-tis/);
        expect(p.tpm).toMatch(/type=emulator/);
        expect(
          p.floppyFiles
            .split("\n")
            .map((l) => l.trim())
            .filter(Boolean)
            .sort(),
        ).toEqual([
          "::/A long name for the seed file.txt",
          "::/Autounattend.xml",
          "::/drivers/",
          "::/drivers/net/",
          "::/drivers/net/netkvm.inf",
        ]);
        expect(p.readme).toMatch(/^run [0-9a-f-]{36}$/); // floppy_content is rendered at build time
        expect(run.log).toContain("Creating a floppy labelled KILNFLOPPY");
        // ssh_clear_authorized_keys: only the temporary key went.
        expect(run.log).toContain("Removed the temporary key from");
        const keys = run.log.slice(run.log.indexOf("out: KEYS-BEGIN"), run.log.indexOf("out: KEYS-END"));
        expect(keys).toContain(other.split(" ")[1]);
        expect(keys).not.toContain("kiln-temporary-key");
        // Nothing left running.
        const pid = swtpmPid(run.log);
        expect(alive(pid), `swtpm (pid ${pid}) is still running`).toBe(false);
        expect(qemuPids(dir)).toEqual([]);
      }, 420_000);

      it("a failed build stops swtpm and QEMU", async () => {
        const dir = scratch.dir("fail");
        const run = await buildFile(
          dir,
          "fail.yaml",
          `kiln: 1
sources:
  fail:
    type: qemu
    iso_url: ${scratch.appliance.disk}
    iso_checksum: none
    disk_image: true
    use_backing_file: true
    accelerator: tcg
    memory: 256
    machine_type: q35
    vtpm: true
    ssh_username: root
    ssh_password: wrong
    ssh_timeout: 3s
builds:
  - sources: [fail]
`,
        );
        expect(run.result.ok).toBe(false);
        expect(errorText(run)).toMatch(/KILN_QEMU_SSH_TIMEOUT/);
        expect(run.log).toMatch(/emulated TPM 2\.0 as tpm-crb/);
        const pid = swtpmPid(run.log);
        expect(alive(pid), `swtpm (pid ${pid}) is still running`).toBe(false);
        expect(qemuPids(dir)).toEqual([]);
      }, 180_000);

      it("an aborted build stops swtpm and QEMU", async () => {
        const dir = scratch.dir("abort");
        const ctl = new AbortController();
        let running = 0;
        const run = await buildFile(
          dir,
          "abort.yaml",
          `kiln: 1
sources:
  stop:
    type: qemu
    iso_url: ${scratch.appliance.disk}
    iso_checksum: none
    disk_image: true
    use_backing_file: true
    accelerator: tcg
    memory: 256
    vtpm: true
    use_tpm1: true
    ssh_username: root
    ssh_password: x
    ssh_timeout: 5m
builds:
  - sources: [stop]
`,
          {
            signal: ctl.signal,
            onEvent: (e) => {
              if (e.type === "step-start" && e.step === "connect") {
                setTimeout(() => {
                  running = qemuPids(dir).length;
                  ctl.abort();
                }, 1500);
              }
            },
          },
        );
        expect(run.result.ok).toBe(false);
        // (The connect step reports an abort as KILN_SSH_ABORTED, other steps as KILN_INTERRUPTED.)
        expect(["KILN_INTERRUPTED", "KILN_SSH_ABORTED"]).toContain(
          (run.result.runs[0]?.error as KilnError | undefined)?.code,
        );
        expect(running, "QEMU was not running when the build was aborted").toBe(1);
        expect(run.log).toMatch(/emulated TPM 1\.2 as tpm-tis/);
        const pid = swtpmPid(run.log);
        expect(alive(pid), `swtpm (pid ${pid}) is still running`).toBe(false);
        expect(qemuPids(dir)).toEqual([]);
      }, 180_000);
    },
  );
