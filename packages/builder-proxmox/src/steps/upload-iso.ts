/**
 * Upload the ISO that downloadStep fetched (SOURCE_FILE) to the storage, named after its URL
 * and verified checksum — unless a volume of that name and size is there already (an earlier
 * build's upload, kept as a cache).
 */
import { stat } from "node:fs/promises";
import type { Step } from "@kiln/core";
import { SOURCE_FILE } from "@kiln/sdk";
import { errors } from "../errors.js";
import { isoFileName } from "../params.js";
import type { CommonOptions, IsoOptions } from "../schema.js";
import { API, ISOS } from "../state.js";
import { isoVolumeSize, storagePath, taskTimeout } from "../vm.js";

export function uploadIsoStep(o: CommonOptions, index: number, iso: IsoOptions, boot: boolean): Step {
  return {
    name: "upload iso",
    async run(ctx) {
      const client = ctx.state.require(API);
      const ledger = ctx.state.require(ISOS);
      const local = ctx.state.require(SOURCE_FILE);
      ctx.state.delete(SOURCE_FILE);
      const storage = iso.iso_storage_pool;
      const path = storagePath(o.node, storage);
      // Named after the URL and the verified checksum (a file: checksum resolved to its value).
      const sum = local.checksum;
      const name = isoFileName(
        local.url,
        sum.type === "none" ? "none" : `${sum.type}:${sum.value}`,
        iso.iso_target_extension,
      );
      const volid = `${storage}:iso/${name}`;
      ledger.volids[index] = volid;
      const size = (await stat(local.path)).size;
      const existing = await isoVolumeSize(client, path, volid, ctx.signal);
      if (existing !== undefined && existing === size) {
        ctx.ui.say(`${volid} is already on the storage with the same size; not uploading it again.`);
      } else if (existing !== undefined) {
        throw errors.error(
          "KILN_PROXMOX_ISO",
          `${volid} already exists on the storage with another size (${existing} bytes, the ISO has ${size})`,
          "Delete it from the storage, or use it as it is with iso_file.",
        );
      } else {
        ctx.ui.say(`Uploading ${local.path} to ${storage} as ${name}...`);
        ledger.uploaded.push({ volid, deleteOnSuccess: false });
        await client.upload(o.node, storage, "iso", local.path, name, {
          timeoutMs: taskTimeout(o),
          signal: ctx.signal,
          onProgress: (done, total) => ctx.ui.progress("upload", `Uploading ${name}`, done, total),
        });
      }
      ctx.ui.message(`${boot ? "Boot ISO" : "ISO"}: ${volid}`);
    },
  };
}
