/**
 * Upload the ISO that cdStep made from cd_files / cd_content (CD_IMAGE) under a name of its
 * own. It is deleted after the build — on success too, once unmount has detached it.
 */
import { randomBytes } from "node:crypto";
import type { Step } from "@kiln/core";
import { CD_IMAGE } from "@kiln/sdk";
import type { CommonOptions, IsoOptions } from "../schema.js";
import { API, ISOS } from "../state.js";
import { taskTimeout } from "../vm.js";

export function uploadCdStep(o: CommonOptions, index: number, iso: IsoOptions, boot: boolean): Step {
  return {
    name: "upload cd",
    async run(ctx) {
      const client = ctx.state.require(API);
      const ledger = ctx.state.require(ISOS);
      const cd = ctx.state.require(CD_IMAGE);
      ctx.state.delete(CD_IMAGE);
      const storage = iso.iso_storage_pool;
      const name = `kiln-${ctx.run.source.replace(/[^A-Za-z0-9_-]+/g, "_")}-${randomBytes(4).toString("hex")}.iso`;
      const volid = `${storage}:iso/${name}`;
      ledger.volids[index] = volid;
      // A generated ISO still attached to the template must stay on the storage.
      ledger.uploaded.push({ volid, deleteOnSuccess: iso.unmount });
      ctx.ui.message(`Uploading the CD to ${storage} as ${name}`);
      await client.upload(o.node, storage, "iso", cd.path, name, {
        timeoutMs: taskTimeout(o),
        signal: ctx.signal,
        onProgress: (done, total) => ctx.ui.progress(`upload-${name}`, `Uploading ${name}`, done, total),
      });
      ctx.ui.message(`${boot ? "Boot ISO" : "ISO"}: ${volid}`);
    },
  };
}
