/** prepare's checks of outscale-bsu: what the schema cannot say. Pure (no API call). */
import type { Ui } from "@kiln/core";
import { errors } from "./errors.js";
import { oapiFilters } from "./filters.js";
import { imageMapping, vmMapping } from "./params.js";
import type { BsuOptions } from "./schema.js";

export function checkBsu(o: BsuOptions, ui: Ui): void {
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
  for (const b of o.launch_block_device_mappings ?? []) vmMapping(b);
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
  if (o.communicator === "ssh" && !o.ssh_username)
    throw errors.config(
      "ssh_username is required with the ssh communicator",
      "The user the image's cloud-init gives the key pair to, e.g. outscale or root.",
    );
  if (o.ssh_keypair_name && !o.ssh_private_key_file && !o.ssh_agent_auth)
    throw errors.config("ssh_keypair_name needs ssh_private_key_file (its private key) or ssh_agent_auth");
  if (o.force_delete_snapshot && !o.force_deregister)
    ui.message("force_delete_snapshot applies only with force_deregister (or --force).");
  if (o.block_duration_minutes !== undefined) {
    if (o.block_duration_minutes % 60 !== 0)
      throw errors.config("block_duration_minutes must be a multiple of 60");
    ui.error("block_duration_minutes is ignored: OUTSCALE has no spot blocks.");
  }
  if (o.enable_t2_unlimited) ui.error("enable_t2_unlimited is ignored: OUTSCALE has no t2 credits.");
  if (o.iam_vm_profile) ui.error("iam_vm_profile is ignored: OAPI VMs take no IAM profile.");
  if (o.omi_groups?.length)
    ui.error("omi_groups is ignored: OAPI has no launch groups; use global_permission.");
  if (o.omi_product_codes?.length) ui.error("omi_product_codes is ignored: use product_codes.");
  if (o.skip_region_validation)
    ui.message("skip_region_validation is ignored: kiln checks region names by their form only.");
  if (o.windows_password_timeout !== "20m")
    ui.message("windows_password_timeout is ignored: outscale-bsu connects over SSH.");
  for (const r of o.omi_regions ?? [])
    if (!/^[a-z]+(-[a-z]+)*-[0-9]+$/.test(r))
      throw errors.config(`omi_regions: ${JSON.stringify(r)} is not a region name`);
  errors.duration("vm_ready_timeout", o.vm_ready_timeout);
  errors.duration("image_timeout", o.image_timeout);
}
