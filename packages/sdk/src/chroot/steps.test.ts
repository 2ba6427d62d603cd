/**
 * The chroot steps through core's step runner, on a real disk image (MBR + ext4) attached as loop
 * devices: success with the early teardown, the image's own state afterwards, and interrupts in
 * the attach and mount phases (the provision phase is tested with the real provisioners in
 * @kiln/provisioners). Each checks that no loop device, mount or process of the test is left.
 */
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { lstat, mkdir, mkdtemp, readFile, readlink, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { abortableSleep, createRunContext, Deferred, EventBus, runSteps, type Step } from "@kiln/core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CHROOT_DEVICE, CHROOT_ROOT, CHROOT_TEARDOWN, COMMUNICATOR } from "../state.js";
import { chrootLeftovers, chrootSkip, makeDiskImage, removeTestDir } from "../testing/chroot.js";
import { chrootPipeline, expectNothingLeft, inImage, runChrootSteps } from "../testing/chroot-run.js";
import { ChrootCommunicator } from "./communicator.js";
import { hostCommands } from "./host.js";
import { attachImage, detachImage } from "./loop.js";
import { isMountPoint, readMounts } from "./mounts.js";
import type { ChrootOptions } from "./options.js";

const skip = chrootSkip("chroot steps");

type Opts = Partial<ChrootOptions>;

const runPipeline = async (steps: Step[], dir: string, signal?: AbortSignal) =>
  runChrootSteps(steps, { dir, ...(signal ? { signal } : {}) });

describe.skipIf(skip)("chroot steps", () => {
  let dir: string;
  let image: string;
  let mountPath: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "kiln-chroot-steps-"));
    image = join(dir, "disk.raw");
    makeDiskImage(image, {
      sizeMiB: 32,
      files: {
        "etc/hostname": "image\n",
        "run/resolv.conf.image": "nameserver 192.0.2.1\n",
        "tmp/.keep": "",
      },
      links: { "etc/resolv.conf": "../run/resolv.conf.image" },
    });
    mountPath = join(dir, "mnt", "root");
  });
  afterAll(() => {
    // Unmounts and detaches first, should a test have failed half-way; never rm -r over a mount.
    if (dir) removeTestDir(dir);
  });

  const nothingLeft = () => expectNothingLeft(image, dir);

  it("attaches, mounts, runs the commands, mounts and copies into the chroot, and undoes it all early", async () => {
    const log = join(dir, "commands.log");
    const o: Opts = {
      mount_path: Deferred.parse(`${join(dir, "mnt")}/\${{ build.Device }}-root`) as unknown as string,
      pre_mount_commands: [Deferred.parse(`echo "pre \${{ build.Device }}" >> ${log}`) as unknown as string],
      post_mount_commands: [
        Deferred.parse(
          `echo "post \${{ build.Device }} \${{ build.MountPath }}" >> ${log}`,
        ) as unknown as string,
        Deferred.parse(
          "echo written-after-mount > ${{ build.MountPath }}/etc/post-mount",
        ) as unknown as string,
      ],
      copy_files: ["/etc/resolv.conf", "/etc/hostname"],
    };
    let seen: { mounts: string; resolv: string; hostname: string; device: string; root: string } | undefined;
    const inspect: Step = {
      name: "inspect",
      async run(ctx) {
        const { mountPath: root } = ctx.state.require(CHROOT_ROOT);
        const { device } = ctx.state.require(CHROOT_DEVICE);
        const comm = ctx.state.require(COMMUNICATOR);
        expect(comm).toBeInstanceOf(ChrootCommunicator);
        expect(ctx.buildVars.Device).toBe(device);
        expect(ctx.buildVars.MountPath).toBe(root);
        seen = {
          mounts: (await readMounts())
            .filter((m) => m.target.startsWith(root))
            .map((m) => `${m.fstype} ${m.target.slice(root.length) || "/"}`)
            .join("\n"),
          resolv: await readFile(join(root, "etc", "resolv.conf"), "utf8"),
          hostname: await readFile(join(root, "etc", "hostname"), "utf8"),
          device,
          root,
        };
      },
    };
    const r = await runPipeline(chrootPipeline(image, o, { provision: [inspect] }), dir);
    expect(r.error).toBeUndefined();
    if (!seen) throw new Error("the inspect step did not run");
    const dev = seen.device.replace("/dev/", "");
    expect(seen.root).toBe(join(dir, "mnt", `${dev}-root`));
    expect(seen.mounts.split("\n")).toEqual([
      "ext4 /",
      "proc /proc",
      "sysfs /sys",
      "devtmpfs /dev",
      "devpts /dev/pts",
      ...(readFileSync("/proc/filesystems", "utf8").includes("binfmt_misc")
        ? ["binfmt_misc /proc/sys/fs/binfmt_misc"]
        : []),
    ]);
    expect(seen.resolv).toBe(readFileSync("/etc/resolv.conf", "utf8"));
    expect(seen.hostname).toBe(readFileSync("/etc/hostname", "utf8"));
    expect(readFileSync(log, "utf8")).toBe(`pre ${seen.device}\npost ${seen.device} ${seen.root}\n`);
    expect(r.ctx.state.require(CHROOT_TEARDOWN).pending()).toEqual([]);
    // kiln made the mount folder, so it is gone again
    expect(existsSync(seen.root)).toBe(false);
    nothingLeft();
    // The image: what post_mount_commands wrote is in it; its own resolv.conf link and hostname are back.
    await inImage(image, dir, async (root) => {
      expect(await readFile(join(root, "etc", "post-mount"), "utf8")).toBe("written-after-mount\n");
      expect((await lstat(join(root, "etc", "resolv.conf"))).isSymbolicLink()).toBe(true);
      expect(await readlink(join(root, "etc", "resolv.conf"))).toBe("../run/resolv.conf.image");
      expect(await readFile(join(root, "etc", "hostname"), "utf8")).toBe("image\n");
      expect((await readMounts()).some((m) => m.target.startsWith(join(root, "proc")))).toBe(false);
    });
  });

  it("makes a bind mount private, so mounts below it do not reach this machine's folder", async () => {
    const shared = join(dir, "shared");
    await mkdir(shared, { recursive: true });
    const host = hostCommands();
    await host.run(`mount -t tmpfs kiln-shared ${shared}`);
    await host.run(`mount --make-shared ${shared}`);
    await mkdir(join(shared, "inner"));
    let leaked: boolean | undefined;
    try {
      const probe: Step = {
        name: "probe",
        async run(ctx) {
          const { mountPath: root } = ctx.state.require(CHROOT_ROOT);
          await host.run(`mount -t tmpfs kiln-inner ${join(root, "srv", "inner")}`);
          leaked = await isMountPoint(join(shared, "inner"));
        },
      };
      const r = await runPipeline(
        chrootPipeline(
          image,
          { mount_path: mountPath, copy_files: [], chroot_mounts: [["bind", shared, "/srv"]] },
          {
            provision: [probe],
          },
        ),
        dir,
      );
      expect(r.error).toBeUndefined();
      expect(leaked).toBe(false);
    } finally {
      await host.run(`umount -R ${shared}`, { allowFailure: true });
    }
    nothingLeft();
  });

  it("fails with the command's exit code when a pre_mount_command fails, and undoes the attach", async () => {
    const r = await runPipeline(
      chrootPipeline(image, { mount_path: mountPath, pre_mount_commands: ["echo no >&2; exit 7"] }),
      dir,
    );
    expect(String(r.error)).toMatch(/pre_mount_commands\[0\] failed \(exit code 7\)/);
    expect(r.text).toContain("no");
    nothingLeft();
  });

  it("refuses Packer's {{.Device}} before anything is mounted", async () => {
    const r = await runPipeline(chrootPipeline(image, { mount_path: "/mnt/{{.Device}}" }), dir);
    expect(String(r.error)).toContain("in kiln write ${{ build.Device }}");
    nothingLeft();
  });

  it("fails when the partition does not exist, naming it, and leaves nothing", async () => {
    const r = await runPipeline(
      [...chrootPipeline(image, { mount_path: mountPath, mount_partition: "3" })],
      dir,
      undefined,
    );
    expect(String(r.error)).toMatch(/\/dev\/loop[0-9]+ has no partition 3 \(it has 1\)/);
    nothingLeft();
  });

  it("mounts a device a builder attached (a udev-style link that appears late), by its partition name", async () => {
    // What outscale-chroot's volume link does: the node /dev/xvdf(1) appears some time after the API call.
    const host = hostCommands();
    const a = await attachImage(host, image, { partitions: "offset" });
    const devDir = join(dir, "dev");
    await mkdir(devDir, { recursive: true });
    const xvdf = join(devDir, "xvdf");
    const linked: Step = {
      name: "link-volume",
      async run(ctx) {
        ctx.state.put(CHROOT_DEVICE, { device: xvdf });
        setTimeout(() => {
          void symlink(a.device, xvdf).then(() => symlink(a.partitions["1"] as string, `${xvdf}1`));
        }, 400);
      },
    };
    let root = "";
    const probe: Step = {
      name: "probe",
      async run(ctx) {
        root = ctx.state.require(CHROOT_ROOT).mountPath;
        expect(ctx.state.require(CHROOT_ROOT).device).toBe(`${xvdf}1`);
        expect(await readFile(join(root, "etc", "hostname"), "utf8")).toBe("image\n");
      },
    };
    try {
      const o: Opts = {
        mount_path: Deferred.parse(`${dir}/vols/\${{ build.Device }}`) as unknown as string,
        copy_files: [],
      };
      const steps = chrootPipeline(image, o, { provision: [probe] }).slice(1); // no attach step: the builder's own instead
      const r = await runPipeline([linked, ...steps], dir);
      expect(r.error).toBeUndefined();
      expect(r.text).toContain(`Waiting for ${xvdf}1...`);
      expect(root).toBe(join(dir, "vols", "xvdf")); // build.Device in mount_path is the device's name
      expect(existsSync(root)).toBe(false);
      expect(chrootLeftovers({ dir }).mounts).toEqual([]);
    } finally {
      await detachImage(host, a);
      await rm(devDir, { recursive: true, force: true });
    }
    nothingLeft();
  });

  it("builds from scratch: pre_mount_commands format the whole device (mount_partition 0)", async () => {
    const blank = join(dir, "blank.raw");
    execFileSync("truncate", ["-s", "24M", blank]);
    try {
      const o: Opts = {
        mount_path: mountPath,
        mount_partition: "0",
        copy_files: [],
        chroot_mounts: [],
        pre_mount_commands: [
          Deferred.parse("mkfs.ext4 -q -L scratch ${{ build.Device }}") as unknown as string,
        ],
        post_mount_commands: [
          Deferred.parse(
            "mkdir ${{ build.MountPath }}/etc && echo scratch > ${{ build.MountPath }}/etc/marker",
          ) as unknown as string,
        ],
      };
      const r = await runPipeline(chrootPipeline(blank, o), dir);
      expect(r.error).toBeUndefined();
      expect(chrootLeftovers({ image: blank, dir }).loops).toEqual([]);
      nothingLeft();
      // The file now holds the filesystem, with what post_mount_commands wrote.
      expect(
        execFileSync("debugfs", ["-R", "cat /etc/marker", blank], {
          stdio: ["ignore", "pipe", "ignore"],
        }).toString(),
      ).toBe("scratch\n");
    } finally {
      await rm(blank, { force: true });
    }
  });

  describe("interrupted", () => {
    const interruptWhen = async (o: Opts, when: (r: { text: () => string }) => boolean, extra = {}) => {
      const ctl = new AbortController();
      const bus: string[] = [];
      const steps = chrootPipeline(image, o, extra);
      // Poll the machine's state (and the log lines) to abort at the right moment.
      const started = Date.now();
      const watcher = (async () => {
        while (!ctl.signal.aborted && Date.now() - started < 60_000) {
          if (when({ text: () => bus.join("\n") })) {
            ctl.abort();
            return;
          }
          await new Promise((r) => setTimeout(r, 5));
        }
      })();
      const bus2 = new EventBus();
      bus2.subscribe((e) => {
        if ("text" in e && typeof e.text === "string") bus.push(e.text);
      });
      const { ctx, dispose } = createRunContext({
        run: { name: "b.chroot.s", build: "b", source: "s", type: "chroot", runUuid: "u" },
        ui: bus2.ui("b.chroot.s"),
        baseDir: dir,
        signal: ctl.signal,
      });
      const t0 = Date.now();
      const err = await runSteps(steps, ctx, { bus: bus2, onError: "cleanup" }).then(
        () => undefined,
        (e: unknown) => e,
      );
      await dispose();
      await watcher;
      return { err, ms: Date.now() - t0, aborted: ctl.signal.aborted };
    };

    it("while attaching: as soon as a loop device exists", async () => {
      const r = await interruptWhen(
        { mount_path: mountPath },
        () => chrootLeftovers({ image }).loops.length > 0,
      );
      expect(r.aborted).toBe(true);
      expect(r.err).toBeDefined();
      nothingLeft();
    });

    it("while mounting: in post_mount_commands, with the root mounted", async () => {
      const r = await interruptWhen(
        { mount_path: mountPath, post_mount_commands: ["echo post-started; sleep 60"] },
        (s) => s.text().includes("post-started"),
      );
      expect(r.aborted).toBe(true);
      expect(r.ms).toBeLessThan(20_000);
      nothingLeft();
      expect(existsSync(mountPath)).toBe(false);
    });

    it("while mounting: between the chroot mounts", async () => {
      const r = await interruptWhen({ mount_path: mountPath }, () =>
        chrootLeftovers({ dir: mountPath }).mounts.some((m) => m.endsWith("/proc")),
      );
      expect(r.aborted).toBe(true);
      nothingLeft();
    });

    it("while a process keeps the chroot busy", async () => {
      const holder: Step = {
        name: "busy",
        async run(ctx) {
          const comm = ctx.state.require(COMMUNICATOR);
          // A daemon in the chroot that holds a file open below /tmp, like a service started by apt.
          await comm.exec(
            "exec 3>/tmp/held; setsid sh -c 'exec sleep 600' 3>/tmp/held >/dev/null 2>&1 </dev/null &",
          );
          await writeFile(join(dir, "busy-ready"), "");
          await abortableSleep(60_000, ctx.signal);
        },
      };
      // The image has no /bin/sh of its own: borrow this machine's for this test.
      const o: Opts = { mount_path: mountPath, copy_files: [] };
      const bindUsr: Step = {
        name: "bind-usr",
        async run(ctx) {
          const { mountPath: root } = ctx.state.require(CHROOT_ROOT);
          const host = hostCommands();
          for (const d of ["usr", "bin", "lib", "lib64"]) await mkdir(join(root, d), { recursive: true });
          for (const d of ["usr", "bin", "lib", "lib64"])
            await host.run(`mount --bind /${d} ${join(root, d)}`);
        },
      };
      const r = await interruptWhen(o, () => existsSync(join(dir, "busy-ready")), {
        afterMount: [bindUsr],
        provision: [holder],
      });
      expect(r.aborted).toBe(true);
      nothingLeft();
      await rm(join(dir, "busy-ready"), { force: true });
    });
  });
});
