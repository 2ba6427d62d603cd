/**
 * outscale-chroot end to end, as root on loop devices: the OAPI double registers this machine as
 * the VM i-kilnhost and serves its metadata on loopback; LinkVolume to it attaches the volume's
 * file as loop devices with /dev/xvdX nodes (udev's part). The build makes a volume from the
 * appliance OMI's root snapshot, links it here, mounts its first partition, runs a shell
 * provisioner inside the chroot (the appliance's busybox), unmounts, unlinks, snapshots and
 * registers an OMI — and a real QEMU guest booted from that OMI shows the marker. from_scratch
 * formats an empty volume; Ctrl-C at every step leaves no volume, snapshot, mount, loop device
 * or node; the double's UnlinkVolume refuses a mounted device.
 */
import { execFileSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { buildFile, chrootSkip } from "@kiln/sdk/testing";
import { NOTHING_LEFT } from "@kiln-testbed/outscale";
import { describe, expect, it } from "vitest";
import { deleteImageAndSnapshots, useDouble } from "./test-double.js";
import { guestDouble, noQemu, tail, until, withVm } from "./test-vm.js";

const RESOLVER = {
  standard: {
    builder: { "outscale-chroot": "@kiln/builder-outscale", "osc-chroot": "@kiln/builder-outscale" },
    provisioner: { shell: "@kiln/provisioners" },
  },
};
const noChroot = chrootSkip("outscale-chroot");
const skip = noChroot || noQemu;
const MARK = `kiln-chroot-${process.pid}`;

const loopsOn = (dir: string) =>
  execFileSync("losetup", ["-a"], { encoding: "utf8" })
    .split("\n")
    .filter((l) => l.includes(dir));
/** The double's snapshot folder (its disk files). */
const diskRoot = () => {
  const base = tmpdir();
  const d = readdirSync(base)
    .filter((f) => f.startsWith("kiln-osc-double-"))
    .map((f) => join(base, f, "snapshots"))
    .filter((p) => existsSync(p))
    .sort((a, b) => statSync(b).mtimeMs - statSync(a).mtimeMs)[0];
  return d as string;
};
const mountsUnder = (prefix: string) =>
  readFileSync("/proc/self/mountinfo", "utf8")
    .split("\n")
    .filter((l) => l.split(" ")[4]?.startsWith(prefix));

describe.skipIf(skip)("outscale-chroot on this machine as the host VM", () => {
  const diskDir = "kiln-osc-double-";
  const consoles: string[] = [];
  const t = useDouble("e2e-chroot", () => guestDouble(consoles, { durations: { volume: 50 }, host: {} }));

  const yaml = (name: string, extra = "") => `kiln: 1
sources:
  root:
    type: outscale-chroot
${t.accessYaml}
    metadata_endpoint: ${t.osc.metadataEndpoint}
    source_omi: ${t.osc.baseImageId}
    root_volume_size: 3
    root_volume_type: gp2
    omi_name: ${name}
    image_timeout: 2m
${extra}
builds:
  - sources: [root]
    provisioners:
      - type: shell
        inline:
          - echo ${MARK} > /root/marker
          - test -f /etc/resolv.conf
          - mount | grep -q " /proc " || grep -q proc /proc/mounts
`;

  const nothingLeft = (keep: string[] = []) => {
    const left = t.osc.leftovers();
    expect({ ...left, images: left.images.filter((i) => !keep.includes(i)), snapshots: [] }).toEqual({
      ...NOTHING_LEFT,
      hostDevices: [],
    });
    expect(loopsOn(diskDir)).toEqual([]);
    expect(mountsUnder("/mnt/kiln-chroot-volumes")).toEqual([]);
    for (const l of "fghij") expect(existsSync(`/dev/xvd${l}`), `/dev/xvd${l}`).toBe(false);
  };

  let omiId = "";
  it("builds an OMI from a volume provisioned in a chroot on this machine", async () => {
    const r = await buildFile(t.dir, "chroot.yaml", yaml(`kiln-chroot-${process.pid}`), {
      resolver: RESOLVER,
    });
    expect(r.result.ok, r.log).toBe(true);
    expect(r.log).toMatch(/Running on VM i-kilnhost in eu-west-2a/);
    expect(r.log).toMatch(/Linked the volume vol-[0-9a-f]+ as \/dev\/xvd[f-p] \(\/dev\/xvd[f-p]\)/);
    const artifact = r.result.runs[0]?.artifacts[0];
    omiId = (artifact?.data as { omis?: Record<string, string> } | undefined)?.omis?.[t.osc.region] ?? "";
    const img = t.osc.state.images.get(omiId);
    expect(img?.State).toBe("available");
    expect(img?.BlockDeviceMappings[0]).toMatchObject({
      DeviceName: "/dev/sda1",
      Bsu: { VolumeSize: 3, VolumeType: "gp2", DeleteOnVmDeletion: true },
    });
    nothingLeft([omiId]);
    expect(t.osc.leftovers().snapshots).toEqual([img?.BlockDeviceMappings[0]?.Bsu.SnapshotId]);
  }, 600_000);

  it("from_scratch: an empty volume formatted by pre_mount_commands (mount_partition 0) holds the provisioned file", async () => {
    const r = await buildFile(
      t.dir,
      "scratch.yaml",
      `kiln: 1
sources:
  root:
    type: osc-chroot
${t.accessYaml}
    metadata_endpoint: ${t.osc.metadataEndpoint}
    from_scratch: true
    root_volume_size: 1
    pre_mount_commands: ["mkfs.ext4 -q -L scratch \${{ build.Device }}"]
    post_mount_commands:
      - mkdir -p \${{ build.MountPath }}/tmp
      - for b in /bin/sh /bin/dash /bin/chmod /bin/rm; do cp -L --parents $b $(ldd $b | grep -o '/[^ ]*') \${{ build.MountPath }}; done
    chroot_mounts: []
    mount_partition: "0"
    omi_name: kiln-scratch-${process.pid}
builds:
  - sources: [root]
    provisioners:
      - type: shell
        inline: ["echo ${MARK} > /hello"]
`,
      { resolver: RESOLVER },
    );
    expect(r.result.ok, r.log).toBe(true);
    const data = r.result.runs[0]?.artifacts[0]?.data as { omis?: Record<string, string> } | undefined;
    const id = data?.omis?.[t.osc.region] ?? "";
    const snap = t.osc.state.images.get(id)?.BlockDeviceMappings[0]?.Bsu.SnapshotId as string;
    const file = readdirSync(diskRoot()).find((f) => f.startsWith(snap));
    expect(file).toBeDefined();
    const out = execFileSync("debugfs", ["-R", "cat /hello", join(diskRoot(), file as string)], {
      encoding: "utf8",
    });
    expect(out.trim()).toBe(MARK);
    await r.result.runs[0]?.artifacts[0]?.destroy?.();
    nothingLeft([omiId]);
  }, 300_000);

  it("Ctrl-C at every step, at its start and while it runs, leaves no volume, snapshot, mount, loop device or node", async () => {
    const whole = await buildFile(t.dir, "chroot-steps.yaml", yaml(`kiln-chroot-steps-${process.pid}`), {
      resolver: RESOLVER,
    });
    expect(whole.result.ok, whole.log).toBe(true);
    await whole.result.runs[0]?.artifacts[0]?.destroy?.();
    const steps = whole.events.flatMap((e) => (e.type === "step-start" ? [e.step] : []));
    expect(steps).toEqual(
      expect.arrayContaining(["link volume", "mount-device", "chroot-mounts", "provision"]),
    );
    for (const step of steps)
      for (const delay of [0, 30]) {
        const ctl = new AbortController();
        const r = await buildFile(t.dir, "chroot-int.yaml", yaml(`kiln-chroot-int-${process.pid}`), {
          resolver: RESOLVER,
          signal: ctl.signal,
          onEvent: (e) => {
            if (e.type === "step-start" && e.step === step)
              setTimeout(() => ctl.abort(new Error("interrupt")), delay);
          },
        });
        // A step that ends before the abort lands may let the build finish: then its artifact is destroyed.
        if (r.result.ok) await r.result.runs[0]?.artifacts[0]?.destroy?.();
        expect([step, delay, r.events.some((e) => e.type === "step-start" && e.step === step)]).toEqual([
          step,
          delay,
          true,
        ]);
        nothingLeft([omiId]);
      }
  }, 600_000);

  it("the double's UnlinkVolume refuses while the device is mounted, as a busy device does", async () => {
    const vol = (await t.call("CreateVolume", { SubregionName: `${t.osc.region}a`, Size: 1 })).Volume
      .VolumeId;
    await until(
      async () =>
        (await t.call("ReadVolumes", { Filters: { VolumeIds: [vol] } })).Volumes[0].State === "available",
      10_000,
    );
    execFileSync("mkfs.ext4", ["-q", join(diskRoot(), "..", "volumes", `${vol}.raw`)]);
    await t.call("LinkVolume", { VolumeId: vol, VmId: t.osc.hostVmId, DeviceName: "/dev/xvdk" });
    const mnt = join(t.dir, "busy");
    execFileSync("mkdir", ["-p", mnt]);
    execFileSync("mount", ["/dev/xvdk", mnt]);
    try {
      await expect(t.call("UnlinkVolume", { VolumeId: vol })).rejects.toThrow(/busy.*\/dev\/xvdk is mounted/);
    } finally {
      execFileSync("umount", [mnt]);
    }
    await t.call("UnlinkVolume", { VolumeId: vol });
    await t.call("DeleteVolume", { VolumeId: vol });
    nothingLeft([omiId]);
  }, 60_000);

  it.skipIf(noQemu)(
    "a VM from the new OMI boots and shows the marker written in the chroot",
    async () => {
      expect(omiId).not.toBe("");
      const out = await withVm(t, omiId, { consoles }, (vm) => vm.ssh("cat /root/marker"));
      expect(out.trim(), tail(consoles, 30)).toBe(MARK);
      await deleteImageAndSnapshots(t, omiId);
      nothingLeft();
    },
    600_000,
  );
});
