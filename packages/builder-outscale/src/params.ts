/** OAPI parameters from the options: block device mappings, user data, tags. Pure. */
import { errors } from "./errors.js";
import type { BlockDeviceOptions } from "./schema.js";

/** A launch mapping (CreateVms BlockDeviceMappingVmCreation). */
export function vmMapping(b: BlockDeviceOptions): Record<string, unknown> {
  if (b.no_device) return { DeviceName: b.device_name, NoDevice: "" };
  if (b.iops !== undefined && b.volume_type !== "io1")
    throw errors.config(
      `${b.device_name}: iops is for io1 volumes only (volume_type is ${b.volume_type ?? "standard"})`,
    );
  if (b.volume_type === "io1" && b.iops === undefined)
    throw errors.config(`${b.device_name}: an io1 volume needs iops`);
  return {
    DeviceName: b.device_name,
    Bsu: {
      DeleteOnVmDeletion: b.delete_on_vm_deletion === true,
      ...(b.volume_type === "io1" ? { Iops: b.iops } : {}),
      ...(b.snapshot_id ? { SnapshotId: b.snapshot_id } : {}),
      ...(b.volume_type ? { VolumeType: b.volume_type } : {}),
      ...(b.volume_size !== undefined ? { VolumeSize: b.volume_size } : {}),
    },
  };
}

/** An OMI mapping (CreateImage BlockDeviceMappingImage): needs a snapshot or a size. */
export function imageMapping(b: BlockDeviceOptions): Record<string, unknown> {
  if (b.no_device)
    throw errors.config(`omi_block_device_mappings ${b.device_name}: no_device has no meaning in an OMI`);
  if (!b.snapshot_id && b.volume_size === undefined)
    throw errors.config(`omi_block_device_mappings ${b.device_name}: give snapshot_id or volume_size`);
  const m = vmMapping(b) as { DeviceName: string; Bsu: Record<string, unknown> };
  return m;
}

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/**
 * The UserData to send: the text base64-encoded once — never guessed (the plugin leaves text that
 * happens to decode as base64 alone) — or, with user_data_base64, the given base64 checked.
 */
export function userDataParam(text: string | undefined, alreadyBase64: boolean): string | undefined {
  if (text === undefined) return undefined;
  let b64: string;
  if (alreadyBase64) {
    b64 = text.replace(/\s+/g, "");
    if (!BASE64.test(b64))
      throw errors.config(
        "user_data_base64 is set but the user data is not base64",
        "Drop user_data_base64 to let kiln encode it.",
      );
  } else b64 = Buffer.from(text, "utf8").toString("base64");
  if (b64.length > 500 * 1024)
    throw errors.config(
      `the user data is ${Math.ceil(b64.length / 1024)} KiB encoded; OUTSCALE takes at most 500 KiB`,
    );
  return b64;
}

/** A tag map as OAPI's Tags. */
export const tagList = (m: Record<string, string> | undefined) =>
  Object.entries(m ?? {}).map(([Key, Value]) => ({ Key, Value }));
