/**
 * The Exoscale template flow for real, under QEMU TCG: `kiln build examples/exoscale/debian.yaml`
 * (the real CLI) starts from testbed/debian's cloud image with a cidata seed kiln writes, logs in
 * with a build key, configures and resets cloud-init, removes the key at shutdown and saves a
 * compressed qcow2. Then the template boots like an instance: plain QEMU, a NEW seed (new
 * instance id, hostname and key). The new key logs in, the build key is refused, the build's
 * changes are there and the root file system grew to the template's disk size.
 *
 * Skips with a message where the host tools are missing or not running as root (mmdebstrap
 * keeps file owners only as root); under CI=true it fails instead.
 */
import { type ChildProcess, execFile, spawn } from "node:child_process";
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmdirSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import net from "node:net";
import path from "node:path";
import { ensureDist, makeScratch } from "@kiln/sdk/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  DEBIAN_DIR,
  DEFAULT_USER,
  type DebianImage,
  ensureDebianImage,
  installHint,
  missingHostTools,
} from "./image.js";
import { EXAMPLE, KILN_BIN, REPO } from "./repo.js";

const missing = missingHostTools();
const notRoot = process.getuid?.() !== 0;
const reason =
  missing.length > 0
    ? `missing ${missing.join(", ")}: ${installHint(missing)}`
    : notRoot
      ? "building the Debian image needs root (mmdebstrap root mode)"
      : "";
const skip = reason !== "" && process.env.CI !== "true";
if (skip) console.warn(`SKIP the Exoscale flow e2e: ${reason}`);

/** Tell the test log (timings). */
function note(line: string): void {
  console.info(line);
}

function run(
  cmd: string,
  args: string[],
  opts: { timeout?: number; env?: NodeJS.ProcessEnv } = {},
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      cmd,
      args,
      {
        encoding: "utf8",
        timeout: opts.timeout ?? 60_000,
        maxBuffer: 64 * 1024 * 1024,
        env: opts.env ?? process.env,
      },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === "number" ? err.code : null) : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.on("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe.skipIf(skip)(`the Exoscale template flow on Debian${skip ? ` (skipped: ${reason})` : ""}`, () => {
  let image: DebianImage;
  let scratch: string;
  let guest: ChildProcess | undefined;

  beforeAll(async () => {
    for (const p of ["core", "sdk", "provisioners", "post-processors", "builder-qemu", "cli"])
      ensureDist(path.join(REPO, "packages", p));
    const t0 = Date.now();
    image = await ensureDebianImage();
    note(`[debian e2e] image ready in ${((Date.now() - t0) / 1000).toFixed(1)}s: ${image.disk}`);
    scratch = makeScratch(DEBIAN_DIR, "exoscale");
  }, 900_000);

  afterAll(() => {
    if (guest && guest.exitCode === null) guest.kill("SIGKILL");
    if (scratch) rmSync(scratch, { recursive: true, force: true });
    try {
      rmdirSync(path.join(DEBIAN_DIR, "test"));
    } catch {
      /* other files still use it */
    }
  });

  it("builds a template with kiln build; it boots with a new seed and takes the new key only", async () => {
    const keygen = async (name: string) => {
      const file = path.join(scratch, name);
      const r = await run("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", name, "-f", file]);
      expect(r.code, r.stderr).toBe(0);
      return { file, pub: readFileSync(`${file}.pub`, "utf8").trim() };
    };
    const buildKey = await keygen("build-key");
    const newKey = await keygen("instance-key");
    const outDir = path.join(scratch, "template");
    // a copy, so kiln's run log (.kiln/logs next to the build file) goes to the scratch folder
    const buildFile = path.join(scratch, "debian.yaml");
    copyFileSync(EXAMPLE, buildFile);

    // ---------------------------------------------------------------- kiln build
    const t0 = Date.now();
    const build = await run(
      process.execPath,
      [
        KILN_BIN,
        "build",
        // A test does not fill the user's checkpoint cache (docs/checkpoints.md).
        "--no-cache",
        "--timestamp-ui",
        "--var",
        `image_url=${image.disk}`,
        "--var",
        "image_checksum=none",
        "--var",
        "accelerator=tcg",
        "--var",
        `output_directory=${outDir}`,
        "--var",
        `ssh_private_key_file=${buildKey.file}`,
        "--var",
        `ssh_public_key=${buildKey.pub}`,
        buildFile,
      ],
      { timeout: 900_000, env: { ...process.env, NO_COLOR: "1" } },
    );
    const buildS = (Date.now() - t0) / 1000;
    const log = `${build.stdout}${build.stderr}`;
    if (process.env.KILN_DEBIAN_DEBUG) note(log);
    expect(build.code, log).toBe(0);
    note(`[debian e2e] kiln build of examples/exoscale/debian.yaml: ${buildS.toFixed(1)}s`);
    expect(log).toContain("Running the shutdown command");
    expect(log).not.toContain(readFileSync(buildKey.file, "utf8").split("\n")[1]);
    const template = path.join(outDir, "exoscale-debian-12.qcow2");
    const sum = (await run("sha256sum", [template])).stdout.split(" ")[0];
    expect(readFileSync(path.join(outDir, "exoscale-debian-12.qcow2.sha256"), "utf8")).toContain(sum);
    expect(readdirSync(outDir).sort()).toEqual(
      ["exoscale-debian-12.qcow2", "exoscale-debian-12.qcow2.sha256"].sort(),
    );
    const info = JSON.parse((await run("qemu-img", ["info", "--output=json", template])).stdout) as {
      format: string;
      "virtual-size": number;
      "actual-size": number;
      "backing-filename"?: string;
    };
    expect(info.format).toBe("qcow2");
    expect(info["virtual-size"]).toBe(10 * 1024 ** 3);
    expect(info["backing-filename"]).toBeUndefined();
    note(`[debian e2e] template: ${(info["actual-size"] / 1024 ** 2).toFixed(0)} MiB on disk`);

    // ---------------------------------------------------------------- the template as an instance
    const inst = path.join(scratch, "instance");
    mkdirSync(path.join(inst, "seed"), { recursive: true });
    writeFileSync(
      path.join(inst, "seed", "meta-data"),
      "instance-id: kiln-instance-2\nlocal-hostname: kiln-instance\n",
    );
    writeFileSync(
      path.join(inst, "seed", "user-data"),
      `#cloud-config\nssh_authorized_keys:\n  - "${newKey.pub}"\n`,
    );
    const seed = path.join(inst, "seed.iso");
    const iso = await run("genisoimage", [
      "-quiet",
      "-o",
      seed,
      "-V",
      "cidata",
      "-J",
      "-r",
      path.join(inst, "seed", "user-data"),
      path.join(inst, "seed", "meta-data"),
    ]);
    expect(iso.code, iso.stderr).toBe(0);
    const disk = path.join(inst, "disk.qcow2");
    expect(
      (await run("qemu-img", ["create", "-q", "-f", "qcow2", "-b", template, "-F", "qcow2", disk])).code,
    ).toBe(0);
    const port = await freePort();
    const serial = path.join(inst, "serial.log");
    const t1 = Date.now();
    guest = spawn(
      "nice",
      [
        "-n",
        "10",
        "qemu-system-x86_64",
        "-accel",
        "tcg",
        "-m",
        "768",
        "-nodefaults",
        "-display",
        "none",
        "-serial",
        `file:${serial}`,
        "-drive",
        `file=${disk},if=virtio,format=qcow2`,
        "-drive",
        `file=${seed},if=virtio,format=raw,readonly=on`,
        "-nic",
        `user,model=virtio-net-pci,hostfwd=tcp:127.0.0.1:${port}-:22`,
      ],
      { stdio: ["ignore", "ignore", "pipe"] },
    );
    let qemuErr = "";
    guest.stderr?.on("data", (d: Buffer) => {
      qemuErr += d.toString();
    });
    const ssh = (key: string, command: string) =>
      run(
        "ssh",
        [
          "-o",
          "BatchMode=yes",
          "-o",
          "IdentitiesOnly=yes",
          "-o",
          "StrictHostKeyChecking=no",
          "-o",
          "UserKnownHostsFile=/dev/null",
          "-o",
          "ConnectTimeout=5",
          "-o",
          "LogLevel=ERROR",
          "-i",
          key,
          "-p",
          String(port),
          `${DEFAULT_USER}@127.0.0.1`,
          command,
        ],
        { timeout: 60_000 },
      );
    let up = false;
    let last = "";
    const deadline = Date.now() + 300_000;
    while (!up && Date.now() < deadline && guest.exitCode === null) {
      const r = await ssh(newKey.file, "true");
      up = r.code === 0;
      last = r.stderr;
      if (!up) await sleep(1000);
    }
    const serialText = () => (existsSync(serial) ? readFileSync(serial, "utf8").slice(-4000) : "");
    expect(up, `no SSH with the new key (${last.trim()}); QEMU: ${qemuErr}\nserial:\n${serialText()}`).toBe(
      true,
    );
    note(
      `[debian e2e] the template booted with a new seed to SSH in ${((Date.now() - t1) / 1000).toFixed(1)}s`,
    );

    const facts = await ssh(
      newKey.file,
      "hostname; cat /var/lib/cloud/data/instance-id; cat /etc/kiln-build; cat /etc/cloud/cloud.cfg.d/99-exoscale.cfg; " +
        "echo keys: $(cat ~/.ssh/authorized_keys | wc -l); cat ~/.ssh/authorized_keys; sudo -n true && echo sudo-ok; " +
        "echo rootfs: $(findmnt -bno SIZE /)",
    );
    expect(facts.code, facts.stderr).toBe(0);
    expect(facts.stdout).toMatch(/^kiln-instance\nkiln-instance-2\nbuilt by kiln, run /);
    expect(facts.stdout).toContain("datasource_list: [NoCloud, Exoscale, None]");
    expect(facts.stdout).toContain("keys: 1\n");
    expect(facts.stdout).toContain(newKey.pub);
    expect(facts.stdout).not.toContain(buildKey.pub);
    expect(facts.stdout).toContain("sudo-ok");
    const rootfs = Number(/rootfs: (\d+)/.exec(facts.stdout)?.[1]);
    expect(rootfs, "growpart/resizefs should grow / to the 10G disk").toBeGreaterThan(9 * 1024 ** 3);

    const old = await ssh(buildKey.file, "true");
    expect(old.code).toBe(255);
    expect(old.stderr).toContain("Permission denied (publickey)");

    await ssh(newKey.file, "sudo systemctl poweroff");
    for (let i = 0; i < 120 && guest.exitCode === null; i++) await sleep(500);
    expect(guest.exitCode, "the instance should power off within a minute").not.toBeNull();
  }, 1_500_000);
});
