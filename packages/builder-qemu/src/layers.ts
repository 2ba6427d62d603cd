/**
 * The disks of a checkpoint: an immutable qcow2 layer per disk and checkpoint. With the machine
 * paused, a new empty overlay is put on top of every disk in one `blockdev-snapshot`
 * transaction; the layer below it no longer changes and becomes the checkpoint's. QEMU does
 * not write a backing-file name into an overlay it is handed, so each overlay is made with
 * `qemu-img create -u -b <layer below>`, and a layer's name for its parent is set to the
 * parent's place in the cache with `change-backing-file` once that parent is published.
 */
import { randomBytes } from "node:crypto";
import { rm } from "node:fs/promises";
import { join } from "node:path";
import type { QmpClient } from "@kiln/sdk";
import type { VmDisk } from "./args.js";
import { runTool } from "./proc.js";
import type { QemuOptions } from "./schema.js";

interface QueryBlock {
  inserted?: { file: string; "node-name": string; image: { "virtual-size": number; format: string } };
}

export interface DiskNode {
  node: string;
  file: string;
  format: string;
  virtualSize: number;
}

/** The block node on top of each of `disks`, found by its node name (one kiln added) or its file. */
export async function diskNodes(qmp: QmpClient, disks: VmDisk[]): Promise<DiskNode[]> {
  const blocks = await qmp.execute<QueryBlock[]>("query-block");
  return disks.map((d) => {
    const b = blocks.find((x) =>
      d.node ? x.inserted?.["node-name"] === d.node : x.inserted?.file === d.path,
    );
    if (!b?.inserted) throw new Error(`QEMU does not show the disk ${d.path}`);
    return {
      node: b.inserted["node-name"],
      // The disk's own path: a node kiln added shows a json: name (it was opened without a backing).
      file: d.path,
      format: b.inserted.image.format,
      virtualSize: b.inserted.image["virtual-size"],
    };
  });
}

export interface Frozen {
  /** The layer that stopped changing (a file in the scratch folder). */
  layer: DiskNode;
  /** The overlay QEMU now writes to. */
  overlay: Required<VmDisk>;
}

/**
 * Put a new overlay on every disk of the paused machine (in `dir`). Returns the layers that no
 * longer change and the overlays QEMU now writes to; on failure nothing has changed.
 */
export async function freezeDisks(
  qmp: QmpClient,
  disks: VmDisk[],
  dir: string,
  o: Pick<QemuOptions, "disk_cache" | "disk_discard" | "disk_detect_zeroes">,
  signal: AbortSignal,
): Promise<Frozen[]> {
  const nodes = await diskNodes(qmp, disks);
  const tag = randomBytes(4).toString("hex");
  const made: Array<Frozen["overlay"]> = [];
  const added: string[] = [];
  try {
    for (const [i, n] of nodes.entries()) {
      const path = join(dir, `disk${i}.${tag}.qcow2`);
      await runTool(
        "qemu-img",
        ["create", "-q", "-f", "qcow2", "-u", "-b", n.file, "-F", n.format, path, String(n.virtualSize)],
        { signal, what: "create a disk overlay for the checkpoint" },
      );
      made.push({ path, format: "qcow2", node: `kiln-${tag}-${i}` });
    }
    for (const m of made) {
      await qmp.execute("blockdev-add", {
        driver: "qcow2",
        "node-name": m.node,
        file: { driver: "file", filename: m.path },
        backing: null,
        discard: o.disk_discard === "unmap" ? "unmap" : "ignore",
        "detect-zeroes": o.disk_detect_zeroes,
        cache: {
          direct: ["none", "directsync"].includes(o.disk_cache),
          "no-flush": o.disk_cache === "unsafe",
        },
      });
      added.push(m.node);
    }
    await qmp.execute("transaction", {
      actions: nodes.map((n, i) => ({
        type: "blockdev-snapshot",
        data: { node: n.node, overlay: (made[i] as Frozen["overlay"]).node },
      })),
    });
  } catch (e) {
    for (const node of added) await qmp.execute("blockdev-del", { "node-name": node }).catch(() => {});
    for (const m of made) await rm(m.path, { force: true });
    throw e;
  }
  return nodes.map((layer, i) => ({ layer, overlay: made[i] as Frozen["overlay"] }));
}

/**
 * Record in `layer`'s header that its backing file is now `backing` (QEMU rewrites it live);
 * `root` is the node on top of the disk's chain.
 */
export async function setBackingFile(
  qmp: QmpClient,
  root: string,
  layer: DiskNode,
  backing: string,
): Promise<void> {
  await qmp.execute("change-backing-file", {
    device: root,
    "image-node-name": layer.node,
    "backing-file": backing,
  });
}
