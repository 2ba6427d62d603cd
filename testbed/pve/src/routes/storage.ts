/**
 * The PVE double's storage routes: the node's storages, a storage's content (list, allocate,
 * delete), uploads and download-url into storage "local".
 */
import crypto from "node:crypto";
import fs from "node:fs";
import http from "node:http";
import https from "node:https";
import path from "node:path";
import { ApiError, paramError } from "../api-error.js";
import { splitPropertyString } from "../spec.js";
import type { Cluster } from "../state.js";
import type { Tasks } from "../tasks.js";
import { checkStorage, STORAGE, STORAGES, storageDef, volumeOwner } from "../volumes.js";
import { bool, type Handlers, str, upidOf } from "./common.js";

const CONTENT_EXT: Record<string, RegExp> = {
  iso: /\.(?:iso|img)$/i,
  vztmpl: /\.tar\.(?:gz|xz|zst|bz2)$/i,
  import: /\.(?:ova|qcow2|raw|vmdk)$/i,
};
const CONTENT_DIR: Record<string, string> = {
  iso: "template/iso",
  vztmpl: "template/cache",
  import: "import",
};
const normalizeFilename = (f: string) => path.basename(f).replace(/[^a-zA-Z0-9_.-]/g, "_");

export function storageRoutes(cluster: Cluster, tasks: Tasks): Handlers {
  const { vms } = cluster;
  const { dir: storageDir, lvmDir, imagesDir, volumePath, virtualSizeCached } = cluster.storage;

  /** The volume id VM `vmid`'s config gives image `file` on `storage` (linked clones name their base). */
  const findVolid = (vmid: number, file: string, storage = STORAGE): string | undefined => {
    const c = vms.get(vmid)?.config ?? {};
    for (const v of Object.values(c)) {
      const f = splitPropertyString(v, "file").file;
      if (!f?.startsWith(`${storage}:`)) continue;
      if (storageDef(storage)?.type === "lvmthin") {
        if (f === `${storage}:${file}` || f.endsWith(`/${file}`)) return f;
      } else if (f.endsWith(`/${vmid}/${file}`) || f === `${storage}:${vmid}/${file}`) return f;
    }
    return undefined;
  };

  /** The thin pool's volumes, as PVE lists them (format raw). */
  const lvmContent = (storage: string, vmidFilter?: number) => {
    const out: Record<string, unknown>[] = [];
    if (!fs.existsSync(lvmDir)) return out;
    for (const f of fs.readdirSync(lvmDir).sort()) {
      const vmid = Number(/^(?:vm|base)-(\d+)-/.exec(f)?.[1]);
      if (!vmid || (vmidFilter !== undefined && vmid !== vmidFilter)) continue;
      const file = path.join(lvmDir, f);
      const st = fs.statSync(file);
      const volid = findVolid(vmid, f, storage) ?? `${storage}:${f}`;
      out.push({
        volid,
        content: "images",
        format: "raw",
        size: virtualSizeCached(file),
        used: st.blocks * 512,
        vmid,
        ctime: Math.floor(st.ctimeMs / 1000),
        ...(volid.split("/").length > 1 ? { parent: volid.split("/")[0]?.replace(`${storage}:`, "") } : {}),
      });
    }
    return out;
  };

  return {
    "GET /nodes/{node}/storage": (p) => {
      const content = str(p.content);
      const only = str(p.storage);
      const s = cluster.storage.storageInfo();
      return STORAGES.filter(
        (d) => (!content || d.content.includes(content)) && (!only || d.id === only),
      ).map((d) => ({
        storage: d.id,
        type: d.type,
        content: d.content.join(","),
        active: 1,
        enabled: 1,
        shared: 0,
        total: s.total,
        used: s.used,
        avail: s.avail,
        used_fraction: s.total ? s.used / s.total : 0,
      }));
    },

    /**
     * API2::Storage::Content create: allocate an empty disk image `filename` (`vm-VMID-…`, its
     * extension the format on a dir storage) of `size` (KiB, or with a K/M/G suffix); returns the volid.
     */
    "POST /nodes/{node}/storage/{storage}/content": async (p) => {
      const sid = String(p.storage);
      const def = storageDef(sid);
      if (!def) throw new ApiError(500, `storage '${sid}' does not exist`);
      const vmid = Number(p.vmid);
      const name = String(p.filename);
      const sizeStr = String(p.size);
      let kib: number;
      const sm = /^(\d+(?:\.\d+)?)([KMG])?$/.exec(sizeStr);
      if (/^\d+$/.test(sizeStr)) kib = Number(sizeStr);
      else if (sm?.[2]) kib = Math.floor(Number(sm[1]) * { K: 1, M: 1024, G: 1024 * 1024 }[sm[2] as "K"]);
      else throw paramError({ size: `unable to parse size '${sizeStr}'` });
      let format = str(p.format);
      const ext = /\.(raw|qcow2|vmdk)$/.exec(name)?.[1];
      if (ext) {
        if (format && format !== ext)
          throw paramError({ format: `different storage formats (${format} != ${ext})` });
        format = ext;
      }
      if (!name.startsWith(`vm-${vmid}-`))
        throw new ApiError(500, `illegal name '${name}' - should be 'vm-${vmid}-*'`);
      checkStorage(sid, "images");
      const fmt = format ?? "raw";
      if (def.type === "dir" && !ext)
        throw new ApiError(500, `illegal name '${name}' - wrong extension for format ('' != '${fmt}')`);
      try {
        const { volid } = await cluster.storage.allocDisk(vmid, (kib * 1024) / 1024 ** 3, fmt, sid, name);
        return volid;
      } catch (e) {
        throw new ApiError(500, (e as Error).message);
      }
    },

    "GET /nodes/{node}/storage/{storage}/content": (p) => {
      checkStorage(str(p.storage));
      const out: Record<string, unknown>[] = [];
      const filter = str(p.content);
      const vmidFilter = p.vmid !== undefined ? Number(p.vmid) : undefined;
      if (storageDef(str(p.storage))?.type === "lvmthin")
        return !filter || filter === "images" ? lvmContent(String(p.storage), vmidFilter) : [];
      for (const [content, dir] of Object.entries(CONTENT_DIR)) {
        if ((filter && filter !== content) || vmidFilter !== undefined) continue;
        for (const f of fs.readdirSync(path.join(storageDir, dir))) {
          const st = fs.statSync(path.join(storageDir, dir, f));
          if (!st.isFile()) continue;
          out.push({
            volid: `${STORAGE}:${content}/${f}`,
            content,
            format: content === "iso" ? "iso" : (/\.(\w+)$/.exec(f)?.[1] ?? "raw"),
            size: st.size,
            ctime: Math.floor(st.ctimeMs / 1000),
          });
        }
      }
      if (!filter || filter === "images")
        for (const d of fs.readdirSync(path.join(storageDir, "images"))) {
          const vmid = Number(d);
          if (vmidFilter !== undefined && vmid !== vmidFilter) continue;
          for (const f of fs.readdirSync(imagesDir(d))) {
            const file = path.join(imagesDir(d), f);
            const st = fs.statSync(file);
            const volid = findVolid(vmid, f) ?? `${STORAGE}:${vmid}/${f}`;
            out.push({
              volid,
              content: "images",
              format: /\.(\w+)$/.exec(f)?.[1] ?? "raw",
              size: virtualSizeCached(file),
              used: st.blocks * 512,
              vmid,
              ctime: Math.floor(st.ctimeMs / 1000),
              ...(volid.split("/").length > 2
                ? { parent: volid.split("/").slice(0, 2).join("/").replace(`${STORAGE}:`, "") }
                : {}),
            });
          }
        }
      return out;
    },

    "DELETE /nodes/{node}/storage/{storage}/content/{volume}": (p, auth) => {
      const storage = str(p.storage);
      checkStorage(storage);
      let volid = String(p.volume);
      if (!volid.includes(":")) volid = `${storage ?? STORAGE}:${volid}`;
      const file = volumePath(volid);
      if (!file || !fs.existsSync(file)) throw new ApiError(500, `volume '${volid}' does not exist`);
      const owner = volumeOwner(volid);
      const sid = /^([^:]+):/.exec(volid)?.[1];
      if (owner && vms.get(owner) && findVolid(owner, path.basename(file), sid))
        throw new ApiError(500, `unable to delete '${volid}' - volume is still in use (by VM ${owner})`);
      return upidOf(
        tasks.start("imgdel", "", auth.user, async () => {
          fs.rmSync(file, { force: true });
        }),
      );
    },

    "POST /nodes/{node}/storage/{storage}/upload": (p, auth, ctx) => {
      try {
        checkStorage(str(p.storage), String(p.content));
      } catch (e) {
        if (ctx.upload) fs.rmSync(ctx.upload.tmpfile, { force: true });
        throw e;
      }
      const up = ctx.upload;
      if (!up) throw new ApiError(400, "upload requires multipart/form-data");
      const content = String(p.content);
      const filename = normalizeFilename(String(p.filename));
      const re = CONTENT_EXT[content];
      if (re && !re.test(filename)) {
        fs.rmSync(up.tmpfile, { force: true });
        throw paramError({ filename: "wrong file extension" });
      }
      const dest = path.join(storageDir, CONTENT_DIR[content] as string, filename);
      return upidOf(
        tasks.start("imgcopy", "", auth.user, async (log) => {
          try {
            if (p.checksum !== undefined) {
              const got = await hashFile(up.tmpfile, String(p["checksum-algorithm"]));
              if (got !== String(p.checksum).toLowerCase())
                throw new Error(`checksum mismatch: got '${got}' != expect '${p.checksum}'`);
              log(`calculated checksum ${got}`);
            }
            log(`target file: ${dest}`);
            fs.renameSync(up.tmpfile, dest);
            log(`file size is: ${up.bytes}`);
          } finally {
            fs.rmSync(up.tmpfile, { force: true });
          }
        }),
      );
    },

    "POST /nodes/{node}/storage/{storage}/download-url": (p, auth) => {
      checkStorage(str(p.storage), String(p.content));
      const content = String(p.content);
      const filename = normalizeFilename(String(p.filename));
      const re = CONTENT_EXT[content];
      if (re && !re.test(filename)) throw paramError({ filename: "wrong file extension" });
      const url = String(p.url);
      if (!/^https?:\/\//.test(url)) throw paramError({ url: "invalid URL" });
      const dest = path.join(storageDir, CONTENT_DIR[content] as string, filename);
      const verify = p["verify-certificates"] === undefined ? true : bool(p["verify-certificates"]);
      return upidOf(
        tasks.start("download", filename, auth.user, async (log) => {
          const tmp = path.join(storageDir, ".tmp", `download-${crypto.randomBytes(6).toString("hex")}`);
          try {
            log(`downloading ${url} to ${dest}`);
            await download(url, tmp, verify);
            if (p.checksum !== undefined) {
              const got = await hashFile(tmp, String(p["checksum-algorithm"]));
              if (got !== String(p.checksum).toLowerCase())
                throw new Error(`checksum mismatch: got '${got}' != expect '${p.checksum}'`);
            }
            fs.renameSync(tmp, dest);
            log("download of '...' finished");
          } finally {
            fs.rmSync(tmp, { force: true });
          }
        }),
      );
    },
  };
}

function hashFile(file: string, algo: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const h = crypto.createHash(algo);
    fs.createReadStream(file)
      .on("data", (d) => h.update(d))
      .on("error", reject)
      .on("end", () => resolve(h.digest("hex")));
  });
}

function download(url: string, dest: string, verify: boolean, redirects = 5): Promise<void> {
  return new Promise((resolve, reject) => {
    const mod = url.startsWith("https:") ? https : http;
    const req = mod.get(url, url.startsWith("https:") ? { rejectUnauthorized: verify } : {}, (res) => {
      const status = res.statusCode ?? 0;
      if (status >= 300 && status < 400 && res.headers.location && redirects > 0) {
        res.resume();
        download(new URL(res.headers.location, url).toString(), dest, verify, redirects - 1).then(
          resolve,
          reject,
        );
        return;
      }
      if (status !== 200) {
        res.resume();
        reject(new Error(`download failed: ${status} ${res.statusMessage ?? ""}`.trim()));
        return;
      }
      const ws = fs.createWriteStream(dest);
      res.pipe(ws);
      ws.on("finish", () => resolve());
      ws.on("error", reject);
      res.on("error", reject);
    });
    req.on("error", reject);
  });
}
