/**
 * Checkpoints with real QEMU under TCG on the test appliance's installed disk (disk_image), one
 * build after another on one cache, with as few cold boots as possible (two):
 *
 *  1. full build, three provisioners (a script file, a file upload, an inline command): saves
 *     checkpoints 0–3; the output holds what all three wrote (read with debugfs, no boot);
 *  2. nothing changed: up to date, no QEMU;
 *  3. last provisioner changed: restored from checkpoint 2, only it runs;
 *  4. the first provisioner's script changed: restored from checkpoint 0, all three run;
 *  5. a damaged memory file (one byte, size and time kept): QEMU loads it, kiln's SHA-256 does
 *     not match, the machine never runs; the run goes on from the checkpoint before;
 *  6. builder options changed (a cidata CD with the temporary key, use_backing_file): everything
 *     runs again from a cold boot; the output is an overlay on the original image only;
 *  7. restored with the saved key and CD, then Ctrl-C while a checkpoint is being saved: no
 *     partial checkpoint, no QEMU, no output.
 */
import { execFileSync, spawnSync } from "node:child_process";
import {
  closeSync,
  existsSync,
  openSync,
  readdirSync,
  readFileSync,
  readSync,
  rmSync,
  statSync,
  utimesSync,
  writeFileSync,
  writeSync,
} from "node:fs";
import { join } from "node:path";
import type { KilnEvent } from "@kiln/core";
import { describe, expect, it } from "vitest";
import {
  type BuildRun,
  buildFile,
  errorText,
  note,
  pidsMatching,
  qemuPids,
  qemuSkip,
  useQemuScratch,
} from "./test-support.js";

const { skip: noQemu, reason: qemuReason } = qemuSkip();
const noDebugfs = spawnSync("sh", ["-c", "command -v debugfs"], { stdio: "ignore" }).status !== 0;
const skip = noQemu || (noDebugfs && process.env.CI !== "true");
const reason = noQemu ? qemuReason : "debugfs is missing: apt-get install e2fsprogs";

type Ck = Extract<KilnEvent, { type: "checkpoint" }>;
const ck = (r: BuildRun, action: Ck["action"]) =>
  r.events.filter((e): e is Ck => e.type === "checkpoint" && e.action === action);
const provisioned = (r: BuildRun) =>
  r.events.filter((e) => e.type === "say" && /^Provisioning with [a-z-]+\.\.\.$/.test(e.text)).length;
const started = (r: BuildRun) => r.events.some((e) => e.type === "step-start" && e.step === "start vm");

/** A file of the output disk's root file system (the appliance: one ext2 partition at 1 MiB). */
function readGuestFile(disk: string, path: string, tmp: string): string {
  const raw = join(tmp, "out.raw");
  execFileSync("qemu-img", ["convert", "-O", "raw", disk, raw]);
  try {
    return execFileSync("debugfs", ["-R", `cat ${path}`, `${raw}?offset=1048576`], {
      encoding: "utf8",
      stdio: ["ignore", "pipe", "ignore"],
    });
  } finally {
    rmSync(raw, { force: true });
  }
}

describe.skipIf(skip)(`checkpoints end to end${skip ? ` (skipped: ${reason})` : ""}`, () => {
  const scratch = useQemuScratch("ckpt");
  let dir = "";
  let cache = "";

  // seed: log in with the temporary key, given to the guest on a cidata CD (kept in checkpoint
  // 0, the key in every checkpoint), the output an overlay on the appliance's disk.
  const yaml = (o: { seed?: boolean; last?: string }) => `kiln: 1
sources:
  app:
    type: qemu
    iso_url: ${scratch.appliance.disk}
    iso_checksum: none
    disk_image: true
    accelerator: tcg
    memory: 256
    disk_size: 2G
    ssh_username: root
    ssh_timeout: 3m
${
  o.seed
    ? `    use_backing_file: true
    cd_label: cidata
    cd_content:
      meta-data: "instance-id: kiln-ckpt\\n"
      user-data: |
        #cloud-config
        ssh_authorized_keys:
          - "\${{ build.SSHPublicKey }}"`
    : "    ssh_password: kiln"
}
    shutdown_command: poweroff
    vm_name: app.qcow2
builds:
  - name: ck
    sources: [app]
    provisioners:
      - { type: shell, script: setup.sh }
      - { type: file, source: motd.txt, destination: /etc/motd }
      - { type: shell, inline: ["echo ${o.last ?? "three"} > /root/p3"] }
`;
  const build = (
    o: Parameters<typeof yaml>[0],
    extra: { force?: boolean; onEvent?: (e: KilnEvent) => void; signal?: AbortSignal } = {},
  ) => buildFile(dir, "ck.yaml", yaml(o), { ...extra, cache: { cacheDir: cache } });
  const disk = () => join(dir, "output-app", "app.qcow2");
  const guest = (path: string) => readGuestFile(disk(), path, dir).trim();
  const keys = () => readdirSync(join(cache, "checkpoints")).filter((n) => /^[0-9a-f]{64}$/.test(n));
  const hidden = () =>
    readdirSync(join(cache, "checkpoints")).filter(
      (n) => n.startsWith(".partial") || n.startsWith(".scratch"),
    );
  const timed = (what: string, r: BuildRun) =>
    note(`checkpoints e2e: ${what}: ${(r.ms / 1000).toFixed(1)} s`);

  it("a full build saves a checkpoint after connect and after each provisioner", async () => {
    dir = scratch.dir("build");
    cache = join(dir, "cache");
    writeFileSync(join(dir, "setup.sh"), "echo one > /root/p1\n");
    writeFileSync(join(dir, "motd.txt"), "checkpointed\n");
    const r = await build({});
    timed("full build", r);
    expect(r.result.ok, `${r.log}\n${errorText(r)}`).toBe(true);
    expect(ck(r, "saved").map((e) => e.index)).toEqual([0, 1, 2, 3]);
    expect(keys()).toHaveLength(4);
    expect(hidden()).toEqual([]);
    expect(statSync(join(cache, "checkpoints")).mode & 0o777).toBe(0o700);
    expect([guest("/root/p1"), guest("/etc/motd"), guest("/root/p3")]).toEqual([
      "one",
      "checkpointed",
      "three",
    ]);
  }, 300_000);

  it("an unchanged build is up to date: nothing starts", async () => {
    const r = await build({});
    expect(r.result.ok, errorText(r)).toBe(true);
    expect(r.events.some((e) => e.type === "up-to-date")).toBe(true);
    expect(started(r)).toBe(false);
    expect(r.ms).toBeLessThan(10_000);
  }, 60_000);

  it("a changed last provisioner reruns only it, from the machine saved before it", async () => {
    const r = await build({ last: "THREE" }, { force: true });
    timed("last provisioner changed", r);
    expect(r.result.ok, `${r.log}\n${errorText(r)}`).toBe(true);
    expect(ck(r, "restored")[0]).toMatchObject({ index: 2, skipped: ["connect", "shell", "file"] });
    expect(provisioned(r)).toBe(1);
    expect(ck(r, "saved").map((e) => e.index)).toEqual([3]);
    expect([guest("/root/p1"), guest("/etc/motd"), guest("/root/p3")]).toEqual([
      "one",
      "checkpointed",
      "THREE",
    ]);
  }, 300_000);

  it("a changed early file reruns from there", async () => {
    writeFileSync(join(dir, "setup.sh"), "echo ONE > /root/p1\n");
    const r = await build({ last: "THREE" }, { force: true });
    timed("first script changed", r);
    expect(r.result.ok, `${r.log}\n${errorText(r)}`).toBe(true);
    expect(ck(r, "restored")[0]).toMatchObject({ index: 0, skipped: ["connect"] });
    expect(provisioned(r)).toBe(3);
    expect(
      r.events.some((e) => e.type === "say" && e.text === "Not up to date: shell: setup.sh changed"),
    ).toBe(true);
    expect(guest("/root/p1")).toBe("ONE");
  }, 300_000);

  it("a damaged checkpoint is skipped with a warning: the run goes on from the one before", async () => {
    // Checkpoint 2 of the current chain (after the file provisioner): flip bytes in the middle
    // of its memory file, keeping its size and time, so only loading it can tell.
    const metaOf = (k: string) =>
      JSON.parse(readFileSync(join(cache, "checkpoints", k, "meta.json"), "utf8")) as {
        key: string;
        index: number;
        created: string;
      };
    const newest = keys()
      .map(metaOf)
      .filter((m) => m.index === 2)
      .sort((a, b) => b.created.localeCompare(a.created))[0];
    if (!newest) throw new Error("no checkpoint 2");
    const vmstate = join(cache, "checkpoints", newest.key, "vmstate");
    const st = statSync(vmstate);
    // One byte: almost surely inside a page of memory, which QEMU takes as it is; kiln's hash does not.
    const fd = openSync(vmstate, "r+");
    const at = Math.floor(st.size / 2);
    const byte = Buffer.alloc(1);
    readSync(fd, byte, 0, 1, at);
    writeSync(fd, Buffer.from([(byte[0] as number) ^ 0xff]), 0, 1, at);
    closeSync(fd);
    utimesSync(vmstate, st.atime, st.mtime);
    const r = await build({ last: "three again" }, { force: true });
    timed("damaged checkpoint", r);
    expect(r.result.ok, `${r.log}\n${errorText(r)}`).toBe(true);
    expect(ck(r, "unusable")[0]).toMatchObject({ index: 2 });
    note(`checkpoints e2e: damaged checkpoint 2: ${ck(r, "unusable")[0]?.reason}`);
    expect(ck(r, "unusable")[0]?.reason).toMatch(/damaged|cannot be loaded/);
    expect(ck(r, "restored").map((e) => e.index)).toEqual([2, 1]);
    expect(provisioned(r)).toBe(2);
    expect([guest("/root/p1"), guest("/etc/motd"), guest("/root/p3")]).toEqual([
      "ONE",
      "checkpointed",
      "three again",
    ]);
    expect(qemuPids(dir)).toEqual([]);
  }, 300_000);

  it("a changed builder option reruns everything", async () => {
    const r = await build({ seed: true, last: "three again" }, { force: true });
    timed("builder options changed (seed CD, temporary key, use_backing_file)", r);
    expect(r.result.ok, `${r.log}\n${errorText(r)}`).toBe(true);
    expect(ck(r, "restored")).toEqual([]);
    expect(provisioned(r)).toBe(3);
    expect(ck(r, "saved").map((e) => e.index)).toEqual([0, 1, 2, 3]);
    // use_backing_file: the output is an overlay on the original image, not on the cache.
    const info = JSON.parse(
      execFileSync("qemu-img", ["info", "--output=json", disk()], { encoding: "utf8" }),
    );
    expect(info["backing-filename"]).toBe(scratch.appliance.disk);
    expect([guest("/root/p1"), guest("/root/p3")]).toEqual(["ONE", "three again"]);
  }, 300_000);

  it("Ctrl-C while a checkpoint is saved leaves no half checkpoint and no QEMU", async () => {
    rmSync(join(dir, "output-app"), { recursive: true, force: true });
    const before = keys().length;
    const ctl = new AbortController();
    let savingAt = 0;
    const r = await build(
      { seed: true, last: "interrupted" },
      {
        signal: ctl.signal,
        onEvent: (e) => {
          if (e.type === "checkpoint" && e.action === "saving" && e.index === 3) {
            savingAt = Date.now();
            setTimeout(() => ctl.abort(new Error("SIGINT")), 60);
          }
        },
      },
    );
    expect(savingAt).toBeGreaterThan(0);
    expect(ck(r, "restored")[0]).toMatchObject({ index: 2 });
    expect(r.result.ok).toBe(false);
    expect(hidden()).toEqual([]);
    expect(keys()).toHaveLength(before);
    expect(qemuPids(dir)).toEqual([]);
    expect(pidsMatching(cache).filter((p) => qemuPids(cache).includes(p))).toEqual([]);
    expect(existsSync(join(dir, "output-app"))).toBe(false);
    const staging = readdirSync(dir).filter(
      (f) => f.startsWith(".output-app.kiln-") && !f.endsWith("inputs.json"),
    );
    expect(staging).toEqual([]);
  }, 300_000);
});
