/** prepare's checks of the OUTSCALE builders: what the schemas cannot say. Pure (no API call). */
import type { Ui } from "@kiln/core";
import { errors } from "./errors.js";
import { oapiFilters } from "./filters.js";
import { imageMapping, vmMapping } from "./params.js";
import type {
  BlockDeviceOptions,
  BsuOptions,
  BsusurrogateOptions,
  BsuvolumeOptions,
  ChrootBuilderOptions,
  RunOptions,
} from "./schema.js";

/** source_omi or source_omi_filter (with owners). */
function checkSource(o: Pick<RunOptions, "source_omi" | "source_omi_filter">): void {
  if ((o.source_omi === undefined) === (o.source_omi_filter === undefined))
    throw errors.config(
      o.source_omi === undefined
        ? "set source_omi or source_omi_filter"
        : "set only one of source_omi and source_omi_filter",
      "source_omi is an OMI id (ami-…); source_omi_filter finds one by filters and owners.",
    );
  if (o.source_omi_filter) {
    if (!o.source_omi_filter.owners?.length)
      throw errors.config(
        "source_omi_filter needs owners",
        'List whose images may be used, e.g. owners: [Outscale] or [self] (the plugin requires it too, "for security reasons").',
      );
    oapiFilters("image", o.source_omi_filter.filters, "source_omi_filter.filters");
  }
}

/** The VM's options (every builder) and its launch mappings. */
export function checkRun(o: RunOptions, ui: Ui, mappings: BlockDeviceOptions[] = []): void {
  checkSource(o);
  if (o.net_filter) oapiFilters("net", o.net_filter.filters, "net_filter.filters");
  if (o.subnet_filter) {
    oapiFilters("subnet", o.subnet_filter.filters, "subnet_filter.filters");
    if (o.subnet_filter.most_free && o.subnet_filter.random)
      throw errors.config("subnet_filter: set most_free or random, not both");
  }
  if (o.subnet_id && o.subnet_filter) throw errors.config("set subnet_id or subnet_filter, not both");
  if (o.security_group_filter) {
    if (o.security_group_id || o.security_group_ids?.length)
      throw errors.config("set security_group_id(s) or security_group_filter, not both");
    oapiFilters("securityGroup", o.security_group_filter.filters, "security_group_filter.filters");
  }
  if (o.user_data !== undefined && o.user_data_file !== undefined)
    throw errors.config("set user_data or user_data_file, not both");
  const seen = new Set<string>();
  for (const b of mappings) {
    vmMapping(b);
    if (seen.has(b.device_name)) throw errors.config(`${b.device_name} is mapped twice`);
    seen.add(b.device_name);
  }
  if (o.communicator === "ssh" && !o.ssh_username)
    throw errors.config(
      "ssh_username is required with the ssh communicator",
      "The user the image's cloud-init gives the key pair to, e.g. outscale or root.",
    );
  if (o.ssh_keypair_name && !o.ssh_private_key_file && !o.ssh_agent_auth)
    throw errors.config("ssh_keypair_name needs ssh_private_key_file (its private key) or ssh_agent_auth");
  if (o.block_duration_minutes !== undefined) {
    if (o.block_duration_minutes % 60 !== 0)
      throw errors.config("block_duration_minutes must be a multiple of 60");
    ui.error("block_duration_minutes is ignored: OUTSCALE has no spot blocks.");
  }
  if (o.enable_t2_unlimited) ui.error("enable_t2_unlimited is ignored: OUTSCALE has no t2 credits.");
  if (o.iam_vm_profile) ui.error("iam_vm_profile is ignored: OAPI VMs take no IAM profile.");
  if (o.windows_password_timeout !== "20m")
    ui.message("windows_password_timeout is ignored: kiln's OUTSCALE builders connect over SSH.");
  errors.duration("vm_ready_timeout", o.vm_ready_timeout);
}

/** outscale-bsu: the VM, then the OMI's options. */
export function checkBsu(o: BsuOptions, ui: Ui): void {
  checkRun(o, ui, o.launch_block_device_mappings);
  checkOmi(o, ui);
}

/** The OMI's options (bsu, bsusurrogate). */
function checkOmi(o: BsuOptions, ui: Ui): void {
  for (const b of o.omi_block_device_mappings ?? []) imageMapping(b);
  if (
    o.omi_block_device_mappings?.length &&
    !o.omi_block_device_mappings.some((b) => b.device_name === (o.root_device_name ?? "/dev/sda1"))
  )
    throw errors.config(
      `omi_block_device_mappings has no mapping for the root device ${o.root_device_name ?? "/dev/sda1"}`,
    );
  if (o.root_device_name && !o.omi_block_device_mappings?.length)
    throw errors.config(
      "root_device_name is for omi_block_device_mappings; the OMI of a VM keeps the VM's root",
    );
  if (o.force_delete_snapshot && !o.force_deregister)
    ui.message("force_delete_snapshot applies only with force_deregister (or --force).");
  if (o.omi_groups?.length)
    ui.error("omi_groups is ignored: OAPI has no launch groups; use global_permission.");
  if (o.omi_product_codes?.length) ui.error("omi_product_codes is ignored: use product_codes.");
  if (o.skip_region_validation)
    ui.message("skip_region_validation is ignored: kiln checks region names by their form only.");
  for (const r of o.omi_regions ?? [])
    if (!/^[a-z]+(-[a-z]+)*-[0-9]+$/.test(r))
      throw errors.config(`omi_regions: ${JSON.stringify(r)} is not a region name`);
  errors.duration("image_timeout", o.image_timeout);
}

/** outscale-bsuvolume: the kept volumes must outlive the VM. */
export function checkBsuvolume(o: BsuvolumeOptions, ui: Ui): void {
  const vols = o.bsu_volumes ?? [];
  checkRun(o, ui, vols);
  if (!vols.length)
    throw errors.config("bsu_volumes is empty", "List the volumes to launch the VM with and keep.");
  for (const v of vols) {
    if (v.no_device) throw errors.config(`bsu_volumes ${v.device_name}: no_device makes no volume to keep`);
    if (v.delete_on_vm_deletion)
      throw errors.config(
        `bsu_volumes ${v.device_name}: delete_on_vm_deletion: true deletes the volume the build is for`,
        "Drop delete_on_vm_deletion: the volumes are the artifact (destroy them with the artifact).",
      );
  }
}

/** outscale-bsusurrogate: omi_root_device names one of the launch mappings. */
export function checkBsusurrogate(o: BsusurrogateOptions, ui: Ui): void {
  checkBsu(o, ui);
  const r = o.omi_root_device;
  const src = (o.launch_block_device_mappings ?? []).find((b) => b.device_name === r.source_device_name);
  if (!src || src.no_device)
    throw errors.config(
      `omi_root_device.source_device_name ${r.source_device_name} is not one of launch_block_device_mappings`,
      "Name the launch volume the provisioners write the OS onto, e.g. /dev/xvdf.",
    );
  if (r.iops !== undefined && r.volume_type !== "io1")
    throw errors.config("omi_root_device: iops is for io1 volumes only");
  if (r.volume_type === "io1" && r.iops === undefined)
    throw errors.config("omi_root_device: an io1 volume needs iops");
  if (r.volume_size !== undefined && src.volume_size !== undefined && r.volume_size < src.volume_size)
    throw errors.config(
      `omi_root_device.volume_size ${r.volume_size} GiB is smaller than its launch volume (${src.volume_size} GiB)`,
    );
  if (o.omi_block_device_mappings?.some((b) => b.device_name === r.device_name))
    throw errors.config(`omi_block_device_mappings maps ${r.device_name}, the OMI's root device, again`);
  if (o.root_device_name)
    throw errors.config("root_device_name is for outscale-bsu; set omi_root_device.device_name");
}

/** outscale-chroot: a source OMI, or from_scratch with a size and the commands that format it. */
export function checkChroot(o: ChrootBuilderOptions, ui: Ui): void {
  if (o.from_scratch) {
    if (o.source_omi !== undefined || o.source_omi_filter !== undefined)
      throw errors.config("from_scratch starts from an empty volume: drop source_omi / source_omi_filter");
    if (o.root_volume_size === undefined) throw errors.config("from_scratch needs root_volume_size");
    if (!o.pre_mount_commands?.length)
      throw errors.config(
        "from_scratch needs pre_mount_commands that partition and format ${{ build.Device }}",
        'For example: ["mkfs.ext4 -q ${{ build.Device }}"] with mount_partition: "0".',
      );
  } else checkSource(o);
  if (o.root_volume_type === "io1")
    throw errors.config("root_volume_type io1 needs iops, which outscale-chroot does not take; use gp2");
  for (const b of o.omi_block_device_mappings ?? []) imageMapping(b);
  for (const r of o.omi_regions ?? [])
    if (!/^[a-z]+(-[a-z]+)*-[0-9]+$/.test(r))
      throw errors.config(`omi_regions: ${JSON.stringify(r)} is not a region name`);
  if (o.skip_create_omi) throw errors.config("skip_create_omi has no meaning for outscale-chroot");
  if (o.force_delete_snapshot && !o.force_deregister)
    ui.message("force_delete_snapshot applies only with force_deregister (or --force).");
  for (const [name, v] of [
    ["image_timeout", o.image_timeout],
    ["device_timeout", o.device_timeout],
    ["volume_ready_timeout", o.volume_ready_timeout],
  ] as const)
    errors.duration(name, v);
}
