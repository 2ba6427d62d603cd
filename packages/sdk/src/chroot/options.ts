/**
 * The options of chroot builders, named as in Packer's amazon-chroot and outscale-chroot, for a
 * builder to spread into its schema. Placeholders are kiln expressions over build.*:
 * `${{ build.Device }}`, `${{ build.MountPath }}`, `${{ build.Command }}` (see placeholders.ts).
 * Options whose default is itself such a template (mount_path, command_wrapper), or depends on
 * another option (copy_files: none when from_scratch), have it computed by the steps.
 */
import { type Static, Type } from "@sinclair/typebox";
import { type OptionsOf, str, strList, withDefault } from "../options/schema.js";
import { placeholderProblem } from "./placeholders.js";

/** One chroot mount: [filesystem type or "bind", source, folder in the chroot]. */
export const ChrootMount = Type.Tuple([Type.String(), Type.String(), Type.String()]);
export type ChrootMountSpec = Static<typeof ChrootMount>;

/** Packer's default chroot_mounts. */
export const DEFAULT_CHROOT_MOUNTS: ChrootMountSpec[] = [
  ["proc", "proc", "/proc"],
  ["sysfs", "sysfs", "/sys"],
  ["bind", "/dev", "/dev"],
  ["devpts", "devpts", "/dev/pts"],
  ["binfmt_misc", "binfmt_misc", "/proc/sys/fs/binfmt_misc"],
];

/** Where the root device is mounted when mount_path is unset (`build.Device` is the device's name, e.g. xvdf). */
export const DEFAULT_MOUNT_PATH = "/mnt/kiln-chroot-volumes/${{ build.Device }}";

/** What copy_files is when unset (and the builder does not start from scratch). */
export const DEFAULT_COPY_FILES: readonly string[] = ["/etc/resolv.conf"];

export const CHROOT_OPTIONS = {
  chroot_mounts: withDefault(
    Type.Optional(
      Type.Array(ChrootMount, {
        description:
          "What is mounted in the chroot before provisioning, each [type, source, folder in the chroot]; type bind binds a folder of this machine.",
      }),
    ),
    DEFAULT_CHROOT_MOUNTS,
  ),
  command_wrapper: str(
    "How each command kiln runs on this machine is run (mount, umount, losetup, chroot, the pre and post mount commands): ${{ build.Command }} is the command, e.g. sudo ${{ build.Command }}. Default: the command as it is.",
  ),
  copy_files: strList(
    "Files of this machine copied into the chroot before provisioning (so that DNS works) and removed afterwards, with what they replaced put back. Default: [/etc/resolv.conf], or none when building from scratch; [] copies none.",
  ),
  mount_options: strList("Options for mounting the root device, each given to mount as -o."),
  mount_partition: withDefault(
    str('The partition of the device that holds the root filesystem; "0" mounts the whole device.', {
      pattern: "^[0-9]+$",
    }),
    "1",
  ),
  mount_path: str(
    "Where the root device is mounted, the chroot; ${{ build.Device }} is the device's name (such as xvdf). Default: /mnt/kiln-chroot-volumes/${{ build.Device }}.",
  ),
  nvme_device_path: str(
    "The device to mount instead of the attached device's partition, for devices the system renames (NVMe).",
  ),
  pre_mount_commands: strList(
    "Commands run on this machine after the device is attached and before it is mounted (partitioning and formatting, when building from scratch); ${{ build.Device }} is the device, such as /dev/xvdf.",
  ),
  post_mount_commands: strList(
    "Commands run on this machine after the root device is mounted and before the chroot mounts; ${{ build.Device }} and ${{ build.MountPath }} are available.",
  ),
};

export type ChrootOptions = OptionsOf<typeof CHROOT_OPTIONS>;
/** What the chroot steps take: the options as a builder has them, or fewer (the steps fill in the defaults). */
export type ChrootStepOptions = Partial<ChrootOptions>;

/** The fields each placeholder option may use. */
export const CHROOT_FIELDS = {
  command_wrapper: ["Command"],
  mount_path: ["Device"],
  pre_mount_commands: ["Device"],
  post_mount_commands: ["Device", "MountPath"],
} as const;

/**
 * Problems with the chroot options that the schema cannot see, for a builder's prepare: Packer's
 * `{{ .Field }}` syntax where kiln writes `${{ build.Field }}`, a chroot mount folder that is not
 * absolute. Empty when all is well.
 */
export function chrootOptionProblems(o: Partial<Record<keyof ChrootOptions, unknown>>): string[] {
  const problems: string[] = [];
  const check = (name: keyof typeof CHROOT_FIELDS, v: unknown, shown: string) => {
    const p = placeholderProblem(shown, v, CHROOT_FIELDS[name]);
    if (p) problems.push(p);
  };
  check("command_wrapper", o.command_wrapper, "command_wrapper");
  check("mount_path", o.mount_path, "mount_path");
  for (const name of ["pre_mount_commands", "post_mount_commands"] as const) {
    const list = o[name];
    if (Array.isArray(list)) for (const [i, v] of list.entries()) check(name, v, `${name}[${i}]`);
  }
  const mounts = o.chroot_mounts;
  if (Array.isArray(mounts))
    mounts.forEach((m, i) => {
      const dest = Array.isArray(m) ? m[2] : undefined;
      if (typeof dest === "string" && !dest.startsWith("/"))
        problems.push(
          `chroot_mounts[${i}]: the folder ${dest} must be absolute (a path in the chroot, such as /proc)`,
        );
    });
  const copies = o.copy_files;
  if (Array.isArray(copies))
    copies.forEach((f, i) => {
      if (typeof f === "string" && !f.startsWith("/"))
        problems.push(
          `copy_files[${i}]: ${f} must be an absolute path (the same path is used in the chroot)`,
        );
    });
  return problems;
}
