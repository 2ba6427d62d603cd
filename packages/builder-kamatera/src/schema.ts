/**
 * The kamatera builder's options, declared once (TypeBox): the schema that validates the build
 * file, the types the steps read, and the defaults the engine fills in. Names and defaults are
 * those of Kamatera's Packer plugin where it has the option (api_url, api_client_id, api_secret,
 * datacenter, cpu, ram, image, disk, script, disable_ssh, image_name, poll_interval); kiln's
 * additions (disks, wait_timeout, wait_for_power_off, script_timeout) are named in its style.
 */
import {
  bool,
  COMMUNICATOR_OPTIONS,
  duration,
  type OptionsOf,
  options,
  required,
  SSH_OPTIONS,
  str,
  Type,
  withDefault,
} from "@kiln/sdk";

/** The image kiln starts from when none is given (the Packer plugin's default is Ubuntu 18.04). */
export const DEFAULT_IMAGE = "ubuntu_server_24.04_64-bit";
export const DEFAULT_API_URL = "https://cloudcli.cloudwm.com";
export const DEFAULT_DISK_GB = 10;
export const MAX_DISKS = 4;

/** A number, or a string of digits as Packer templates write it ("2048"). */
const wholeNumber = (description: string, minimum: number) =>
  Type.Optional(
    Type.Union([Type.Integer({ minimum }), Type.String({ pattern: "^[0-9]+$" })], { description }),
  );

const DISK = options(
  {
    size: required(wholeNumber("Size of the disk in GiB.", 1)),
    image_name: str(
      "Name of this disk's image in the hard-disk library. Default: image_name for the first disk, <image_name>-disk<N> for the others.",
      { pattern: "^\\S+$" },
    ),
  },
  { description: "A disk of the server; each becomes one image in the hard-disk library." },
);

export const kamateraSchema = options(
  {
    api_url: str(`URL of Kamatera's cloudcli API. Default: $KAMATERA_API_URL, else ${DEFAULT_API_URL}.`),
    api_client_id: str("API client ID (console → API → Keys). Default: $KAMATERA_API_CLIENT_ID."),
    api_secret: str("API secret (redacted from all output). Default: $KAMATERA_API_SECRET."),
    datacenter: required(str("Datacenter the server is created in, e.g. EU, IL, US-NY2.", { minLength: 1 })),
    cpu: withDefault(
      str(
        "CPU count and type, e.g. 1A, 2B, 4D (A availability, B general purpose, T burstable, D dedicated).",
        {
          pattern: "^[0-9]+[A-Za-z]$",
        },
      ),
      "1A",
    ),
    ram: withDefault(wholeNumber("Memory of the server in MiB.", 256), 1024),
    image: withDefault(
      str(
        "The image the server starts from: its name (ubuntu_server_24.04_64-bit), its ID (EU:6000C29…), or the name of an image in your hard-disk library.",
        { minLength: 1 },
      ),
      DEFAULT_IMAGE,
    ),
    // No schema default: disks may stand in for it.
    disk: wholeNumber(`Size of the server's disk in GiB (one disk). Default: ${DEFAULT_DISK_GB}.`, 1),
    disks: Type.Optional(
      Type.Array(DISK, {
        minItems: 1,
        maxItems: MAX_DISKS,
        description: `The server's disks (instead of disk), up to ${MAX_DISKS}: [{ size: 20 }, { size: 50 }]. Each is saved as its own library image.`,
      }),
    ),
    // No schema default: the time of the build goes in (params.ts imageNames).
    image_name: str(
      "Name of the image in the hard-disk library. Default: kiln-<source>-<UTC time>-<4 hex>, e.g. kiln-ubuntu-20261201T120000Z-3f9a.",
      {
        pattern: "^\\S+$",
      },
    ),
    script: str(
      "A script the server runs at its first boot (bash on Linux images, PowerShell on Windows), sent as Kamatera's script-file.",
    ),
    disable_ssh: withDefault(
      bool("Do not connect over SSH (Windows images): no key, no provisioners; only script runs."),
      false,
    ),
    wait_for_power_off: bool(
      "With disable_ssh: wait until the script has powered the server off before its disks are saved (the script's last command shuts it down). Default: true with disable_ssh and a script.",
    ),
    script_timeout: withDefault(
      duration("With wait_for_power_off: how long the first-boot script may run until the server is off."),
      "30m",
    ),
    poll_interval: withDefault(
      duration("How often to ask Kamatera's command queue whether a command has finished."),
      "2s",
    ),
    wait_timeout: withDefault(
      duration("How long one Kamatera command (create, power off, clone, terminate) may take."),
      "40m",
    ),
    ...COMMUNICATOR_OPTIONS,
    ...SSH_OPTIONS,
    ssh_username: withDefault(SSH_OPTIONS.ssh_username, "root"),
  },
  { description: "Build Kamatera hard-disk library images from a temporary server." },
);

export type KamateraOptions = OptionsOf<typeof kamateraSchema>;
export type DiskOptions = OptionsOf<typeof DISK>;
