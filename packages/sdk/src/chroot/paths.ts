/**
 * Resolving a path as a process inside a chroot would see it, from outside: each component is
 * looked up on the host under the root, symbolic links are followed with the root as `/` (an
 * absolute target starts again at the root, a relative one from the link's folder), and `..`
 * goes up one real folder. What would climb above the root — a `..` in the path itself, or in a
 * link's target — is refused rather than clamped, since no path the caller means lies there.
 *
 * Without this, the host would follow an absolute link in the image (`/etc/resolv.conf ->
 * /run/…`) to its own files. Written here because Node has no openat2(RESOLVE_IN_ROOT); the
 * callers open the result with O_NOFOLLOW, so a link swapped in afterwards fails rather than
 * escapes.
 */
import { lstat, readlink } from "node:fs/promises";
import { posix } from "node:path";
import { KilnError } from "@kiln/core";

/** What a lookup tells about one host path: nothing there (undefined), a link with its target, or another kind. */
export type PathNode = { kind: "dir" | "file" | "other" } | { kind: "link"; target: string } | undefined;

/** Looks a host path up without following a final symbolic link. */
export type PathLookup = (hostPath: string) => Promise<PathNode>;

export interface ResolveOptions {
  /** Follow a symbolic link in the last component (default true; false to act on the link itself). */
  followFinal?: boolean;
}

/** At most this many links are followed for one path (Linux's own limit). */
export const MAX_LINKS = 40;

/** A path that leaves the root, or loops. */
export class ChrootPathError extends KilnError {
  constructor(message: string, hint?: string) {
    super("KILN_CHROOT_PATH", message, hint ? { hint } : {});
    this.name = "ChrootPathError";
  }
}

/** The lookup of the real file system. */
export const fsLookup: PathLookup = async (hostPath) => {
  try {
    const st = await lstat(hostPath);
    if (st.isSymbolicLink()) return { kind: "link", target: await readlink(hostPath) };
    if (st.isDirectory()) return { kind: "dir" };
    return st.isFile() ? { kind: "file" } : { kind: "other" };
  } catch (err) {
    const code = (err as { code?: string }).code;
    if (code === "ENOENT" || code === "ENOTDIR") return undefined;
    throw err;
  }
};

const parts = (p: string): string[] => p.split("/").filter((c) => c !== "");

interface Pending {
  name: string;
  /** The link whose target this component came from (for messages). */
  via?: string;
}

/**
 * The host path of `path` inside `root` (an absolute host path). A relative `path` is taken from
 * the root, as `chroot` starts in `/`. Components that do not exist are kept as they are.
 */
export async function resolveInRootWith(
  root: string,
  path: string,
  lookup: PathLookup,
  opts: ResolveOptions = {},
): Promise<string> {
  if (!posix.isAbsolute(root)) throw new ChrootPathError(`the chroot ${root} is not an absolute path`);
  if (path.includes("\0")) throw new ChrootPathError(`the path ${JSON.stringify(path)} holds a NUL byte`);
  const base = posix.normalize(root).replace(/(.)\/+$/, "$1");
  const followFinal = opts.followFinal !== false;
  const done: string[] = [];
  const pending: Pending[] = parts(path).map((name) => ({ name }));
  let links = 0;
  while (pending.length > 0) {
    const next = pending.shift() as Pending;
    if (next.name === ".") continue;
    if (next.name === "..") {
      if (done.length === 0) {
        throw next.via
          ? new ChrootPathError(
              `the symbolic link ${next.via} in the chroot points outside it`,
              "Its target climbs above the chroot's / with `..`; make it absolute or fix the number of `..`.",
            )
          : new ChrootPathError(
              `the path ${path} leaves the chroot (it climbs above / with \`..\`)`,
              "Give a path inside the chroot, such as /tmp/file.",
            );
      }
      done.pop();
      continue;
    }
    const candidate = [...done, next.name];
    if (pending.length === 0 && !followFinal) {
      done.push(next.name);
      break;
    }
    const node = await lookup(posix.join(base, ...candidate));
    if (node?.kind === "link") {
      links++;
      const shown = `/${candidate.join("/")}`;
      if (links > MAX_LINKS)
        throw new ChrootPathError(
          `resolving ${path} in the chroot followed more than ${MAX_LINKS} symbolic links`,
        );
      if (node.target.startsWith("/")) done.length = 0;
      pending.unshift(...parts(node.target).map((name) => ({ name, via: shown })));
      continue;
    }
    done.push(next.name);
  }
  return done.length === 0 ? base : posix.join(base, ...done);
}

/** {@link resolveInRootWith} on the real file system. */
export function resolveInRoot(root: string, path: string, opts: ResolveOptions = {}): Promise<string> {
  return resolveInRootWith(root, path, fsLookup, opts);
}

/** `hostPath` as the chroot sees it (`/` for the root itself); for messages. */
export function insideRoot(root: string, hostPath: string): string {
  const base = posix.normalize(root).replace(/\/+$/, "");
  if (hostPath === base) return "/";
  return hostPath.startsWith(`${base}/`) ? hostPath.slice(base.length) : hostPath;
}
