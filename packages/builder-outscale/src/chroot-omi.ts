/**
 * outscale-chroot's OMI from the snapshot of its volume: that snapshot as the root
 * (root_device_name, /dev/sda1 by default; root_volume_type; deleted with the VMs of the OMI),
 * plus omi_block_device_mappings. Pure.
 */
import { imageMapping } from "./params.js";
import type { ChrootBuilderOptions } from "./schema.js";

export function chrootImage(
  o: Pick<
    ChrootBuilderOptions,
    "root_device_name" | "root_volume_type" | "root_volume_size" | "omi_block_device_mappings"
  >,
  snapshotId: string,
): { BlockDeviceMappings: Array<Record<string, unknown>>; RootDeviceName: string } {
  const root = o.root_device_name ?? "/dev/sda1";
  return {
    RootDeviceName: root,
    BlockDeviceMappings: [
      {
        DeviceName: root,
        Bsu: {
          SnapshotId: snapshotId,
          DeleteOnVmDeletion: true,
          ...(o.root_volume_type ? { VolumeType: o.root_volume_type } : {}),
          ...(o.root_volume_size !== undefined ? { VolumeSize: o.root_volume_size } : {}),
        },
      },
      ...(o.omi_block_device_mappings ?? []).filter((b) => b.device_name !== root).map(imageMapping),
    ],
  };
}
