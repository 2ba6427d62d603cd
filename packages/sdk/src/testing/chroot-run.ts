/**
 * A chroot builder's steps on an image file, and running them in a test as its run does (core's step runner, cleanup on
 * error, a chroot run context), and looking into the image afterwards (its first partition
 * mounted read-only), and asserting that a run left nothing behind.
 */
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { createRunContext, EventBus, type KilnEvent, type RunContext, runSteps, type Step } from "@kiln/core";
import { expect } from "vitest";
import { hostCommands } from "../chroot/host.js";
import type { PartitionMode } from "../chroot/loop.js";
import { attachImage, detachImage } from "../chroot/loop.js";
import type { ChrootStepOptions } from "../chroot/options.js";
import { attachImageStep } from "../chroot/steps/attach-image.js";
import { chrootMountsStep } from "../chroot/steps/chroot-mounts.js";
import { chrootConnectStep } from "../chroot/steps/connect.js";
import { copyFilesStep } from "../chroot/steps/copy-files.js";
import { mountDeviceStep } from "../chroot/steps/mount-device.js";
import { postMountCommandsStep } from "../chroot/steps/post-mount.js";
import { preMountCommandsStep } from "../chroot/steps/pre-mount.js";
import { chrootTeardownStep } from "../chroot/steps/teardown.js";
import { chrootLeftovers } from "./chroot.js";

export interface ChrootStepsOptions {
  /** The run's base folder (the build file's folder). */
  dir: string;
  /** The run's source name: the run is `b.chroot.<source>`. Default "s". */
  source?: string;
  signal?: AbortSignal;
  /** Each line the run shows (say/message/error text and command output), as it comes. */
  onLine?: (line: string) => void;
}

export interface ChrootStepsRun {
  ctx: RunContext;
  /** What the steps threw (after their cleanup), or undefined. */
  error: unknown;
  events: KilnEvent[];
  /** The say/message/error lines (not command output), joined. */
  text: string;
}

/**
 * A chroot builder's steps on the image file `image`: attach, pre_mount_commands, mount,
 * post_mount_commands, `afterMount`, the chroot mounts, copy_files, connect, `provision`, teardown.
 */
export function chrootPipeline(
  image: string,
  o: ChrootStepOptions,
  extra: { partitions?: PartitionMode; afterMount?: Step[]; provision?: Step[] } = {},
): Step[] {
  return [
    attachImageStep(o, { image, partitions: extra.partitions ?? "scan" }),
    preMountCommandsStep(o),
    mountDeviceStep(o),
    postMountCommandsStep(o),
    ...(extra.afterMount ?? []),
    chrootMountsStep(o),
    copyFilesStep(o),
    chrootConnectStep(o),
    ...(extra.provision ?? []),
    chrootTeardownStep(),
  ];
}

/** Runs `steps` to the end or to their first error, whose cleanup then runs. */
export async function runChrootSteps(steps: Step[], o: ChrootStepsOptions): Promise<ChrootStepsRun> {
  const name = `b.chroot.${o.source ?? "s"}`;
  const bus = new EventBus();
  const events: KilnEvent[] = [];
  bus.subscribe((e) => {
    events.push(e);
    if ("text" in e && typeof e.text === "string") o.onLine?.(e.text);
    if (e.type === "output") o.onLine?.(e.line);
  });
  const { ctx, dispose } = createRunContext({
    run: { name, build: "b", source: o.source ?? "s", type: "chroot", runUuid: "u" },
    ui: bus.ui(name),
    baseDir: o.dir,
    ...(o.signal ? { signal: o.signal } : {}),
  });
  let error: unknown;
  try {
    await runSteps(steps, ctx, { bus, onError: "cleanup" });
  } catch (err) {
    error = err;
  } finally {
    bus.flush(name);
    await dispose();
  }
  const text = events.flatMap((e) => ("text" in e && typeof e.text === "string" ? [e.text] : [])).join("\n");
  return { ctx, error, events, text };
}

/** Mounts the image's first partition read-only (below `dir`/look) for `look`, then undoes it. */
export async function inImage<T>(image: string, dir: string, look: (root: string) => Promise<T>): Promise<T> {
  const host = hostCommands();
  const a = await attachImage(host, image, { partitions: "offset", readOnly: true });
  const m = join(dir, "look");
  await mkdir(m, { recursive: true });
  try {
    await host.run(`mount -o ro ${a.partitions["1"]} ${m}`);
    try {
      return await look(m);
    } finally {
      await host.run(`umount ${m}`);
    }
  } finally {
    await detachImage(host, a);
  }
}

/** Asserts that no loop device of `image`, no mount below `dir` and no process in it is left. */
export function expectNothingLeft(image: string, dir: string): void {
  const left = chrootLeftovers({ image, dir });
  expect(left.loops).toEqual([]);
  expect(left.mounts).toEqual([]);
  expect(left.processes).toEqual([]);
  expect(readFileSync("/proc/mounts", "utf8")).not.toContain(dir);
  expect(execFileSync("losetup", ["-a"]).toString()).not.toContain(image);
}
