/**
 * The walk of a local folder that a communicator uploads: entries in name order, each folder
 * made before what it holds, files and symbolic links handed to the communicator, anything else
 * (sockets, devices, pipes) passed over. The folders' modes are returned, deepest first, to be set
 * once everything is in (a folder may be made read-only).
 */
import { readdir, stat } from "node:fs/promises";
import { join, posix } from "node:path";

export interface UploadTarget<D> {
  /** Makes the folder `remote` on the machine; returns what its mode is later set on. */
  mkdir(remote: string): Promise<D>;
  file(local: string, remote: string): Promise<void>;
  link(local: string, remote: string): Promise<void>;
  /** An entry that is not a file, folder or symbolic link. */
  other?(local: string): void;
}

/** Uploads what `localDir` holds into `remoteDir` (which exists); the sub-folders' modes, to set last. */
export async function uploadTree<D>(
  localDir: string,
  remoteDir: string,
  target: UploadTarget<D>,
): Promise<Array<[D, number]>> {
  const modes: Array<[D, number]> = [];
  const walk = async (local: string, remote: string): Promise<void> => {
    const entries = await readdir(local, { withFileTypes: true });
    entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const e of entries) {
      const l = join(local, e.name);
      const r = posix.join(remote, e.name);
      if (e.isDirectory()) {
        const st = await stat(l);
        const d = await target.mkdir(r);
        await walk(l, r);
        modes.push([d, st.mode & 0o7777]);
      } else if (e.isFile()) await target.file(l, r);
      else if (e.isSymbolicLink()) await target.link(l, r);
      else target.other?.(l);
    }
  };
  await walk(localDir, remoteDir);
  return modes;
}
