/**
 * Storage "local" of the PVE double: a directory storage (ISOs, templates, imports, VM images)
 * whose disks are real qcow2/raw files made with qemu-img where it exists, and the cloud-init
 * volumes PVE allocates, frees and (re)generates.
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
export const STORAGE = "local";

export const checkStorage = (storage: string | undefined) => {
  if (storage !== undefined && storage !== STORAGE)
    throw new ApiError(500, `storage '${storage}' does not exist`);
};

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
  const volumePath = (volid: string): string | undefined => {
    const m = /^([^:]+):(.+)$/.exec(volid);
    if (!m || m[1] !== STORAGE) return undefined;
    const rel = m[2] as string;
    if (rel.includes("..")) return undefined;
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

  const nextDiskName = (vmid: number, fmt: string) => {
    const dir = imagesDir(vmid);
    fs.mkdirSync(dir, { recursive: true });
    const used = new Set(fs.readdirSync(dir));
    for (let n = 0; ; n++) {
      const name = `vm-${vmid}-disk-${n}.${fmt}`;
      if (!used.has(name) && !used.has(name.replace(/^vm-/, "base-"))) return name;
    }
  };

  const allocDisk = async (
    vmid: number,
    sizeGiB: number,
    fmt: string,
  ): Promise<{ volid: string; size: string }> => {
    const name = nextDiskName(vmid, fmt);
    const file = path.join(imagesDir(vmid), name);
    const bytes = Math.round(sizeGiB * 1024 * 1024 * 1024);
    if (hasQemuImg) await run("qemu-img", ["create", "-q", "-f", fmt, file, String(bytes)]);
    else {
      fs.writeFileSync(file, "");
      fs.truncateSync(file, bytes);
    }
    return { volid: `${STORAGE}:${vmid}/${name}`, size: formatSize(bytes) };
  };

  const importDisk = async (
    vmid: number,
    source: string,
    fmt: string,
  ): Promise<{ volid: string; size: string }> => {
    const src = source.startsWith("/") ? source : volumePath(source);
    if (!src || !fs.existsSync(src)) throw new Error(`volume '${source}' does not exist`);
    const name = nextDiskName(vmid, fmt);
    const file = path.join(imagesDir(vmid), name);
    if (hasQemuImg) await run("qemu-img", ["convert", "-O", fmt, src, file]);
    else fs.copyFileSync(src, file);
    return { volid: `${STORAGE}:${vmid}/${name}`, size: formatSize(virtualSize(file)) };
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

  /** Whether a qcow2 `file` has its backing file in `baseDir` (a linked clone of that VM). */
  const linkedTo = (file: string, baseDir: string): boolean => {
    if (!hasQemuImg || !file.endsWith(".qcow2")) return false;
    const r = spawnSync("qemu-img", ["info", "--output=json", file], { encoding: "utf8" });
    if (r.status !== 0) return false;
    const bf = (JSON.parse(r.stdout) as { "full-backing-filename"?: string })["full-backing-filename"];
    return !!bf && path.resolve(path.dirname(file), bf).startsWith(`${baseDir}/`);
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
    if (storage !== STORAGE) throw new Error(`storage '${storage}' does not exist`);
    const fmt = d.format ?? "qcow2";
    const name = `vm-${vmid}-cloudinit.${fmt}`;
    fs.mkdirSync(imagesDir(vmid), { recursive: true });
    const file = path.join(imagesDir(vmid), name);
    if (fs.existsSync(file)) throw new Error(`disk image '${file}' already exists`);
    if (hasQemuImg && fmt !== "raw")
      await run("qemu-img", ["create", "-q", "-f", fmt, file, String(CLOUDINIT_DISK_SIZE)]);
    else {
      fs.writeFileSync(file, "");
      fs.truncateSync(file, CLOUDINIT_DISK_SIZE);
    }
    const opts: Record<string, string> = { ...d, media: "cdrom" };
    delete opts.file;
    delete opts.format;
    delete opts.size;
    if (withSize) opts.size = formatSize(CLOUDINIT_DISK_SIZE);
    return [
      `${STORAGE}:${vmid}/${name}`,
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
        if (alloc[1] !== STORAGE) throw new Error(`storage '${alloc[1]}' does not exist`);
        const fmt = d.format ?? "qcow2";
        const importFrom = d["import-from"];
        const { volid, size } =
          importFrom !== undefined
            ? await importDisk(vmid, importFrom, fmt)
            : await allocDisk(vmid, Number(alloc[2]) || (k === "efidisk0" ? 0.001 : 0), fmt);
        log(`${importFrom ? "imported" : "created"} ${k}: ${volid}`);
        const rest = Object.entries(d)
          .filter(([kk]) => kk !== "file" && kk !== "size" && kk !== "import-from" && kk !== "format")
          .map(([kk, vv]) => `${kk}=${vv}`);
        params[k] = [volid, ...rest, `size=${size}`].join(",");
      } else if (file !== "none" && file !== "cdrom" && !file.startsWith("/")) {
        const p = volumePath(file);
        if (!p || !fs.existsSync(p)) throw new Error(`volume '${file}' does not exist`);
      }
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
        // ISOs are raw; a cloud-init volume is a CD-ROM image in a qcow2 (or raw) volume
        const format =
          d.format ??
          (media === "cdrom" && !isCloudinitVolume(file) ? "raw" : (p?.split(".").pop() ?? "raw"));
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
      await commitCloudinitVolume(files, "cidata", p, path.extname(p).slice(1) || "raw", hasQemuImg);
    }
  };

  return {
    dir: storageDir,
    hasQemuImg,
    imagesDir,
    volumePath,
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
