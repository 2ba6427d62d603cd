/**
 * The checkpoint cache on disk: `<cache>/checkpoints/` (0700), one folder per key holding the
 * builder's files and `meta.json`. A checkpoint is saved into a hidden `.partial-<pid>-…`
 * folder and renamed into place only when complete, so no reader ever sees half of one; the
 * partial folders of a process that died are removed by the next one that opens the cache.
 *
 * A checkpoint is usable only when its recorded files are there unchanged (size and time) and
 * its parents are the very saves it was taken on (key and id), all the way down.
 */
import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { chmod, mkdir, open, readdir, readFile, rename, rm, stat, utimes, writeFile } from "node:fs/promises";
import { homedir } from "node:os";
import { join } from "node:path";
import { KilnError } from "../../errors.js";
import type { CheckpointInfo } from "./api.js";
import { CACHE_DIR } from "./errors.js";
import type { StepInputs } from "./keys.js";

export const META = "meta.json";
const KEY_RE = /^[0-9a-f]{64}$/;

export interface CheckpointMeta {
  version: 1;
  key: string;
  id: string;
  index: number;
  step: string;
  run: string;
  buildFile: string;
  builder: string;
  plugin: string;
  created: string;
  parent: { key: string; id: string } | null;
  inputs: StepInputs;
  data: Record<string, unknown>;
  files: Array<{ name: string; size: number; mtimeMs: number }>;
  size: number;
  /** The builder keeps part of it outside the folder (its discard hook removes that). */
  external?: boolean;
}

export interface CacheEntry {
  meta: CheckpointMeta;
  dir: string;
  /** Last saved or restored (the folder's time). */
  used: Date;
}

/** kiln's cache folder: $KILN_CACHE_DIR, else $XDG_CACHE_HOME/kiln, else ~/.cache/kiln. */
export function defaultCacheDir(env: Record<string, string | undefined> = process.env): string {
  if (env.KILN_CACHE_DIR) return env.KILN_CACHE_DIR;
  return join(env.XDG_CACHE_HOME || join(homedir(), ".cache"), "kiln");
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}

async function fsyncPath(path: string, dir = false): Promise<void> {
  const fh = await open(path, dir ? "r" : "r+");
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

export class CheckpointStore {
  private constructor(
    /** `<cache>/checkpoints` */
    readonly dir: string,
    /** The cache's own random key (secrets enter checkpoint keys as HMACs under it). */
    readonly salt: Buffer,
  ) {}

  /** Open (and make, 0700) `<cacheDir>/checkpoints`, and remove what dead processes left. */
  static async open(cacheDir: string): Promise<CheckpointStore> {
    const dir = join(cacheDir, "checkpoints");
    try {
      if (!existsSync(cacheDir)) await mkdir(cacheDir, { recursive: true, mode: 0o700 });
      await mkdir(dir, { recursive: true, mode: 0o700 });
      // The folder holds machines' memory and keys: only its owner may read it, whatever the umask.
      if (((await stat(dir)).mode & 0o777) !== 0o700) await chmod(dir, 0o700);
    } catch (cause) {
      throw new KilnError(CACHE_DIR, `cannot use the checkpoint cache ${dir}: ${(cause as Error).message}`, {
        cause,
        hint: "Point kiln elsewhere with --cache-dir (or KILN_CACHE_DIR), or build with --no-cache.",
      });
    }
    const saltFile = join(dir, ".salt");
    let salt: Buffer;
    try {
      salt = await readFile(saltFile);
      if (salt.length < 32) throw new Error("short");
    } catch {
      salt = randomBytes(32);
      const tmp = `${saltFile}.${process.pid}.${randomBytes(4).toString("hex")}`;
      await writeFile(tmp, salt, { mode: 0o600 });
      try {
        // Two processes creating it at once: the first one wins, the other reads it.
        await rename(tmp, saltFile);
        salt = await readFile(saltFile);
      } finally {
        await rm(tmp, { force: true });
      }
    }
    const store = new CheckpointStore(dir, salt);
    await store.sweep();
    return store;
  }

  /** Remove partial, scratch and trash folders whose process has ended. */
  async sweep(): Promise<void> {
    for (const name of await readdir(this.dir).catch(() => [] as string[])) {
      const m = /^\.(partial|scratch|aside|trash)-(\d+)-/.exec(name);
      if (!m) continue;
      if (m[1] !== "trash" && alive(Number(m[2]))) continue;
      await rm(join(this.dir, name), { recursive: true, force: true });
    }
  }

  /**
   * A new hidden folder of this process (`partial` for a checkpoint being saved, `scratch` for
   * a run's working files). Folders of ended processes are removed by `sweep`.
   */
  async temp(kind: "partial" | "scratch"): Promise<string> {
    const d = join(this.dir, `.${kind}-${process.pid}-${randomBytes(6).toString("hex")}`);
    await mkdir(d, { mode: 0o700 });
    return d;
  }

  pathOf(key: string): string {
    return join(this.dir, key);
  }

  private async readMeta(key: string): Promise<CheckpointMeta | string> {
    let meta: CheckpointMeta;
    try {
      meta = JSON.parse(await readFile(join(this.pathOf(key), META), "utf8")) as CheckpointMeta;
    } catch (e) {
      return `its ${META} cannot be read (${(e as Error).message})`;
    }
    if (meta?.version !== 1 || meta.key !== key || typeof meta.id !== "string" || !Array.isArray(meta.files))
      return `its ${META} is not a kiln checkpoint's`;
    return meta;
  }

  /**
   * The checkpoint of `key` and its parents, checked: undefined when there is none, a reason
   * when there is one that cannot be used.
   */
  async find(key: string): Promise<CheckpointInfo | string | undefined> {
    if (!existsSync(this.pathOf(key))) return undefined;
    let info: CheckpointInfo | undefined;
    let child: CheckpointInfo | undefined;
    let want: { key: string; id?: string } | null = { key };
    for (let depth = 0; want; depth++) {
      const meta = await this.readMeta(want.key);
      const which = depth === 0 ? "" : ` (its checkpoint ${depth} step${depth > 1 ? "s" : ""} before)`;
      if (typeof meta === "string") return `${meta}${which}`;
      if (want.id !== undefined && meta.id !== want.id)
        return `the checkpoint it was taken on top of was replaced${which}`;
      const dir = this.pathOf(meta.key);
      for (const f of meta.files) {
        const st = await stat(join(dir, f.name)).catch(() => undefined);
        if (!st) return `${f.name} is missing${which}`;
        if (st.size !== f.size || Math.round(st.mtimeMs) !== Math.round(f.mtimeMs))
          return `${f.name} was changed after it was saved${which}`;
      }
      const node: CheckpointInfo = {
        key: meta.key,
        id: meta.id,
        index: meta.index,
        step: meta.step,
        dir,
        data: meta.data ?? {},
        created: meta.created,
      };
      if (child) child.parent = node;
      else info = node;
      child = node;
      want = meta.parent;
      if (depth > 10_000) return "its chain of parents does not end";
    }
    return info;
  }

  /** Mark a checkpoint and its parents used now (for prune --keep-size). */
  async touch(point: CheckpointInfo): Promise<void> {
    const now = new Date();
    for (let p: CheckpointInfo | undefined = point; p; p = p.parent)
      await utimes(p.dir, now, now).catch(() => {});
  }

  /**
   * Publish a saved checkpoint: record its files, flush them to disk, write meta.json, and
   * rename the partial folder into place, replacing an unusable checkpoint of the same key.
   * A usable one (another build saved the same key meanwhile) is kept: then this save is not
   * published (`published: false`) and its folder stays aside, hidden, for the rest of the run
   * (its files may still be part of the run's disk chain), to be removed with `discardAside`.
   */
  async publish(
    partial: string,
    meta: Omit<CheckpointMeta, "files" | "size">,
    /** Replace a checkpoint of this key even when it looks usable (this run found it was not). */
    replace = false,
  ): Promise<CacheEntry & { published: boolean }> {
    const files: CheckpointMeta["files"] = [];
    for (const name of (await readdir(partial)).sort()) {
      const p = join(partial, name);
      const st = await stat(p);
      if (!st.isFile()) continue;
      await fsyncPath(p);
      files.push({ name, size: st.size, mtimeMs: st.mtimeMs });
    }
    const full: CheckpointMeta = { ...meta, files, size: files.reduce((n, f) => n + f.size, 0) };
    const tmp = join(partial, `${META}.tmp`);
    await writeFile(tmp, `${JSON.stringify(full, null, 2)}\n`, { mode: 0o600 });
    await fsyncPath(tmp);
    await rename(tmp, join(partial, META));
    await fsyncPath(partial, true);
    const final = this.pathOf(meta.key);
    try {
      await rename(partial, final);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code !== "ENOTEMPTY" && code !== "EEXIST") throw e;
      if (!replace && typeof (await this.find(meta.key)) === "object") {
        const aside = join(this.dir, `.aside-${process.pid}-${randomBytes(6).toString("hex")}`);
        await rename(partial, aside);
        return { meta: full, dir: aside, used: new Date(), published: false };
      }
      // An older save of this key that cannot be used: set it aside and take its place.
      const trash = join(this.dir, `.trash-${process.pid}-${randomBytes(6).toString("hex")}`);
      await rename(final, trash);
      await rename(partial, final);
      await rm(trash, { recursive: true, force: true });
    }
    await fsyncPath(this.dir, true);
    return { meta: full, dir: final, used: new Date(), published: true };
  }

  /** Every checkpoint in the cache (unreadable folders are left out). */
  async list(): Promise<CacheEntry[]> {
    const out: CacheEntry[] = [];
    for (const name of await readdir(this.dir).catch(() => [] as string[])) {
      if (!KEY_RE.test(name)) continue;
      const meta = await this.readMeta(name);
      if (typeof meta === "string") continue;
      const st = await stat(this.pathOf(name)).catch(() => undefined);
      out.push({ meta, dir: this.pathOf(name), used: st?.mtime ?? new Date(0) });
    }
    return out.sort((a, b) => b.used.getTime() - a.used.getTime());
  }

  /** Remove one checkpoint's folder. */
  async remove(key: string): Promise<void> {
    await rm(this.pathOf(key), { recursive: true, force: true });
  }
}

/** Every key whose chain of parents (by key and id) reaches one of `roots`, roots included. */
export function descendants(entries: CacheEntry[], roots: Set<string>): Set<string> {
  const byKey = new Map(entries.map((e) => [e.meta.key, e]));
  const out = new Set<string>();
  for (const e of entries) {
    const chain: string[] = [];
    let cur: CacheEntry | undefined = e;
    let hit = false;
    for (let depth = 0; cur && depth < 10_000; depth++) {
      chain.push(cur.meta.key);
      if (roots.has(cur.meta.key) || out.has(cur.meta.key)) {
        hit = true;
        break;
      }
      const p: CheckpointMeta["parent"] = cur.meta.parent;
      const parent: CacheEntry | undefined = p ? byKey.get(p.key) : undefined;
      cur = parent && p && parent.meta.id === p.id ? parent : undefined;
    }
    if (hit) for (const k of chain) out.add(k);
  }
  return out;
}

/** Keys of checkpoints whose parent is gone or was replaced: they can never be restored. */
export function orphans(entries: CacheEntry[]): Set<string> {
  const byKey = new Map(entries.map((e) => [e.meta.key, e]));
  const broken = new Set<string>();
  for (const e of entries) {
    const p = e.meta.parent;
    if (p && byKey.get(p.key)?.meta.id !== p.id) broken.add(e.meta.key);
  }
  return descendants(entries, broken);
}
