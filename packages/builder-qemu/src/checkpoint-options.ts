/**
 * What of the qemu builder's options a checkpoint depends on: the options that shape the
 * machine (its key), the local files it is made from, and the options checkpoints cannot work
 * with. Pure functions of the options.
 */
import { isDeferred } from "@kiln/core";
import type { QemuOptions } from "./schema.js";

/**
 * Options that only name or place the output, say how it is compacted, or how kiln reaches the
 * machine from this host: changing them does not change the machine, so they stay out of the key.
 */
export const NOT_MACHINE: ReadonlySet<string> = new Set([
  "output_directory",
  "vm_name",
  "format",
  "disk_compression",
  "skip_compaction",
  "efi_drop_efivars",
  "shutdown_command",
  "shutdown_timeout",
  "iso_target_path",
  "iso_skip_cache",
  "accelerator", // the accelerator a checkpoint was saved with is checked at restore instead
  "host_port_min",
  "host_port_max",
  "http_port_min",
  "http_port_max",
  "http_bind_address",
  "vnc_bind_address",
  "vnc_port_min",
  "vnc_port_max",
  "vnc_use_password",
  "headless",
  "display",
  "qmp_enable",
  "qmp_socket_path",
  "pause_before_connecting",
]);

/** The options in the checkpoint key: all but NOT_MACHINE, ssh_* and qemu-img's convert arguments. */
export function machineOptions(o: QemuOptions): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(o)) {
    if (NOT_MACHINE.has(k) || k.startsWith("ssh_") || k.startsWith("temporary_key_pair_")) continue;
    if (k === "qemu_img_args" && v && typeof v === "object") {
      const { convert: _c, ...rest } = v as Record<string, unknown>;
      out[k] = rest;
      continue;
    }
    out[k] = v;
  }
  return out;
}

const isLocal = (url: string) => !/^[a-z][a-z0-9+.-]*:\/\//i.test(url) || url.startsWith("file://");
const GLOB = /[*?[]/;

/** A glob's fixed part (the folder before its first wildcard): what is hashed for it. */
function globRoot(p: string): string {
  if (!GLOB.test(p)) return p;
  const parts = p.split("/");
  const i = parts.findIndex((s) => GLOB.test(s));
  return parts.slice(0, i).join("/") || ".";
}

class KnownLater extends Error {}

const strings = (v: unknown): string[] =>
  (Array.isArray(v) ? v : v === undefined ? [] : [v]).filter((x): x is string => {
    if (isDeferred(x)) throw new KnownLater();
    return typeof x === "string" && x !== "";
  });

/**
 * Local files the machine is made from, by content: what HTTP serves, what goes on the CD and
 * the floppy, firmware; a local ISO or image whose checksum is not given, by size and time.
 * False when one of them is named only while building.
 */
export function inputFiles(o: QemuOptions): Array<string | { path: string; stat: true }> | false {
  try {
    return files(o);
  } catch (e) {
    if (e instanceof KnownLater) return false;
    throw e;
  }
}

function files(o: QemuOptions): Array<string | { path: string; stat: true }> {
  const out: Array<string | { path: string; stat: true }> = [];
  out.push(...strings(o.http_directory));
  for (const p of [...strings(o.cd_files), ...strings(o.floppy_files), ...strings(o.floppy_dirs)])
    out.push(globRoot(p));
  out.push(...strings([o.firmware, o.efi_firmware_code, o.efi_firmware_vars]));
  if (!o.iso_checksum || o.iso_checksum === "none")
    for (const u of [...strings(o.iso_url), ...strings(o.iso_urls)])
      if (isLocal(u)) out.push({ path: u.replace(/^file:\/\//, ""), stat: true });
  return out;
}

/** Why checkpoints cannot be used with these options, or undefined. */
export function unsupported(o: QemuOptions): string | undefined {
  if (o.communicator === "none")
    return "communicator: none (kiln never connects, so there is nothing to resume)";
  if (o.vtpm) return "vtpm (swtpm's state is not saved with the machine)";
  const own = (o.qemuargs ?? []).map((a) => a[0]).find((s) => s === "-incoming" || s === "-loadvm");
  if (own) return `qemuargs set ${own}, which kiln uses to restore a checkpoint`;
  return undefined;
}
