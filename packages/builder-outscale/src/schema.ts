/**
 * The options of outscale-bsu and the outscale-omi data source, declared once (TypeBox), with
 * the Packer plugin's names and defaults (RESEARCH.md §2.1–2.2). kiln's additions are marked.
 */
import {
  bool,
  COMMUNICATOR_OPTIONS,
  duration,
  int,
  type OptionsOf,
  oneOf,
  options,
  required,
  SSH_OPTIONS,
  str,
  strList,
  strMap,
  Type,
  withDefault,
} from "@kiln/sdk";

const optional = Type.Optional;

/** Credentials and endpoint (every component); the order they are looked up in is credentials.ts's. */
export const ACCESS_OPTIONS = {
  access_key: str(
    "OUTSCALE access key (redacted). Default: the profile's, then $OSC_ACCESS_KEY, then $OUTSCALE_ACCESSKEYID.",
  ),
  secret_key: str("Secret key of access_key (redacted). Default: as access_key, from the same source."),
  region: str(
    "Region, e.g. eu-west-2. Default: the profile's, $OSC_REGION, $OUTSCALE_REGION, else eu-west-2.",
    {
      pattern: "^[a-z]+(-[a-z]+)*-[0-9]+$",
    },
  ),
  custom_endpoint_oapi: str(
    "The whole OAPI base URL, e.g. https://api.eu-west-2.outscale.com/api/v1. Default: the profile's endpoints.api, $OSC_ENDPOINT_API, $OUTSCALE_OAPI_URL, else the region's.",
  ),
  profile: str(
    "A profile of ~/.osc/config.json (or $OSC_CONFIG_FILE) to read credentials from. Default: $OSC_PROFILE.",
  ),
  x509_cert_path: str(
    "Client certificate (PEM) for accounts whose API access rules require one; sent with the signature.",
  ),
  x509_key_path: str("Private key (PEM) of x509_cert_path."),
  insecure_skip_tls_verify: bool("Do not verify the endpoint's TLS certificate (test endpoints only)."),
  ca_file: str("kiln: a PEM CA to trust for the endpoint, in addition to the system's."),
  mfa_code: str("Accepted for Packer templates; OAPI signatures have no MFA code (ignored, with a warning)."),
  token: str(
    "Accepted for Packer templates; OAPI access keys take no session token (ignored, with a warning).",
  ),
  skip_metadata_api_check: bool(
    "Accepted for Packer templates; kiln never calls the metadata API (ignored).",
  ),
};
export type AccessOptionsOf = OptionsOf<typeof ACCESS_OPTIONS>;

/** OMI filters: Packer's names (image-name …) or OAPI's (ImageNames …). */
const OMI_FILTER = {
  filters: strMap(
    "Image filters, e.g. { image-name: debian-12-*, root-device-type: bsu } (OAPI names such as ImageNames work too).",
  ),
  owners: strList(
    'Accounts the image must belong to: "self", 12-digit account ids, or account aliases such as Outscale.',
  ),
  most_recent: bool("With several matches, take the newest (else several matches are an error)."),
};

const filterOf = (what: string) =>
  optional(
    options(
      { filters: strMap(`${what} filters (Packer's or OAPI's names).`) },
      { description: `Find the ${what} by filters.` },
    ),
  );

const BLOCK_DEVICE = options(
  {
    device_name: required(
      str("API device name: /dev/sda1 for the root, /dev/xvdb … or /dev/sdb … for the others.", {
        pattern: "^/dev/(sda1|sd[b-z][a-z]?|xvd[b-z][a-z]?)$",
      }),
    ),
    delete_on_vm_deletion: bool(
      "Delete the volume with the VM. Default: false (as Packer's effective default).",
    ),
    iops: int("IOPS (io1 volumes only).", { minimum: 1 }),
    no_device: bool("Suppress this device of the source OMI."),
    snapshot_id: str("Snapshot to make the volume from."),
    volume_type: oneOf(["standard", "gp2", "io1"], "Volume type. Default: standard."),
    volume_size: int("Size in GiB.", { minimum: 1, maximum: 14901 }),
  },
  { description: "A BSU volume." },
);
export type BlockDeviceOptions = OptionsOf<typeof BLOCK_DEVICE>;

export const bsuSchema = options(
  {
    ...ACCESS_OPTIONS,
    // The VM
    vm_type: required(str("VM type, e.g. tinav5.c2r4p2.")),
    source_omi: str("The OMI to start from (ami-…)."),
    source_omi_filter: optional(
      options(OMI_FILTER, {
        description: "Find the source OMI: filters plus owners (required, for security).",
      }),
    ),
    subregion_name: str(
      "Subregion to launch in, e.g. eu-west-2a. Default: the subnet's, or OUTSCALE's choice.",
    ),
    subnet_id: str("Subnet to launch in (a Net)."),
    subnet_filter: optional(
      options(
        {
          filters: strMap("Subnet filters (Packer's or OAPI's names)."),
          most_free: bool("Take the subnet with the most free addresses."),
          random: bool("Take a random one of the matches."),
        },
        { description: "Find the subnet by filters." },
      ),
    ),
    net_id: str("Net whose subnets subnet_filter looks in."),
    net_filter: filterOf("Net"),
    associate_public_ip_address: bool(
      "Give the VM a public IP (needed to reach a VM in a Net from outside).",
    ),
    security_group_id: str("An existing security group (else a temporary one is made)."),
    security_group_ids: strList("Existing security groups (else a temporary one is made)."),
    security_group_filter: filterOf("security groups"),
    temporary_security_group_source_cidr: withDefault(
      str("The only source the temporary security group admits to the SSH port.", {
        pattern: "^\\d+\\.\\d+\\.\\d+\\.\\d+/\\d+$",
      }),
      "0.0.0.0/0",
    ),
    temporary_key_pair_name: str("Name of the temporary key pair imported for SSH. Default: kiln_<uuid>."),
    ssh_keypair_name: str("An existing key pair to launch with (give its ssh_private_key_file)."),
    ssh_interface: oneOf(
      ["public_ip", "private_ip", "public_dns", "private_dns"],
      "Address SSH connects to. Default: the public IP, else (in a Net) the private IP, else the public DNS name.",
    ),
    user_data: str("User data for the VM (base64-encoded by kiln, once)."),
    user_data_file: str("A file holding the user data."),
    user_data_base64: bool("kiln: user_data / user_data_file is already base64; send it as it is."),
    boot_mode: oneOf(["legacy", "uefi"], "Boot mode of the VM. Default: the OMI's."),
    bsu_optimized: bool("Launch a BSU-optimized VM."),
    shutdown_behavior: withDefault(
      oneOf(["stop", "terminate"], "What a shutdown inside the VM does."),
      "stop",
    ),
    disable_stop_vm: bool("Do not stop the VM before the OMI is made (the provisioners stop it)."),
    run_tags: strMap("Tags of the VM (beside Name: Packer Builder)."),
    run_volume_tags: strMap("Tags of the VM's volumes."),
    launch_block_device_mappings: optional(Type.Array(BLOCK_DEVICE, { description: "Volumes of the VM." })),
    vm_ready_timeout: withDefault(
      duration("kiln: how long the VM may take to run, stop or terminate."),
      "10m",
    ),
    image_timeout: withDefault(
      duration("kiln: how long the OMI (and its snapshots) may take to be available."),
      "60m",
    ),
    windows_password_timeout: withDefault(
      duration("Accepted for Packer templates; kiln's bsu builder connects over SSH only."),
      "20m",
    ),
    block_duration_minutes: int(
      "Accepted for Packer templates; no OAPI equivalent (ignored, with a warning).",
      { minimum: 0 },
    ),
    enable_t2_unlimited: bool("Accepted for Packer templates; no OAPI equivalent (ignored, with a warning)."),
    iam_vm_profile: str("Accepted for Packer templates; no OAPI equivalent (ignored, with a warning)."),
    // The OMI
    omi_name: required(
      str("Name of the OMI: 3–128 of letters, digits, spaces and ( ) . / - _ [ ].", {
        minLength: 3,
        maxLength: 128,
        pattern: "^[A-Za-z0-9 ()./_\\-\\[\\]]*$",
      }),
    ),
    omi_description: str("Description of the OMI."),
    omi_account_ids: strList("Accounts that may launch the OMI."),
    global_permission: bool("Everyone may launch the OMI."),
    snapshot_account_ids: strList("Accounts that may make volumes from the OMI's snapshots."),
    omi_regions: strList("Other regions to copy the OMI to (really copied, with its tags and permissions)."),
    omi_region_endpoints: strMap(
      "kiln: OAPI base URL per omi_regions region, when custom_endpoint_oapi is set.",
    ),
    omi_boot_modes: optional(
      Type.Array(Type.Unsafe<"legacy" | "uefi">({ enum: ["legacy", "uefi"] }), {
        description: "Boot modes of the OMI.",
      }),
    ),
    omi_block_device_mappings: optional(
      Type.Array(BLOCK_DEVICE, { description: "Volumes of the OMI (registers it from snapshots of these)." }),
    ),
    root_device_name: str("Root device of the OMI with omi_block_device_mappings. Default: /dev/sda1."),
    product_codes: strList("Product codes of the OMI."),
    force_deregister: bool("Delete an OMI of the same name first (also kiln build --force)."),
    force_delete_snapshot: bool("With force_deregister, delete its snapshots too."),
    skip_create_omi: bool("Provision, then make no OMI."),
    tags: strMap("Tags of the OMI and its snapshots."),
    snapshot_tags: strMap("Tags of the OMI's snapshots."),
    omi_groups: strList("Accepted for Packer templates; no OAPI equivalent (ignored, with a warning)."),
    omi_product_codes: strList("Accepted for Packer templates; use product_codes (ignored, with a warning)."),
    skip_region_validation: bool(
      "Accepted for Packer templates; kiln checks region names by their form (ignored).",
    ),
    ...COMMUNICATOR_OPTIONS,
    ...SSH_OPTIONS,
    ssh_timeout: duration("How long to wait for SSH to become available. Default: 10m (the plugin's)."),
  },
  { description: "Build an OUTSCALE OMI from a VM booted on a BSU volume." },
);

export type BsuOptions = OptionsOf<typeof bsuSchema>;

export const omiDataSchema = options(
  {
    ...ACCESS_OPTIONS,
    filters: OMI_FILTER.filters,
    owners: OMI_FILTER.owners,
    most_recent: withDefault(OMI_FILTER.most_recent, false),
  },
  { description: "Find an OMI: its id, name, creation date, owner and tags." },
);
export type OmiDataOptions = OptionsOf<typeof omiDataSchema>;
export { BLOCK_DEVICE };
