/**
 * outscale-bsusurrogate's OMI from the snapshots of its launch volumes. Pure.
 *
 * The volume named by omi_root_device.source_device_name becomes the OMI's root under
 * omi_root_device.device_name, with that block's size, type, iops and delete_on_vm_deletion
 * (the plugin applies only the type: RESEARCH.md §2.4); the other launch volumes keep their
 * names and settings; omi_block_device_mappings are added as they are. A launch mapping at the
 * OMI's root device name (the surrogate's own root) takes no part: it is not snapshotted. The
 * architecture is the source OMI's (not forced to x86_64), and the order is the options' order.
 */
import { imageMapping, vmMapping } from "./params.js";
import type { BlockDeviceOptions, BsusurrogateOptions } from "./schema.js";

/** The launch mappings whose volumes are snapshotted. */
export const snapshotted = (o: BsusurrogateOptions): BlockDeviceOptions[] =>
  (o.launch_block_device_mappings ?? []).filter(
    (b) =>
      !b.no_device &&
      (b.device_name === o.omi_root_device.source_device_name ||
        b.device_name !== o.omi_root_device.device_name),
  );

/** CreateImage's BlockDeviceMappings and RootDeviceName, given the snapshot id per launch device. */
export function surrogateImage(
  o: BsusurrogateOptions,
  snapshots: Record<string, string>,
): { BlockDeviceMappings: Array<Record<string, unknown>>; RootDeviceName: string } {
  const r = o.omi_root_device;
  const maps: Array<Record<string, unknown>> = [];
  for (const b of snapshotted(o)) {
    const snap = snapshots[b.device_name];
    if (!snap) throw new Error(`no snapshot of ${b.device_name}`);
    const isRoot = b.device_name === r.source_device_name;
    const m = vmMapping(
      isRoot
        ? {
            device_name: r.device_name,
            delete_on_vm_deletion: r.delete_on_vm_deletion === true,
            ...(r.iops !== undefined ? { iops: r.iops } : {}),
            ...(r.volume_type ? { volume_type: r.volume_type } : {}),
            ...(r.volume_size !== undefined ? { volume_size: r.volume_size } : {}),
          }
        : { ...b, snapshot_id: undefined },
    ) as { DeviceName: string; Bsu: Record<string, unknown> };
    maps.push({ DeviceName: m.DeviceName, Bsu: { ...m.Bsu, SnapshotId: snap } });
  }
  for (const b of o.omi_block_device_mappings ?? []) maps.push(imageMapping(b));
  return { BlockDeviceMappings: maps, RootDeviceName: r.device_name };
}
