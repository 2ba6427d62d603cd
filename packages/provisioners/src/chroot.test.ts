/**
 * The shell and file provisioners, unchanged, through the SDK's chroot communicator, against real
 * root filesystems: the test appliance's disk (busybox, from testbed/appliance) and the Debian 12
 * image (testbed/debian: bash, util-linux, so the shell provisioner's `setsid -w` path), converted
 * to raw, attached as loop devices, mounted with the chroot mounts and resolv.conf, as a chroot
 * builder does. Also interrupts in each phase — attach, mount, provision — after which no loop
 * device, mount or process of the test may be left, and the image keeps no uploaded script.
 * Runs as root with loop devices; skips elsewhere, except under CI=true.
 */
import { execFileSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { lstat, mkdir, mkdtemp, readFile, readlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Deferred, type Step } from "@kiln/core";
import type { ChrootOptions } from "@kiln/sdk";
import {
  chrootLeftovers,
  chrootPipeline,
  chrootSkip,
  expectNothingLeft,
  inImage,
  provisionStep,
  removeTestDir,
  runChrootSteps,
} from "@kiln/sdk/testing";
import { ensureAppliance } from "@kiln-testbed/appliance";
import { ensureDebianImage } from "@kiln-testbed/debian";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { file } from "./file.js";
import { fileSchema, shellSchema } from "./schema.js";
import { shell } from "./shell.js";

const skip = chrootSkip("chroot provisioning");

type Opts = Partial<ChrootOptions>;

interface RootKind {
  name: string;
  /** The qcow2 disk (one partition holding /). */
  disk: () => Promise<string>;
  /** What `cat /etc/hostname /etc/os-release` shows in it. */
  shows: string;
  /** Run the attach and mount interrupts too (once is enough: they do not depend on the root's content). */
  allPhases: boolean;
}

const KINDS: RootKind[] = [
  {
    name: "the appliance (busybox)",
    disk: async () => (await ensureAppliance()).disk,
    shows: "kiln-appliance",
    allPhases: true,
  },
  {
    name: "Debian 12",
    disk: async () => (await ensureDebianImage()).disk,
    shows: "ID=debian",
    allPhases: false,
  },
];

/** How /etc/resolv.conf is in the image: a link and its target, a file and its text, or nothing. */
async function resolvState(root: string): Promise<string> {
  const p = join(root, "etc", "resolv.conf");
  const st = await lstat(p).catch(() => undefined);
  if (!st) return "none";
  return st.isSymbolicLink() ? `link ${await readlink(p)}` : `file ${await readFile(p, "utf8")}`;
}

describe.skipIf(skip).each(KINDS)("shell and file provisioners in a chroot of $name", (kind) => {
  let dir: string;
  let image: string;
  let mnt: string;
  let resolvBefore = "";
  const lines: string[] = [];

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "kiln-chroot-prov-"));
    image = join(dir, "root.raw");
    mnt = join(dir, "mnt");
    execFileSync("qemu-img", ["convert", "-O", "raw", await kind.disk(), image]);
    resolvBefore = await look(resolvState);
  }, 600_000);
  afterAll(() => {
    // Unmounts and detaches first, should a test have failed half-way; never rm -r over a mount.
    if (dir) removeTestDir(dir);
  });

  const pipeline = (o: Opts, provision: Step[]): Step[] =>
    chrootPipeline(image, o, { partitions: "offset", provision });

  async function build(steps: Step[], signal?: AbortSignal) {
    lines.length = 0;
    const onLine = (l: string) => lines.push(l);
    return (await runChrootSteps(steps, { dir, source: "app", onLine, ...(signal ? { signal } : {}) })).error;
  }

  /** Look into the image (read-only) once the build is over. */
  const look = <T>(fn: (root: string) => Promise<T>): Promise<T> => inImage(image, dir, fn);

  const nothingLeft = () => expectNothingLeft(image, dir);

  it("runs inline commands and scripts, uploads and downloads files and folders inside the chroot", async () => {
    const o: Opts = { mount_path: Deferred.parse(`${mnt}/\${{ build.Device }}`) as unknown as string };
    const src = join(dir, "payload");
    await mkdir(join(src, "conf.d"), { recursive: true });
    await writeFile(join(src, "conf.d", "app.conf"), "key=value\n");
    await writeFile(join(dir, "single.txt"), "one file\n");
    const script = join(dir, "script.sh");
    await writeFile(
      script,
      '#!/bin/sh\necho "script ran as $(id -u) with FOO=$FOO"\necho marker-from-chroot > /root/marker\n',
    );
    process.env.KILN_TEST_HOST_SECRET = "host-only-value";
    const down = join(dir, "down");
    await mkdir(down);
    let err: unknown;
    try {
      err = await build(
        pipeline(o, [
          provisionStep(shell, shellSchema, {
            inline: [
              "cat /etc/hostname /etc/os-release 2>/dev/null || true",
              "grep -E ' (/proc|/sys|/dev|/dev/pts) ' /proc/mounts | cut -d' ' -f2,3 | sort",
              'echo "secret:[$KILN_TEST_HOST_SECRET]"',
              "cat /etc/resolv.conf | head -1",
            ],
          }),
          provisionStep(shell, shellSchema, { script, environment_vars: ["FOO=bar baz"] }),
          provisionStep(file, fileSchema, {
            source: join(dir, "single.txt"),
            destination: "/root/single.txt",
          }),
          provisionStep(file, fileSchema, { source: `${src}/`, destination: "/opt/payload" }),
          provisionStep(file, fileSchema, {
            source: "/root/marker",
            destination: `${down}/marker`,
            direction: "download",
          }),
          provisionStep(file, fileSchema, {
            source: "/opt/payload",
            destination: `${down}/`,
            direction: "download",
          }),
        ]),
      );
    } finally {
      delete process.env.KILN_TEST_HOST_SECRET;
    }
    expect(err).toBeUndefined();
    const out = lines.join("\n");
    expect(out).toContain(kind.shows);
    expect(out).toContain("/dev devtmpfs\n/dev/pts devpts\n/proc proc\n/sys sysfs");
    expect(out).toContain("secret:[]");
    expect(out).toContain(readFileSync("/etc/resolv.conf", "utf8").split("\n")[0]);
    expect(out).toContain("script ran as 0 with FOO=bar baz");
    expect(await readFile(join(down, "marker"), "utf8")).toBe("marker-from-chroot\n");
    expect(await readFile(join(down, "payload", "conf.d", "app.conf"), "utf8")).toBe("key=value\n");
    nothingLeft();
    await look(async (root) => {
      expect(await readFile(join(root, "root", "marker"), "utf8")).toBe("marker-from-chroot\n");
      expect(await readFile(join(root, "root", "single.txt"), "utf8")).toBe("one file\n");
      expect(await readFile(join(root, "opt", "payload", "conf.d", "app.conf"), "utf8")).toBe("key=value\n");
      // copy_files put back what the image had
      expect(await resolvState(root)).toBe(resolvBefore);
      expect(readdirSync(join(root, "tmp")).filter((f) => f.startsWith("script_"))).toEqual([]);
    });
  }, 120_000);

  describe("interrupted", () => {
    async function interruptWhen(o: Opts, provisioners: Step[], when: () => boolean) {
      const ctl = new AbortController();
      const started = Date.now();
      const watcher = (async () => {
        while (!ctl.signal.aborted && Date.now() - started < 60_000) {
          if (when()) ctl.abort();
          await new Promise((r) => setTimeout(r, 5));
        }
      })();
      const t0 = Date.now();
      const err = await build(pipeline(o, provisioners), ctl.signal);
      const ms = Date.now() - t0;
      ctl.abort();
      await watcher;
      return { err, ms };
    }
    // A function: `mnt` is only known once beforeAll ran.
    const opts = (): Opts => ({ mount_path: `${mnt}/root` });

    // Once is enough for these: they do not depend on what the root holds.
    if (kind.allPhases) {
      it("while attaching", async () => {
        const r = await interruptWhen(opts(), [], () => chrootLeftovers({ image }).loops.length > 0);
        expect(r.err).toBeDefined();
        nothingLeft();
      });

      it("while mounting (the root mounted, the chroot mounts going on)", async () => {
        // The command wrapper holds the build up right after /sys is mounted: the interrupt comes then.
        const slow: Opts = {
          ...opts(),
          command_wrapper: Deferred.parse(
            "${{ build.Command }} && case '${{ build.Command }}' in *sysfs*) sleep 20;; esac",
          ) as unknown as string,
        };
        const r = await interruptWhen(slow, [], () =>
          chrootLeftovers({ dir: mnt }).mounts.some((m) => m.endsWith("/root/sys")),
        );
        expect(r.err).toBeDefined();
        expect(r.ms).toBeLessThan(15_000);
        nothingLeft();
        expect(existsSync(`${mnt}/root`)).toBe(false);
      });
    }

    it("while provisioning, with a daemon left running in the chroot", async () => {
      const r = await interruptWhen(
        opts(),
        [
          provisionStep(shell, shellSchema, {
            inline: ["setsid sleep 600 </dev/null >/dev/null 2>&1 &", "echo provisioning-now", "sleep 300"],
          }),
        ],
        () => lines.some((l) => l.includes("provisioning-now")),
      );
      expect(r.err).toBeDefined();
      expect(r.ms).toBeLessThan(30_000);
      nothingLeft();
      await look(async (root) => {
        // the shell provisioner's script was removed through the chroot, after the interrupt
        expect(readdirSync(join(root, "tmp")).filter((f) => f.startsWith("script_"))).toEqual([]);
      });
    }, 60_000);
  });
});
