/**
 * The PVE double's storages, as on a default PVE install:
 * - "local", a directory storage (ISOs, templates, imports, VM images) whose disks are real
 *   qcow2/raw files (`local:100/vm-100-disk-0.qcow2`);
 * - "local-lvm", an LVM-thin pool (VM images only): volumes `local-lvm:vm-100-disk-0`, raw to
 *   the API, base volumes of templates `base-100-disk-0`, linked clones
 *   `local-lvm:base-100-disk-0/vm-101-disk-0`. Each logical volume is a file in `lvm/`, kept
 *   as qcow2 so that it is thin and a linked clone is an overlay, as a thin snapshot would be.
 * Also the cloud-init volumes PVE allocates, frees and (re)generates.
 */
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { ApiError } from "./api-error.js";
import {
  CLOUDINIT_DISK_SIZE,
  cloudinitFormat,
  commitCloudinitVolume,
  type HostDns,
  isCloudinitVolume,
  nocloudFiles,
  readResolvConf,
} from "./cloudinit.js";
import { run } from "./exec.js";
import type { VmDrive } from "./runner.js";
import { splitPropertyString } from "./spec.js";
import type { VmState } from "./state.js";

export const DRIVE_RE = /^(ide|sata|scsi|virtio)\d+$|^efidisk0$|^tpmstate0$/;
/** The directory storage, where uploads and ISOs go. */
export const STORAGE = "local";
export const LVM_STORAGE = "local-lvm";

export interface StorageDef {
  id: string;
  type: "dir" | "lvmthin";
  content: string[];
}

/** The node's storages (local also takes images here, as many setups configure it). */
export const STORAGES: readonly StorageDef[] = [
  { id: STORAGE, type: "dir", content: ["images", "import", "iso", "vztmpl"] },
  { id: LVM_STORAGE, type: "lvmthin", content: ["images", "rootdir"] },
];

export const storageDef = (id: string | undefined): StorageDef | undefined =>
  STORAGES.find((s) => s.id === id);

/** `storage 'X' does not exist`, or (with `content`) does not hold that content type. */
export const checkStorage = (storage: string | undefined, content?: string) => {
  if (storage === undefined) return;
  const def = storageDef(storage);
  if (!def) throw new ApiError(500, `storage '${storage}' does not exist`);
  if (content && !def.content.includes(content))
    throw new ApiError(500, `storage '${storage}' does not support content-type '${content}'`);
};

/** The storage id of a volume id (`local-lvm:vm-100-disk-0` → local-lvm). */
export const storageOf = (volid: string): string | undefined => /^([^:]+):/.exec(volid)?.[1];

/** The VM a volume belongs to: `local:100/…`, `local-lvm:vm-100-…`, linked clones their own. */
export const volumeOwner = (volid: string): number | undefined => {
  const rel = /^[^:]+:(.+)$/.exec(volid)?.[1] ?? "";
  const m = /^(?:\d+\/[^/]+\/)?(\d+)\//.exec(rel) ?? /(?:^|\/)(?:vm|base)-(\d+)-[^/]+$/.exec(rel);
  return m ? Number(m[1]) : undefined;
};

/**
 * A drive as PVE prints it (PVE::JSONSchema::print_property_string): the volume first, then
 * the other options sorted by name.
 */
export function canonicalDrive(d: Record<string, string>): string {
  const { file, ...rest } = d;
  return [
    ...(file !== undefined ? [file] : []),
    ...Object.keys(rest)
      .sort()
      .map((k) => `${k}=${rest[k]}`),
  ].join(",");
}

export function formatSize(bytes: number): string {
  const units = ["", "K", "M", "G", "T"];
  let i = 0;
  let v = bytes;
  while (i < units.length - 1 && v % 1024 === 0 && v >= 1024) {
    v /= 1024;
    i++;
  }
  return `${v}${units[i]}`;
}

export type Storage = ReturnType<typeof createStorage>;

/** The storage in `storageDir`; `hostDns` is the node's resolv.conf (default: this host's). */
export function createStorage(storageDir: string, hasQemuImg: boolean, hostDns?: HostDns) {
  const imagesDir = (vmid: number | string) => path.join(storageDir, "images", String(vmid));
  const lvmDir = path.join(storageDir, "lvm");
  const volumePath = (volid: string): string | undefined => {
    const m = /^([^:]+):(.+)$/.exec(volid);
    const def = storageDef(m?.[1]);
    if (!m || !def) return undefined;
    const rel = m[2] as string;
    if (rel.includes("..")) return undefined;
    if (def.type === "lvmthin") {
      const lv = /^(?:base-\d+-[^/]+\/)?((?:vm|base)-\d+-[^/]+)$/.exec(rel);
      return lv ? path.join(lvmDir, lv[1] as string) : undefined;
    }
    const flat = /^(iso|vztmpl|import)\/([^/]+)$/.exec(rel);
    if (flat) {
      const dir = { iso: "template/iso", vztmpl: "template/cache", import: "import" }[flat[1] as "iso"];
      return path.join(storageDir, dir, flat[2] as string);
    }
    // images: VMID/NAME or (linked clone) BASEVMID/BASENAME/VMID/NAME
    const img = /^(?:\d+\/[^/]+\/)?(\d+)\/([^/]+)$/.exec(rel);
    if (img) return path.join(imagesDir(img[1] as string), img[2] as string);
    return undefined;
  };

  const isLvm = (storage: string) => storageDef(storage)?.type === "lvmthin";

  /** A free disk name: `vm-VMID-disk-N.FMT` in a dir storage, `vm-VMID-disk-N` in the thin pool. */
  const nextDiskName = (vmid: number, fmt: string, storage = STORAGE) => {
    const dir = isLvm(storage) ? lvmDir : imagesDir(vmid);
    fs.mkdirSync(dir, { recursive: true });
    const used = new Set(fs.readdirSync(dir));
    for (let n = 0; ; n++) {
      const name = isLvm(storage) ? `vm-${vmid}-disk-${n}` : `vm-${vmid}-disk-${n}.${fmt}`;
      if (!used.has(name) && !used.has(name.replace(/^vm-/, "base-"))) return name;
    }
  };

  /** The file of a new volume `name` of VM `vmid` on `storage`, and its volume id. */
  const newVolume = (vmid: number, storage: string, name: string) =>
    isLvm(storage)
      ? { file: path.join(lvmDir, name), volid: `${storage}:${name}` }
      : { file: path.join(imagesDir(vmid), name), volid: `${storage}:${vmid}/${name}` };

  /** Format of a volume's file on the host (what QEMU opens): thin volumes are qcow2 files. */
  const hostFormat = (volid: string): string => {
    if (isLvm(storageOf(volid) ?? "")) return "qcow2";
    return /\.(\w+)$/.exec(volid)?.[1] ?? "raw";
  };

  /** Format of a volume as the API reports it (raw for LVM-thin). */
  const apiFormat = (volid: string): string => (isLvm(storageOf(volid) ?? "") ? "raw" : hostFormat(volid));

  const checkFormat = (storage: string, fmt: string) => {
    if (isLvm(storage) && fmt !== "raw") throw new Error(`unsupported format '${fmt}'`);
  };

  const makeFile = async (file: string, fmt: string, bytes: number) => {
    if (hasQemuImg && fmt !== "raw") await run("qemu-img", ["create", "-q", "-f", fmt, file, String(bytes)]);
    else {
      fs.writeFileSync(file, "");
      fs.truncateSync(file, bytes);
    }
  };

  const allocDisk = async (
    vmid: number,
    sizeGiB: number,
    fmt: string,
    storage = STORAGE,
    name?: string,
  ): Promise<{ volid: string; size: string }> => {
    checkStorage(storage, "images");
    checkFormat(storage, fmt);
    const vol = newVolume(vmid, storage, name ?? nextDiskName(vmid, fmt, storage));
    if (fs.existsSync(vol.file)) throw new Error(`disk image '${vol.file}' already exists`);
    fs.mkdirSync(path.dirname(vol.file), { recursive: true });
    const bytes = Math.round(sizeGiB * 1024 * 1024 * 1024);
    await makeFile(vol.file, isLvm(storage) ? "qcow2" : fmt, bytes);
    return { volid: vol.volid, size: formatSize(bytes) };
  };

  const importDisk = async (
    vmid: number,
    source: string,
    fmt: string,
    storage = STORAGE,
  ): Promise<{ volid: string; size: string }> => {
    const src = source.startsWith("/") ? source : volumePath(source);
    if (!src || !fs.existsSync(src)) throw new Error(`volume '${source}' does not exist`);
    checkStorage(storage, "images");
    checkFormat(storage, fmt);
    const vol = newVolume(vmid, storage, nextDiskName(vmid, fmt, storage));
    const hostFmt = isLvm(storage) ? "qcow2" : fmt;
    if (hasQemuImg) await run("qemu-img", ["convert", "-O", hostFmt, src, vol.file]);
    else fs.copyFileSync(src, vol.file);
    return { volid: vol.volid, size: formatSize(virtualSize(vol.file)) };
  };

  const virtualSize = (file: string): number => {
    if (hasQemuImg) {
      const r = spawnSync("qemu-img", ["info", "--output=json", file], { encoding: "utf8" });
      if (r.status === 0) return (JSON.parse(r.stdout) as { "virtual-size": number })["virtual-size"];
    }
    return fs.statSync(file).size;
  };

  const sizeCache = new Map<string, { mtime: number; size: number }>();
  const virtualSizeCached = (file: string) => {
    const st = fs.statSync(file);
    const c = sizeCache.get(file);
    if (c && c.mtime === st.mtimeMs) return c.size;
    const size = virtualSize(file);
    sizeCache.set(file, { mtime: st.mtimeMs, size });
    return size;
  };

  /** Whether `file` is an overlay on a base volume of VM `vmid` (a linked clone of it). */
  const linkedTo = (file: string, vmid: number): boolean => {
    if (!hasQemuImg || !(file.endsWith(".qcow2") || file.startsWith(`${lvmDir}/`))) return false;
    const r = spawnSync("qemu-img", ["info", "-U", "--output=json", file], { encoding: "utf8" });
    if (r.status !== 0) return false;
    const bf = (JSON.parse(r.stdout) as { "full-backing-filename"?: string })["full-backing-filename"];
    if (!bf) return false;
    const full = path.resolve(path.dirname(file), bf);
    return full.startsWith(`${imagesDir(vmid)}/`) || full.startsWith(`${lvmDir}/base-${vmid}-`);
  };

  /** Removes every volume of VM `vmid` (its images dir and its thin volumes). */
  const freeVmVolumes = (vmid: number) => {
    fs.rmSync(imagesDir(vmid), { recursive: true, force: true });
    if (fs.existsSync(lvmDir))
      for (const f of fs.readdirSync(lvmDir))
        if (f.startsWith(`vm-${vmid}-`) || f.startsWith(`base-${vmid}-`))
          fs.rmSync(path.join(lvmDir, f), { force: true });
  };

  const storageInfo = () => {
    const st = fs.statfsSync(storageDir);
    const total = st.blocks * st.bsize;
    const avail = st.bavail * st.bsize;
    return { total, avail, used: total - avail };
  };

  /** Key of a drive (other than `skip`) that is a cloud-init drive (QemuConfig::has_cloudinit). */
  const cloudinitKey = (conf: Record<string, string>, skip?: string): string | undefined =>
    Object.keys(conf).find(
      (k) =>
        k !== skip && DRIVE_RE.test(k) && isCloudinitVolume(splitPropertyString(conf[k] ?? "", "file").file),
    );

  /**
   * `STORAGE:cloudinit` (API2::Qemu create_disks): allocates vm-VMID-cloudinit.FMT (4 MiB, qcow2
   * unless `format=`) and prints the drive as PVE does: volid, then the sorted options with
   * media=cdrom, without format.
   */
  const allocCloudinit = async (
    vmid: number,
    d: Record<string, string>,
    storage: string,
    withSize = false,
  ) => {
    if (!storageDef(storage)) throw new Error(`storage '${storage}' does not exist`);
    const fmt = isLvm(storage) ? "raw" : (d.format ?? "qcow2");
    checkFormat(storage, d.format ?? fmt);
    const vol = newVolume(
      vmid,
      storage,
      isLvm(storage) ? `vm-${vmid}-cloudinit` : `vm-${vmid}-cloudinit.${fmt}`,
    );
    fs.mkdirSync(path.dirname(vol.file), { recursive: true });
    const file = vol.file;
    if (fs.existsSync(file)) throw new Error(`disk image '${file}' already exists`);
    await makeFile(file, isLvm(storage) ? "qcow2" : fmt, CLOUDINIT_DISK_SIZE);
    const opts: Record<string, string> = { ...d, media: "cdrom" };
    delete opts.file;
    delete opts.format;
    delete opts.size;
    if (withSize) opts.size = formatSize(CLOUDINIT_DISK_SIZE);
    return [
      vol.volid,
      ...Object.keys(opts)
        .sort()
        .map((o) => `${o}=${opts[o]}`),
    ].join(",");
  };

  /** Frees a VM's cloud-init volume (QemuServer::vmconfig_register_unused_drive). */
  const freeCloudinit = (file: string, log: (l: string) => void) => {
    const p = volumePath(file);
    if (p && fs.existsSync(p)) fs.rmSync(p, { force: true });
    log(`removed cloud-init volume '${file}'`);
  };

  /**
   * Turns "local:32,..." drive values into allocated volumes and "local:cloudinit" into the VM's
   * cloud-init volume; checks referenced ISOs exist. `existing` is the config being changed.
   */
  const allocateDrives = async (
    vmid: number,
    params: Record<string, string>,
    log: (l: string) => void,
    existing: Record<string, string> = {},
  ) => {
    const done: Record<string, string> = {};
    for (const [k, v] of Object.entries(params)) {
      if (!DRIVE_RE.test(k)) continue;
      const d = splitPropertyString(v, "file");
      const file = d.file ?? "";
      if (isCloudinitVolume(file)) {
        const other = cloudinitKey(existing, k) ?? cloudinitKey(done, k);
        if (other) throw new Error(`${k} - cloud-init drive is already attached at '${other}'`);
      }
      const ci = /^([a-z][a-z0-9\-_.]*[a-z0-9]):cloudinit$/i.exec(file);
      if (ci) {
        params[k] = await allocCloudinit(vmid, d, ci[1] as string);
        done[k] = params[k];
        log(`${k}: successfully created disk '${params[k]}'`);
        continue;
      }
      done[k] = v;
      const alloc = /^([a-z][a-z0-9\-_.]*[a-z0-9]):(\d+(?:\.\d+)?)$/i.exec(file);
      if (alloc) {
        const sid = alloc[1] as string;
        if (!storageDef(sid)) throw new Error(`storage '${sid}' does not exist`);
        const fmt = d.format ?? (isLvm(sid) ? "raw" : "qcow2");
        const importFrom = d["import-from"];
        const { volid, size } =
          importFrom !== undefined
            ? await importDisk(vmid, importFrom, fmt, sid)
            : await allocDisk(vmid, Number(alloc[2]) || (k === "efidisk0" ? 0.001 : 0), fmt, sid);
        log(`${importFrom ? "imported" : "created"} ${k}: ${volid}`);
        // API2::Qemu create_disks: format is no longer needed, size is set; printed canonically
        const { file: _f, "import-from": _i, format: _fmt, ...rest } = d;
        params[k] = canonicalDrive({ ...rest, file: volid, size });
      } else if (file !== "none" && file !== "cdrom" && !file.startsWith("/")) {
        const p = volumePath(file);
        if (!p || !fs.existsSync(p)) throw new Error(`volume '${file}' does not exist`);
        params[k] = canonicalDrive(d);
      } else params[k] = canonicalDrive(d);
      done[k] = params[k];
    }
  };

  const vmDrives = (conf: Record<string, string>): VmDrive[] =>
    Object.entries(conf)
      .filter(([k]) => DRIVE_RE.test(k))
      .map(([k, v]) => {
        const d = splitPropertyString(v, "file");
        const file = d.file ?? "none";
        const p =
          file === "none" || file === "cdrom" ? undefined : file.startsWith("/") ? file : volumePath(file);
        const media = d.media === "cdrom" ? "cdrom" : "disk";
        // ISOs are raw; a cloud-init volume is a CD-ROM image in a qcow2 (or raw) volume; thin
        // volumes are qcow2 files whatever the config says
        const format = isLvm(storageOf(file) ?? "")
          ? "qcow2"
          : (d.format ??
            (media === "cdrom" && !isCloudinitVolume(file)
              ? "raw"
              : (/\.(\w+)$/.exec(p ?? "")?.[1] ?? "raw")));
        return p ? { key: k, path: p, media, format } : { key: k, media, format };
      });

  /** The node's DNS settings, as PVE reads them for cloud-init. */
  const nodeDns = () => hostDns ?? readResolvConf();

  /**
   * Cloudinit::generate_cloudinit_config: (re)writes the VM's cloud-init volume (NoCloud `cidata`
   * ISO from the config), as PVE does at every start and when such a drive is set.
   */
  const generateCloudinit = async (vm: VmState, log: (l: string) => void) => {
    for (const [k, v] of Object.entries(vm.config)) {
      if (!DRIVE_RE.test(k)) continue;
      const file = splitPropertyString(v, "file").file ?? "";
      if (!file.includes(`vm-${vm.vmid}-cloudinit`)) continue;
      const format = cloudinitFormat(vm.config);
      if (format !== "nocloud")
        throw new Error(`cloud-init format '${format}' is not modelled by the PVE double (only nocloud)`);
      if (vm.config.cicustom) throw new Error("cicustom is not modelled by the PVE double");
      const p = volumePath(file);
      if (!p) throw new Error(`unable to parse volume ID '${file}'`);
      const files = nocloudFiles(vm.config, vm.vmid, nodeDns());
      log("generating cloud-init ISO");
      await commitCloudinitVolume(files, "cidata", p, hostFormat(file), hasQemuImg);
    }
  };

  return {
    dir: storageDir,
    lvmDir,
    hasQemuImg,
    imagesDir,
    volumePath,
    hostFormat,
    apiFormat,
    newVolume,
    isLvm,
    allocDisk,
    freeVmVolumes,
    nextDiskName,
    virtualSizeCached,
    linkedTo,
    storageInfo,
    allocCloudinit,
    freeCloudinit,
    allocateDrives,
    vmDrives,
    nodeDns,
    generateCloudinit,
  };
}
