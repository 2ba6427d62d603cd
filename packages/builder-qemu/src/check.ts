/**
 * The qemu builder's checks beyond its schema (the plugin API's `check`): everything that can be
 * found without starting anything, each problem at its option, for `kiln validate` and before a
 * build starts. Local paths (the ISO or disk image, firmware, http_directory, key files …) must
 * exist; URLs are left to the download step.
 */
import type { CheckContext, ConfigProblem } from "@kiln/core";
import { commonProblems, isUrl, pathProblem, problem, warning } from "@kiln/sdk";
import { acceleratorMissing } from "./accel.js";
import { VNC_PORT_MAX, VNC_PORT_MIN, vncRange } from "./defaults.js";
import type { QemuOptions } from "./schema.js";
import { parseSize } from "./size.js";
import { checkTpmOptions } from "./tpm.js";

/** "6000" as the user wrote it, or "6000, the default". */
function orDefault(value: number | undefined, fallback: number): string {
  return value === undefined ? `${fallback}, the default` : String(value);
}

export function qemuCheck(o: QemuOptions, ctx: CheckContext): ConfigProblem[] {
  const out: ConfigProblem[] = [...commonProblems(o as unknown as Record<string, unknown>, ctx)];
  if (!o.iso_url && !o.iso_urls?.length)
    out.push(
      problem(
        "iso_url",
        "iso_url (or iso_urls) is required",
        "Set iso_url to the installer ISO or, with disk_image: true, the disk image.",
      ),
    );
  // A local ISO or disk image must be there (a URL is downloaded by the build).
  // A local ISO or disk image should be there (a URL is downloaded by the build); another script
  // may make it before the build, so its absence is a warning.
  if (typeof o.iso_url === "string" && !isUrl(o.iso_url))
    out.push(...pathProblem(ctx, ["iso_url"], o.iso_url, "file", "warning"));
  if (o.use_backing_file && !o.disk_image)
    out.push(
      problem(
        "use_backing_file",
        "use_backing_file needs disk_image: true",
        "Set disk_image: true, or remove use_backing_file.",
      ),
    );
  if (o.use_backing_file && o.format !== "qcow2")
    out.push(
      problem(
        "use_backing_file",
        "use_backing_file needs format: qcow2",
        "Set format: qcow2, or remove use_backing_file.",
      ),
    );
  if (o.host_port_min > o.host_port_max)
    out.push(
      problem(
        "host_port_min",
        "host_port_min is greater than host_port_max",
        "Set host_port_min ≤ host_port_max.",
      ),
    );
  if (vncRange(o).min > vncRange(o).max)
    out.push(
      problem(
        o.vnc_port_min !== undefined ? "vnc_port_min" : "vnc_port_max",
        `vnc_port_min (${orDefault(o.vnc_port_min, VNC_PORT_MIN)}) is greater than vnc_port_max (${orDefault(o.vnc_port_max, VNC_PORT_MAX)})`,
        "Set vnc_port_min ≤ vnc_port_max (VNC display N listens on port 5900 + N).",
      ),
    );
  const tpmProblem = checkTpmOptions(o);
  if (tpmProblem)
    out.push(
      problem(
        o.use_tpm1 ? "use_tpm1" : "tpm_device_type",
        tpmProblem,
        "Set vtpm: true, or remove the option.",
      ),
    );
  if (o.net_bridge && !o.ssh_host && o.communicator === "ssh")
    out.push(
      problem(
        "net_bridge",
        "with net_bridge, kiln cannot forward a port: set ssh_host",
        "Set ssh_host to the address the machine gets on the bridge.",
      ),
    );
  try {
    parseSize(o.disk_size);
  } catch (e) {
    out.push(problem("disk_size", `disk_size: ${(e as Error).message}`));
  }
  for (const [i, s] of (o.disk_additional_size ?? []).entries()) {
    try {
      parseSize(s);
    } catch (e) {
      out.push(problem(["disk_additional_size", i], `disk_additional_size[${i}]: ${(e as Error).message}`));
    }
  }
  // Removed in Packer too: say what replaces them.
  if (o.iso_checksum_url !== undefined)
    out.push(
      problem(
        "iso_checksum_url",
        "iso_checksum_url was removed (also in Packer)",
        `Write iso_checksum: "file:${typeof o.iso_checksum_url === "string" ? o.iso_checksum_url : "<url of the SUMS file>"}".`,
      ),
    );
  if (o.iso_checksum_type !== undefined)
    out.push(
      problem(
        "iso_checksum_type",
        "iso_checksum_type was removed (also in Packer)",
        typeof o.iso_checksum === "string" && !o.iso_checksum.includes(":")
          ? `Write iso_checksum: "${o.iso_checksum_type}:${o.iso_checksum}".`
          : `Write the type in iso_checksum: "${typeof o.iso_checksum_type === "string" ? o.iso_checksum_type : "sha256"}:<hash>".`,
      ),
    );
  if (o.disable_vnc && o.boot_command_method === "vnc")
    out.push(
      problem(
        "disable_vnc",
        "disable_vnc leaves no VNC server to type boot_command_method: vnc through",
        "Remove disable_vnc, or type through QMP (boot_command_method: qmp).",
      ),
    );
  if (o.vnc_password !== undefined && o.vnc_password.length > 8)
    out.push(
      problem(
        "vnc_password",
        "vnc_password: VNC uses at most 8 characters of a password",
        "Use a password of up to 8 characters.",
      ),
    );
  const missing = acceleratorMissing(o.accelerator);
  if (missing)
    out.push(warning("accelerator", `accelerator ${o.accelerator}: ${missing}; a build on this host fails`));
  if (o.use_pflash && !o.firmware)
    out.push(
      problem(
        "use_pflash",
        "use_pflash needs firmware (the file to put in the pflash drive)",
        "Set firmware, or for UEFI use efi_boot.",
      ),
    );
  for (const f of ["firmware", "efi_firmware_code", "efi_firmware_vars"] as const)
    out.push(...pathProblem(ctx, [f], o[f], "file"));
  return out;
}
