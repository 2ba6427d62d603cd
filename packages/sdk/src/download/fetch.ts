/**
 * `fetchArtifact`: get an ISO (or disk image) named by `iso_url`/`iso_urls` and `iso_checksum`, the
 * way Packer's download step does: try each URL in order, verify the checksum, keep downloads in a
 * cache keyed by URL and checksum, and use local files where they are.
 *
 * Cache layout (`<cacheDir>`, default `$KILN_CACHE_DIR/downloads` or `~/.cache/kiln/downloads`):
 *   <key>.<ext>            a verified download, key = sha256(url + "sha256:<hex>" | "none")
 *   <key>.partial          a download in progress, hashed while it streams, renamed when verified
 *   <key>.lock             held while one process downloads; others wait for it, then use the cache
 *   .checksums/<id>.json   digests of verified files (downloads and local files) with the size,
 *                          mtime and inode they had; a file whose stat still matches is not re-hashed
 */
import { createHash } from "node:crypto";
import type { Stats } from "node:fs";
import { mkdir, open, readFile, rename, stat, unlink, writeFile } from "node:fs/promises";
import { homedir } from "node:os";
import { basename, dirname, join, posix, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { type Diagnostic, KilnError } from "@kiln/core";
import {
  type Checksum,
  checksumOf,
  createHasher,
  findSumsEntry,
  formatChecksum,
  type HashType,
  hashFile,
  parseChecksum,
  parseSumsFile,
} from "./checksum.js";
import { bodyFailure, DEFAULT_IDLE_TIMEOUT_MS, FetchFailure, httpGet, httpGetText } from "./http.js";
import { acquireLock } from "./lock.js";

export interface FetchArtifactOptions {
  /** `iso_url`, or `iso_urls` in order: http(s)://, file:// or a local path (relative to `baseDir`). */
  urls: string[];
  /** `iso_checksum`: `sha256:<hex>`, a bare hex value, `file:<url or path>`, or `none`. */
  checksum: string;
  /** The build file's directory: relative paths (URLs, `file:` checksum files, targetPath) start here. */
  baseDir: string;
  /** Download cache. Default `$KILN_CACHE_DIR/downloads`, else `$XDG_CACHE_HOME/kiln/downloads` or `~/.cache/kiln/downloads`. */
  cacheDir?: string;
  /** `iso_target_path`: store the download here instead of the cache (relative to `baseDir`). */
  targetPath?: string;
  /** `iso_target_extension` of the cached file; default `iso`. */
  extension?: string;
  /** Ignore what is cached (downloads and remembered digests) and fetch/verify again. */
  skipCache?: boolean;
  signal?: AbortSignal;
  /** Progress of a download or of hashing a file; `total` from Content-Length when known. */
  onProgress?(done: number, total: number | undefined, label: string): void;
  /** Warnings such as `iso_checksum: none`. They are also returned in the result. */
  onWarning?(message: string): void;
  /** A download (or checksum-file fetch) fails when no byte arrives for this long. Default 60 s. */
  idleTimeoutMs?: number;
  /** A lock not refreshed for this long belongs to a dead process. Default 30 s. */
  lockStaleMs?: number;
}

export interface FetchArtifactResult {
  /** Where the artifact is: in the cache, at targetPath, or the local file itself. */
  path: string;
  /** True when an earlier download was reused without fetching anything. */
  fromCache: boolean;
  /** The checksum the file was verified against (`type: "none"` when not verified). */
  checksum: Checksum;
  /** The URL (or local path) that worked. */
  url: string;
  /** True for file:// URLs and local paths (used in place, never copied). */
  local: boolean;
  warnings: string[];
}

/** Mirrors core's cacheDir(): `$KILN_CACHE_DIR`, else `$XDG_CACHE_HOME/kiln`, else `~/.cache/kiln`; plus `downloads`. */
export function defaultDownloadCacheDir(): string {
  const env = process.env;
  const root = env.KILN_CACHE_DIR
    ? env.KILN_CACHE_DIR
    : join(env.XDG_CACHE_HOME || join(homedir(), ".cache"), "kiln");
  return join(root, "downloads");
}

/** The cache file name stem of a URL and checksum: sha256 of `url + "sha256:<hex>"` (or `url + "none"`). */
export function cacheKey(url: string, checksum: Checksum): string {
  return createHash("sha256")
    .update(url + formatChecksum(checksum))
    .digest("hex");
}

type Location = { kind: "remote"; url: URL; shown: string } | { kind: "local"; path: string; shown: string };

const SCHEME = /^([a-zA-Z][a-zA-Z0-9+.-]*):\/\//;

function fileUrlPath(spec: string, baseDir: string): string {
  // go-getter style `file://./x` and `file://../x` are relative to the base directory.
  const rest = spec.slice("file://".length);
  if (rest.startsWith("./") || rest.startsWith("../") || rest === "." || rest === "..")
    return resolve(baseDir, decodeURIComponent(rest));
  return fileURLToPath(spec);
}

function locate(spec: string, baseDir: string): Location {
  const s = spec.trim();
  const m = SCHEME.exec(s);
  if (!m) return { kind: "local", path: resolve(baseDir, s), shown: s };
  const scheme = (m[1] as string).toLowerCase();
  if (scheme === "http" || scheme === "https") return { kind: "remote", url: new URL(s), shown: s };
  if (scheme === "file") return { kind: "local", path: fileUrlPath(s, baseDir), shown: s };
  throw new FetchFailure(
    "KILN_DOWNLOAD_UNSUPPORTED",
    `unsupported URL scheme "${scheme}:" (use http://, https://, file:// or a path)`,
  );
}

function nameOf(loc: Location): string {
  if (loc.kind === "local") return basename(loc.path);
  const segs = loc.url.pathname.split("/");
  return decodeURIComponent(segs[segs.length - 1] || loc.url.hostname);
}

function abortReason(signal: AbortSignal | undefined): unknown {
  const r = signal?.reason;
  return r instanceof Error ? r : new KilnError("KILN_DOWNLOAD_ABORTED", "download cancelled");
}

function isAbort(err: unknown, signal: AbortSignal | undefined): boolean {
  return signal?.aborted === true || (err as Error)?.name === "AbortError";
}

// ---------------------------------------------------------------------------------------------
// Remembered digests

interface DigestMemo {
  path: string;
  size: number;
  mtimeMs: number;
  ino: number;
  digests: Partial<Record<HashType, string>>;
}

class DigestStore {
  constructor(
    private readonly dir: string,
    private readonly enabled: boolean,
  ) {}

  private file(path: string): string {
    return join(
      this.dir,
      ".checksums",
      `${createHash("sha256").update(path).digest("hex").slice(0, 40)}.json`,
    );
  }

  async get(path: string, type: HashType): Promise<string | undefined> {
    if (!this.enabled) return undefined;
    try {
      const memo = JSON.parse(await readFile(this.file(path), "utf8")) as DigestMemo;
      const st = await stat(path);
      if (memo.path !== path || memo.size !== st.size || memo.mtimeMs !== st.mtimeMs || memo.ino !== st.ino)
        return undefined;
      return memo.digests[type];
    } catch {
      return undefined;
    }
  }

  async put(path: string, type: HashType, value: string): Promise<void> {
    try {
      const st = await stat(path);
      const file = this.file(path);
      let digests: DigestMemo["digests"] = {};
      try {
        const old = JSON.parse(await readFile(file, "utf8")) as DigestMemo;
        if (old.path === path && old.size === st.size && old.mtimeMs === st.mtimeMs && old.ino === st.ino)
          digests = old.digests;
      } catch {
        // none yet
      }
      digests[type] = value;
      const memo: DigestMemo = { path, size: st.size, mtimeMs: st.mtimeMs, ino: st.ino, digests };
      await mkdir(dirname(file), { recursive: true });
      const tmp = `${file}.${process.pid}.${Math.random().toString(36).slice(2)}`;
      await writeFile(tmp, JSON.stringify(memo));
      await rename(tmp, file);
    } catch {
      // The memo is an optimisation; failing to write it only costs a re-hash later.
    }
  }
}

// ---------------------------------------------------------------------------------------------

interface Ctx {
  opts: FetchArtifactOptions;
  checksum: Checksum;
  memo: DigestStore;
  idleMs: number;
}

function mismatch(what: string, checksum: Checksum & { type: HashType }, actual: string): FetchFailure {
  return new FetchFailure(
    "KILN_CHECKSUM_MISMATCH",
    `checksum mismatch for ${what}: expected ${checksum.type}:${checksum.value}, got ${checksum.type}:${actual}`,
  );
}

/** Hash a local file (or reuse a remembered digest) and compare. Returns true when it matches. */
async function verifyFile(ctx: Ctx, path: string, label: string): Promise<{ ok: boolean; actual: string }> {
  const { checksum } = ctx;
  if (checksum.type === "none") return { ok: true, actual: "" };
  let actual = await ctx.memo.get(path, checksum.type);
  if (actual === undefined) {
    const st = await stat(path);
    let done = 0;
    const progress = throttle(ctx.opts.onProgress);
    progress(0, st.size, label, true);
    actual = await hashFile(path, checksum.type, {
      ...(ctx.opts.signal ? { signal: ctx.opts.signal } : {}),
      onChunk: (n) => {
        done += n;
        progress(done, st.size, label);
      },
    });
    progress(done, st.size, label, true);
    await ctx.memo.put(path, checksum.type, actual);
  }
  return { ok: actual === checksum.value, actual };
}

function throttle(fn: FetchArtifactOptions["onProgress"]) {
  let last = 0;
  return (done: number, total: number | undefined, label: string, force = false) => {
    if (!fn) return;
    const now = Date.now();
    if (!force && now - last < 100) return;
    last = now;
    fn(done, total, label);
  };
}

async function exists(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isFile();
  } catch {
    return false;
  }
}

/** A cached file is usable when it exists and matches the checksum (remembered or re-hashed). */
async function cachedOk(ctx: Ctx, path: string, name: string): Promise<boolean> {
  if (ctx.opts.skipCache || !(await exists(path))) return false;
  if (ctx.checksum.type === "none") return true; // only complete downloads ever get the final name
  return (await verifyFile(ctx, path, `verifying cached ${name}`)).ok;
}

async function useLocal(ctx: Ctx, loc: Location & { kind: "local" }): Promise<FetchArtifactResult> {
  let st: Stats;
  try {
    st = await stat(loc.path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new FetchFailure(
      "KILN_DOWNLOAD_NOT_FOUND",
      code === "ENOENT" ? `no such file: ${loc.path}` : `cannot read ${loc.path}: ${(err as Error).message}`,
    );
  }
  if (!st.isFile()) throw new FetchFailure("KILN_DOWNLOAD_FAILED", `${loc.path} is not a file`);
  const { ok, actual } = await verifyFile(ctx, loc.path, `verifying ${basename(loc.path)}`);
  if (!ok) throw mismatch(loc.path, ctx.checksum as Checksum & { type: HashType }, actual);
  return {
    path: loc.path,
    fromCache: false,
    checksum: ctx.checksum,
    url: loc.shown,
    local: true,
    warnings: [],
  };
}

function destFor(
  ctx: Ctx,
  loc: Location & { kind: "remote" },
  cacheDir: string,
): { dest: string; partial: string; lock: string } {
  if (ctx.opts.targetPath) {
    const dest = resolve(ctx.opts.baseDir, ctx.opts.targetPath);
    return { dest, partial: `${dest}.partial`, lock: `${dest}.lock` };
  }
  const key = cacheKey(loc.shown, ctx.checksum);
  const ext = (ctx.opts.extension ?? "iso").replace(/^\./, "").toLowerCase();
  return {
    dest: join(cacheDir, ext ? `${key}.${ext}` : key),
    partial: join(cacheDir, `${key}.partial`),
    lock: join(cacheDir, `${key}.lock`),
  };
}

async function download(
  ctx: Ctx,
  loc: Location & { kind: "remote" },
  { dest, partial, lock }: { dest: string; partial: string; lock: string },
): Promise<FetchArtifactResult> {
  const { opts, checksum } = ctx;
  const name = nameOf(loc);
  await mkdir(dirname(dest), { recursive: true });
  const release = await acquireLock(lock, {
    ...(opts.signal ? { signal: opts.signal } : {}),
    ...(opts.lockStaleMs !== undefined ? { staleMs: opts.lockStaleMs } : {}),
    onWait: async () => {
      if (!opts.onProgress) return;
      const size = await stat(partial).then(
        (s) => s.size,
        () => 0,
      );
      opts.onProgress(size, undefined, `waiting for another download of ${name}`);
    },
  });
  let fh: Awaited<ReturnType<typeof open>> | undefined;
  try {
    // Another process may have finished it while we waited.
    if (await cachedOk(ctx, dest, name)) {
      return { path: dest, fromCache: true, checksum, url: loc.shown, local: false, warnings: [] };
    }
    const got = await httpGet(loc.url, {
      ...(opts.signal ? { signal: opts.signal } : {}),
      idleTimeoutMs: ctx.idleMs,
    });
    const label = `downloading ${name}`;
    const progress = throttle(opts.onProgress);
    const hasher = checksum.type === "none" ? undefined : createHasher(checksum.type);
    let done = 0;
    try {
      fh = await open(partial, "w");
      progress(0, got.total, label, true);
      try {
        for await (const chunk of got.res) {
          const buf = chunk as Buffer;
          hasher?.update(buf);
          await fh.write(buf);
          done += buf.length;
          progress(done, got.total, label);
        }
      } catch (err) {
        got.res.destroy();
        if (isAbort(err, opts.signal)) throw abortReason(opts.signal);
        throw bodyFailure(err, got, ctx.idleMs);
      }
      if (opts.signal?.aborted) throw abortReason(opts.signal);
      if (got.total !== undefined && done !== got.total) {
        throw new FetchFailure(
          "KILN_DOWNLOAD_FAILED",
          `connection closed after ${done} of ${got.total} bytes`,
        );
      }
      await fh.sync();
      await fh.close();
      fh = undefined;
      progress(done, got.total ?? done, label, true);
      const actual = hasher?.digest("hex");
      if (checksum.type !== "none" && actual !== checksum.value) {
        throw mismatch(loc.shown, checksum, actual ?? "");
      }
      await rename(partial, dest);
      if (checksum.type !== "none" && actual) await ctx.memo.put(dest, checksum.type, actual);
      return { path: dest, fromCache: false, checksum, url: loc.shown, local: false, warnings: [] };
    } catch (err) {
      await fh?.close().catch(() => undefined);
      fh = undefined;
      await unlink(partial).catch(() => undefined);
      throw err;
    }
  } finally {
    await release();
  }
}

// ---------------------------------------------------------------------------------------------
// Checksum files

async function readSumsFile(
  source: string,
  opts: FetchArtifactOptions,
  idleMs: number,
): Promise<{ text: string; where: Location }> {
  const where = locate(source, opts.baseDir);
  try {
    if (where.kind === "remote") {
      return {
        text: await httpGetText(where.url, {
          ...(opts.signal ? { signal: opts.signal } : {}),
          idleTimeoutMs: idleMs,
        }),
        where,
      };
    }
    const st = await stat(where.path);
    if (st.size > 16 << 20) throw new Error(`${st.size} bytes is too large for a checksum file`);
    return { text: await readFile(where.path, "utf8"), where };
  } catch (err) {
    if (isAbort(err, opts.signal)) throw abortReason(opts.signal);
    const why =
      err instanceof FetchFailure
        ? err.message
        : (err as NodeJS.ErrnoException).code === "ENOENT"
          ? "no such file"
          : (err as Error).message;
    throw new KilnError("KILN_CHECKSUM_FILE", `cannot read the checksum file ${source}: ${why}`, {
      cause: err,
      hint: "Check the file: URL or path in iso_checksum.",
    });
  }
}

/** Names an entry for `artifact` may have in a checksum file at `sums`. */
function candidateNames(artifact: Location, sums: Location): string[] {
  const names = [nameOf(artifact)];
  if (artifact.kind === "remote" && sums.kind === "remote" && artifact.url.origin === sums.url.origin) {
    const rel = posix.relative(
      posix.dirname(decodeURIComponent(sums.url.pathname)),
      decodeURIComponent(artifact.url.pathname),
    );
    if (!rel.startsWith("../")) names.push(rel);
  }
  if (artifact.kind === "local") {
    names.push(artifact.path);
    if (sums.kind === "local") names.push(relative(dirname(sums.path), artifact.path).split("\\").join("/"));
  }
  return names;
}

/** Resolve `iso_checksum` to a digest, fetching and searching a checksum file for `file:`. */
export async function resolveChecksum(
  spec: string,
  opts: Pick<FetchArtifactOptions, "urls" | "baseDir" | "signal" | "idleTimeoutMs">,
): Promise<Checksum> {
  const parsed = parseChecksum(spec);
  if (parsed.type !== "file") return parsed;
  const idleMs = opts.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS;
  const { text, where } = await readSumsFile(parsed.source, opts as FetchArtifactOptions, idleMs);
  const entries = parseSumsFile(text);
  if (entries.length === 0) {
    throw new KilnError("KILN_CHECKSUM_FILE", `the checksum file ${parsed.source} holds no checksums`, {
      hint: "iso_checksum file: needs a file of `<hex>  <name>` or `SHA256 (<name>) = <hex>` lines.",
    });
  }
  const tried: string[] = [];
  for (const url of opts.urls) {
    let loc: Location;
    try {
      loc = locate(url, opts.baseDir);
    } catch {
      continue;
    }
    const names = candidateNames(loc, where);
    tried.push(...names);
    const entry = findSumsEntry(entries, names);
    if (entry) return checksumOf(entry.type, entry.value, `${parsed.source}:${entry.line}`);
  }
  const unique = [...new Set(tried)];
  throw new KilnError(
    "KILN_CHECKSUM_NOT_FOUND",
    `the checksum file ${parsed.source} has no entry for ${unique.map((n) => JSON.stringify(n)).join(" or ")} (it lists ${entries.length} file${entries.length === 1 ? "" : "s"})`,
    {
      hint: "Check that iso_url names the file the checksum file lists, or give the checksum itself (sha256:<hex>).",
    },
  );
}

// ---------------------------------------------------------------------------------------------

/**
 * Fetch (or find in the cache, or use in place) the artifact named by `urls`, verified against
 * `checksum`. Tries the URLs in order; when none works, throws a KilnError listing every URL with
 * why it failed (`KILN_CHECKSUM_MISMATCH` when they all had the wrong checksum, else
 * `KILN_DOWNLOAD_FAILED`, `KILN_DOWNLOAD_NOT_FOUND` or `KILN_DOWNLOAD_TIMEOUT`). An abort rejects
 * with the signal's reason and leaves no partial file.
 */
export async function fetchArtifact(opts: FetchArtifactOptions): Promise<FetchArtifactResult> {
  if (opts.urls.length === 0) {
    throw new KilnError("KILN_DOWNLOAD_FAILED", "no URL to fetch", { hint: "Set iso_url (or iso_urls)." });
  }
  opts.signal?.throwIfAborted();
  const warnings: string[] = [];
  const warn = (m: string) => {
    warnings.push(m);
    opts.onWarning?.(m);
  };
  const idleMs = opts.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS;
  const checksum = await resolveChecksum(opts.checksum, { ...opts, idleTimeoutMs: idleMs });
  if (checksum.type === "none") {
    warn(
      'iso_checksum is "none": the file will not be verified. Since ISO files are large, a checksum is highly recommended.',
    );
  }
  const cacheDir = opts.cacheDir ? resolve(opts.baseDir, opts.cacheDir) : defaultDownloadCacheDir();
  const ctx: Ctx = { opts, checksum, memo: new DigestStore(cacheDir, !opts.skipCache), idleMs };
  const done = (r: FetchArtifactResult): FetchArtifactResult => ({ ...r, warnings });

  const failures: { url: string; err: FetchFailure | KilnError }[] = [];
  const locations: (Location | FetchFailure)[] = opts.urls.map((url) => {
    try {
      return locate(url, opts.baseDir);
    } catch (err) {
      return err instanceof FetchFailure
        ? err
        : new FetchFailure("KILN_DOWNLOAD_UNSUPPORTED", `not a valid URL: ${(err as Error).message}`);
    }
  });

  // A download cached from any of the URLs is used before going to the network.
  if (!opts.skipCache) {
    for (const loc of locations) {
      if (loc instanceof FetchFailure || loc.kind !== "remote") continue;
      const { dest } = destFor(ctx, loc, cacheDir);
      try {
        if (await cachedOk(ctx, dest, nameOf(loc))) {
          return done({ path: dest, fromCache: true, checksum, url: loc.shown, local: false, warnings });
        }
      } catch (err) {
        if (isAbort(err, opts.signal)) throw abortReason(opts.signal);
      }
    }
  }

  for (const [i, loc] of locations.entries()) {
    if (loc instanceof FetchFailure) {
      failures.push({ url: opts.urls[i] as string, err: loc });
      continue;
    }
    try {
      if (loc.kind === "local") return done(await useLocal(ctx, loc));
      return done(await download(ctx, loc, destFor(ctx, loc, cacheDir)));
    } catch (err) {
      if (isAbort(err, opts.signal)) throw abortReason(opts.signal);
      if (err instanceof FetchFailure || (err as KilnError)?.isKilnError)
        failures.push({ url: loc.shown, err: err as FetchFailure });
      else
        failures.push({
          url: loc.shown,
          err: new FetchFailure("KILN_DOWNLOAD_FAILED", (err as Error)?.message ?? String(err), {
            cause: err,
          }),
        });
    }
  }
  throw allFailed(failures, opts.urls);
}

function allFailed(failures: { url: string; err: FetchFailure | KilnError }[], urls: string[]): KilnError {
  const codes = new Set(failures.map((f) => f.err.code));
  const code = codes.size === 1 ? ([...codes][0] as string) : "KILN_DOWNLOAD_FAILED";
  const diagnostics: Diagnostic[] = failures.map((f) => ({
    code: f.err.code,
    severity: "error",
    message: `${f.url}: ${f.err.message}`,
  }));
  const hint =
    code === "KILN_CHECKSUM_MISMATCH"
      ? "The file is corrupt or iso_checksum is for a different file; check both (the partial download was removed)."
      : code === "KILN_DOWNLOAD_TIMEOUT"
        ? "The server stopped sending data; try again, use another mirror, or raise the idle timeout."
        : "Check the URLs (iso_url / iso_urls) and your network connection.";
  let message: string;
  if (failures.length === 1) {
    const f = failures[0] as (typeof failures)[number];
    message =
      code === "KILN_CHECKSUM_MISMATCH"
        ? f.err.message.replace(/^checksum/, "Checksum")
        : `Could not fetch ${f.url}: ${f.err.message}`;
  } else {
    message = `Could not fetch the file from any of ${urls.length} URLs:\n${failures.map((f) => `  - ${f.url}: ${f.err.message}`).join("\n")}`;
  }
  return new KilnError(code, message, {
    hint,
    diagnostics,
    cause: failures.length === 1 ? failures[0]?.err : new AggregateError(failures.map((f) => f.err)),
  });
}
