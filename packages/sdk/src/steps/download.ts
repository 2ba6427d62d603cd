/**
 * The download step: fetch an ISO or disk image (iso_url / iso_urls, tried in order) into kiln's
 * cache or iso_target_path, verify iso_checksum, and leave the local path under SOURCE_FILE.
 */
import { extname } from "node:path";
import type { Step } from "@kiln/core";
import { fetchArtifact } from "../download/fetch.js";
import { SOURCE_FILE } from "../state.js";

export interface DownloadOptions {
  iso_url?: string;
  iso_urls?: string[];
  iso_checksum?: string;
  iso_target_path?: string;
  iso_skip_cache?: boolean;
}

export interface DownloadStepOptions {
  /** What is fetched, for messages: "the ISO", "the disk image". Default "the ISO". */
  what?: string;
  /** The file extension in the cache. Default "iso". */
  extension?: string;
  /** Take the extension from the URL instead (a disk image: .qcow2, .img …). */
  extensionFromUrl?: boolean;
}

/** The URLs to try, in order. */
export function downloadUrls(o: DownloadOptions): string[] {
  return o.iso_urls?.length ? o.iso_urls : o.iso_url ? [o.iso_url] : [];
}

export function downloadStep(o: DownloadOptions, how: DownloadStepOptions = {}): Step {
  return {
    name: "download",
    async run(ctx) {
      const urls = downloadUrls(o);
      const ext = how.extensionFromUrl
        ? extname(new URL(urls[0] as string, "file:///").pathname).slice(1) || "img"
        : (how.extension ?? "iso");
      ctx.ui.say(`Retrieving ${how.what ?? "the ISO"}: ${urls.join(", ")}`);
      const r = await fetchArtifact({
        urls,
        checksum: o.iso_checksum ?? "none",
        baseDir: ctx.baseDir,
        ...(o.iso_target_path ? { targetPath: o.iso_target_path } : {}),
        extension: ext,
        ...(o.iso_skip_cache ? { skipCache: true } : {}),
        signal: ctx.signal,
        onProgress: (done, total, label) => ctx.ui.progress("download", label, done, total),
        onWarning: (m) => ctx.ui.message(m),
      });
      ctx.state.put(SOURCE_FILE, { path: r.path, fromCache: r.fromCache, url: r.url, checksum: r.checksum });
      ctx.ui.message(`Using ${r.path}${r.fromCache ? " (cached)" : ""}`);
    },
  };
}
