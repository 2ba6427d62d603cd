/**
 * iso_download_pve: the Proxmox host downloads the ISO itself (download-url), checking the
 * checksum kiln resolved; each URL in turn, and not at all when the volume is there already.
 */
import { messageOf, type Step } from "@kiln/core";
import { downloadUrls, resolveChecksum } from "@kiln/sdk";
import { errors } from "../errors.js";
import { isoFileName } from "../params.js";
import type { CommonOptions, IsoOptions } from "../schema.js";
import { API, ISOS } from "../state.js";
import { isoVolumeSize, storagePath, taskTimeout } from "../vm.js";

const CHECKSUM_ALGOS = new Set(["md5", "sha1", "sha224", "sha256", "sha384", "sha512"]);

export function pveDownloadStep(o: CommonOptions, index: number, iso: IsoOptions, boot: boolean): Step {
  return {
    name: "proxmox download",
    async run(ctx) {
      const client = ctx.state.require(API);
      const ledger = ctx.state.require(ISOS);
      const storage = iso.iso_storage_pool;
      const path = storagePath(o.node, storage);
      const urls = downloadUrls(iso);
      // Resolve a file: checksum here, so Proxmox checks the download and the name carries it.
      const sum = await resolveChecksum(iso.iso_checksum ?? "none", {
        urls,
        baseDir: ctx.baseDir,
        signal: ctx.signal,
      });
      const hash = sum.type === "none" ? "none" : `${sum.type}:${sum.value}`;
      const failures: string[] = [];
      for (const url of urls) {
        const name = isoFileName(url, hash, iso.iso_target_extension);
        const volid = `${storage}:iso/${name}`;
        if ((await isoVolumeSize(client, path, volid, ctx.signal)) !== undefined) {
          ctx.ui.say(`${volid} is already on the storage; not downloading it again.`);
          return found(volid);
        }
        ctx.ui.say(`Asking Proxmox to download ${url} into ${storage}...`);
        if (sum.type === "none") ctx.ui.message("iso_checksum is none: Proxmox will not check the download.");
        const entry = { volid, deleteOnSuccess: false };
        ledger.uploaded.push(entry);
        try {
          const upid = await client.post<string>(
            `${path}/download-url`,
            {
              content: "iso",
              filename: name,
              url,
              ...(sum.type !== "none" && CHECKSUM_ALGOS.has(sum.type)
                ? { checksum: sum.value.toLowerCase(), "checksum-algorithm": sum.type }
                : {}),
            },
            ctx.signal,
          );
          await client.waitTask(o.node, upid, {
            timeoutMs: Math.max(taskTimeout(o), 30 * 60_000),
            signal: ctx.signal,
            what: `downloading ${url} on the Proxmox host`,
          });
          return found(volid);
        } catch (e) {
          if (ctx.signal.aborted) throw e;
          ledger.uploaded = ledger.uploaded.filter((u) => u !== entry); // a failed task leaves no volume
          failures.push(`${url}: ${messageOf(e).replace(/^\[proxmox\] /, "")}`);
        }
      }
      throw errors.error(
        "KILN_PROXMOX_ISO",
        `the Proxmox host could not download the ISO from any URL:\n  ${failures.join("\n  ")}`,
        "Check that the Proxmox host (not this machine) can reach the URL, or let kiln download and upload it: remove iso_download_pve.",
      );

      function found(volid: string): void {
        ledger.volids[index] = volid;
        ctx.ui.message(`${boot ? "Boot ISO" : "ISO"}: ${volid}`);
      }
    },
  };
}
