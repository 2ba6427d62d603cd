/**
 * The ISOs of a build (pure): proxmox-iso's boot ISO (boot_iso, or Packer's older top-level
 * names), the additional ISOs, where each one comes from, and their checks for prepare.
 */
import { applyDefaults } from "@kiln/core";
import { wantsCd } from "@kiln/sdk";
import { errors } from "./errors.js";
import { BUS_MAX, type Cdrom, cdromPlace } from "./params.js";
import { type CommonOptions, ISO_OBJECT, type IsoOptions, type ProxmoxIsoOptions } from "./schema.js";

type LegacyIsoOptions = Pick<
  ProxmoxIsoOptions,
  | "boot_iso"
  | "iso_file"
  | "iso_url"
  | "iso_urls"
  | "iso_checksum"
  | "iso_storage_pool"
  | "iso_download_pve"
  | "unmount_iso"
>;

/** The boot ISO of proxmox-iso as written: boot_iso, or Packer's older top-level names. */
export function bootIso(o: LegacyIsoOptions): Partial<IsoOptions> {
  const legacy: Partial<IsoOptions> = {
    ...(o.iso_file !== undefined ? { iso_file: o.iso_file } : {}),
    ...(o.iso_url !== undefined ? { iso_url: o.iso_url } : {}),
    ...(o.iso_urls !== undefined ? { iso_urls: o.iso_urls } : {}),
    ...(o.iso_checksum !== undefined ? { iso_checksum: o.iso_checksum } : {}),
    ...(o.iso_storage_pool !== undefined ? { iso_storage_pool: o.iso_storage_pool } : {}),
    ...(o.iso_download_pve !== undefined ? { iso_download_pve: o.iso_download_pve } : {}),
    ...(o.unmount_iso !== undefined ? { unmount: o.unmount_iso } : {}),
  };
  if (o.boot_iso && Object.keys(legacy).length)
    throw errors.config(
      `boot_iso and the top-level ${Object.keys(legacy).join(", ")} are both set`,
      "Move them into boot_iso (the top-level names are Packer's deprecated ones).",
    );
  return o.boot_iso ?? legacy;
}

export interface BuildIso {
  iso: IsoOptions;
  /** The boot ISO of proxmox-iso. */
  boot: boolean;
}

/** Every ISO of the build, in order: the boot ISO (proxmox-iso: `bootIso(o)`), then additional_iso_files. */
export function isoList(
  o: Pick<CommonOptions, "additional_iso_files">,
  boot?: Partial<IsoOptions>,
): BuildIso[] {
  const list: BuildIso[] = [];
  // The boot ISO as Packer's top-level names give it gets boot_iso's defaults too.
  if (boot) list.push({ iso: applyDefaults(ISO_OBJECT, boot) as IsoOptions, boot: true });
  for (const iso of o.additional_iso_files ?? []) list.push({ iso, boot: false });
  return list;
}

/** Where an ISO comes from: on the storage already, a URL, or generated from cd_files/cd_content. */
export type IsoSource = "file" | "url" | "cd";

export function isoSources(iso: Partial<IsoOptions>): IsoSource[] {
  return [
    iso.iso_file ? ("file" as const) : undefined,
    iso.iso_url || iso.iso_urls?.length ? ("url" as const) : undefined,
    wantsCd(iso) ? ("cd" as const) : undefined,
  ].filter((s) => s !== undefined);
}

/** The one source of a checked ISO. */
export function isoSource(iso: Partial<IsoOptions>): IsoSource {
  const [source] = isoSources(iso);
  if (!source) throw new Error("internal: an ISO without a source passed prepare");
  return source;
}

/** The checks of one ISO, for prepare. */
export function checkIso(iso: Partial<IsoOptions>, where: string, required: boolean): void {
  const { bus } = cdromPlace(iso, false);
  if (iso.index !== undefined && iso.index > (BUS_MAX[bus] as number))
    throw errors.config(
      `${where}: ${bus}${iso.index} does not exist`,
      `${bus} drives are numbered 0–${BUS_MAX[bus]}.`,
    );
  const names = { file: "iso_file", url: "iso_url", cd: "cd_files/cd_content" };
  const sources = isoSources(iso);
  if (sources.length > 1)
    throw errors.config(
      `${where}: set only one of iso_file, iso_url and cd_files/cd_content (found ${sources.map((s) => names[s]).join(", ")})`,
      "iso_file names an ISO already on Proxmox storage; iso_url is uploaded by kiln (or downloaded by Proxmox with iso_download_pve); cd_files/cd_content build a new ISO.",
    );
  if (sources.length === 0 && required)
    throw errors.config(
      `${where}: an ISO is required`,
      "Set boot_iso.iso_file (an ISO on Proxmox storage, e.g. local:iso/debian.iso) or boot_iso.iso_url with iso_checksum.",
    );
  if (sources[0] === "url" && !iso.iso_checksum)
    throw errors.config(
      `${where}: iso_checksum is required with iso_url`,
      'Set iso_checksum to "sha256:<hash>", "file:<url of a SHA256SUMS file>", or "none" to skip the check.',
    );
  if (iso.iso_file && !/^[^:\s]+:(iso\/)?[^\s]+$/.test(iso.iso_file))
    throw errors.config(
      `${where}: iso_file ${JSON.stringify(iso.iso_file)} is not a Proxmox volume`,
      "Write it as <storage>:iso/<file>.iso, e.g. local:iso/debian-12.iso.",
    );
  if (iso.iso_download_pve && !(iso.iso_url || iso.iso_urls?.length))
    throw errors.config(`${where}: iso_download_pve needs iso_url`);
}

/** The volume of an iso_file: `local:debian.iso` is `local:iso/debian.iso`. */
export function isoFileVolume(isoFile: string): string {
  return isoFile.includes(":iso/") ? isoFile : isoFile.replace(":", ":iso/");
}

/** The CD-ROM drives of the ISOs (slots not yet assigned), once every ISO has its volume. */
export function cdromsOf(list: BuildIso[], volids: ReadonlyArray<string | undefined>): Cdrom[] {
  return list.map(({ iso, boot }, i) => {
    const volid = volids[i];
    if (!volid) throw new Error(`internal: ISO ${i + 1} has no volume`);
    return { ...cdromPlace(iso, boot), boot, volid, unmount: iso.unmount, keepDevice: iso.keep_cdrom_device };
  });
}
