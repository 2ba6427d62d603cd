/**
 * Hashing what a checkpoint key is made of: option values (canonical JSON, secrets only as
 * keyed hashes, build-time expressions by their text and the values they read) and the
 * content of local files and folders.
 */
import { createHash, createHmac } from "node:crypto";
import { createReadStream } from "node:fs";
import { lstat, readdir, readlink, stat } from "node:fs/promises";
import { join } from "node:path";
import { isDeferred } from "../../expr/deferred.js";

/** What hashing a value needs to know about the run. */
export interface ValueScope {
  /** True when the string holds a registered secret. */
  isSecret(text: string): boolean;
  /** The cache's own random key: secrets enter keys as HMACs under it, never plainly. */
  salt: Buffer;
  variables: Record<string, unknown>;
  locals: Record<string, unknown>;
  env: Record<string, string | undefined>;
  cwd: string;
}

export interface Canonical {
  value: unknown;
  /** Set when the value can differ from run to run (uuid(), build.PackerRunUUID …): why. */
  volatile?: string;
}

export const sha256 = (text: string | Buffer): string => createHash("sha256").update(text).digest("hex");

/** JSON with sorted keys: the same data always gives the same text. */
export function stableJson(v: unknown): string {
  if (v === null || typeof v !== "object") return JSON.stringify(v) ?? "null";
  if (Array.isArray(v)) return `[${v.map(stableJson).join(",")}]`;
  const keys = Object.keys(v).sort();
  return `{${keys.map((k) => `${JSON.stringify(k)}:${stableJson((v as Record<string, unknown>)[k])}`).join(",")}}`;
}

export const digest = (v: unknown): string => sha256(stableJson(v));

/** Functions whose result at build time is not a function of the expression's text. */
const VOLATILE_CALLS = new Set(["uuid", "timestamp", "file", "templatefile"]);
/** build.* values that are new in every run, whatever the machine. */
const VOLATILE_BUILD = new Set(["PackerRunUUID"]);
/** Roots whose values a key can take in (var, local, env, path) or that the machine fixes. */
const KNOWN_ROOTS = new Set(["var", "local", "env", "path", "source", "build", "http"]);

interface Refs {
  roots: Set<string>;
  members: Array<[string, string]>;
  volatile?: string;
}

/** The names a build-time template refers to, found by walking its syntax tree. */
function refsOf(template: unknown): Refs {
  const out: Refs = { roots: new Set(), members: [] };
  const stack: unknown[] = [template];
  while (stack.length) {
    const n = stack.pop();
    if (!n || typeof n !== "object") continue;
    if (Array.isArray(n)) {
      stack.push(...n);
      continue;
    }
    const node = n as Record<string, unknown>;
    if (node.type === "call" && typeof node.callee === "string" && VOLATILE_CALLS.has(node.callee))
      out.volatile ??= `it calls ${node.callee}() while building`;
    const object = node.object as { type?: string; name?: string } | undefined;
    if (node.type === "member" && object?.type === "name" && typeof object.name === "string") {
      const member = String(node.name);
      out.members.push([object.name, member]);
      out.roots.add(object.name);
      if (object.name === "build" && VOLATILE_BUILD.has(member))
        out.volatile ??= `it reads build.${member}, which is new in every run`;
      continue;
    }
    if (node.type === "name" && typeof node.name === "string") out.roots.add(node.name);
    for (const v of Object.values(node)) if (v && typeof v === "object") stack.push(v);
  }
  for (const r of out.roots) if (!KNOWN_ROOTS.has(r)) out.volatile ??= `it reads ${r}.* while building`;
  return out;
}

/**
 * The canonical form of an option value for a key. Strings holding a secret become an HMAC
 * under the cache's salt; a build-time expression enters by its text plus the values of the
 * variables, locals and environment variables it reads (those can change between runs).
 */
export function canonicalValue(v: unknown, scope: ValueScope): Canonical {
  let volatile: string | undefined;
  const secret = (s: string) => ({ $secret: createHmac("sha256", scope.salt).update(s).digest("hex") });
  const sources: Record<string, Record<string, unknown>> = {
    var: scope.variables,
    local: scope.locals,
    env: scope.env as Record<string, unknown>,
    path: { cwd: scope.cwd },
  };
  const walk = (x: unknown): unknown => {
    if (typeof x === "string") return scope.isSecret(x) ? secret(x) : x;
    if (isDeferred(x)) {
      const refs = refsOf(x.template);
      volatile ??= refs.volatile;
      const reads: Record<string, unknown> = {};
      for (const root of refs.roots) {
        const src = sources[root];
        if (!src) continue;
        const members = refs.members.filter(([r]) => r === root).map(([, m]) => m);
        // A root read as a whole (var[name], a loop) takes in all of its values.
        const whole = members.length === 0 || refs.members.length === 0;
        if (whole) reads[root] = walk(src);
        else for (const m of members) reads[`${root}.${m}`] = walk(Object.hasOwn(src, m) ? src[m] : null);
      }
      return { $template: walk(x.source), reads };
    }
    if (Array.isArray(x)) return x.map(walk);
    if (x && typeof x === "object") {
      const out: Record<string, unknown> = {};
      for (const [k, y] of Object.entries(x)) out[scope.isSecret(k) ? stableJson(secret(k)) : k] = walk(y);
      return out;
    }
    return x ?? null;
  };
  const value = walk(v);
  return volatile ? { value, volatile } : { value };
}

/**
 * A hash of a local file or folder: names, types, the executable bit and contents, recursively
 * (a symlink is followed, a dangling one enters by its target); a missing path hashes as
 * missing, so creating it changes the key. With `statOnly`, a file enters by size and
 * modification time (large images whose checksum is not given).
 */
export async function hashPath(path: string, statOnly = false): Promise<string> {
  try {
    const link = await lstat(path);
    let st = link;
    if (link.isSymbolicLink()) {
      try {
        st = await stat(path);
      } catch {
        return sha256(`l:${await readlink(path)}`);
      }
    }
    if (st.isDirectory()) return await hashDir(path);
    return await hashFile(path, st.mode, statOnly ? st : undefined);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    return code === "ENOENT" ? "missing" : sha256(`e:${code ?? "unreadable"}`);
  }
}

async function hashDir(dir: string): Promise<string> {
  const names = (await readdir(dir)).sort();
  const h = createHash("sha256").update("d:");
  for (const n of names) h.update(`${JSON.stringify(n)}=${await hashPath(join(dir, n))};`);
  return h.digest("hex");
}

async function hashFile(file: string, mode: number, st?: { size: number; mtimeMs: number }): Promise<string> {
  const x = mode & 0o111 ? "x" : "-";
  if (st) return sha256(`s:${x}:${st.size}:${Math.round(st.mtimeMs)}`);
  const h = createHash("sha256").update(`f:${x}:`);
  await new Promise<void>((resolve, reject) => {
    createReadStream(file)
      .on("data", (d) => h.update(d))
      .on("end", resolve)
      .on("error", reject);
  });
  return h.digest("hex");
}
