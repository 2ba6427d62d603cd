/**
 * `makeFloppy`: write a 1.44 MB FAT12 floppy image from `floppy_files`, `floppy_dirs` and
 * `floppy_content`, with Packer's rules, using Debian's mkfs.fat (dosfstools) and mcopy (mtools).
 *
 *   - `floppy_files` (relative to `baseDir`): a file goes to the floppy's root under its own name;
 *     a directory adds every file below it, flattened into the root (Packer's rule); globs (`*`,
 *     `?`, `[…]`) add every match. A glob that matches nothing is an error, as for `cd_files`.
 *   - `floppy_dirs`: a directory goes onto the floppy with its name and its whole tree; globs too.
 *   - `floppy_content`: path on the floppy → text; wins over a file from the others at that path.
 *   - `floppy_label`: the FAT volume label, at most 11 characters. Default `packer`, as Packer.
 *
 * Long names are kept (VFAT). FAT names are case-insensitive, so two names that differ only in
 * case in one folder are an error, as is more than a floppy holds.
 */
import { copyFile, mkdir, readdir, rename, stat, writeFile } from "node:fs/promises";
import { basename, delimiter, dirname, join, posix, resolve } from "node:path";
import { isKilnError, KilnError } from "@kiln/core";
import {
  expandEntry,
  fsStep,
  isExecutable,
  type PathErrorCodes,
  runTool,
  type TreeEntry,
  walkTree,
  withStaging,
} from "../iso/common.js";

export interface MakeFloppyOptions {
  /** `floppy_files`: files, directories (flattened) and globs, relative to `baseDir`. */
  files?: string[];
  /** `floppy_dirs`: directories (and globs) copied with their tree. */
  dirs?: string[];
  /** `floppy_content`: path on the floppy → text. Overrides a file at the same path. */
  content?: Record<string, string>;
  /** `floppy_label`: the volume label (1 to 11 characters). Default `packer`. */
  label?: string;
  /** Where to write the image (relative to `baseDir`). Written to a temporary name, then renamed. */
  output: string;
  baseDir: string;
  signal?: AbortSignal;
  /** PATH to search for mkfs.fat and mcopy; default `process.env.PATH` plus /usr/sbin and /sbin. */
  searchPath?: string;
}

export interface MakeFloppyResult {
  /** Absolute path of the image (1,474,560 bytes, raw). */
  output: string;
  /** The volume label written. */
  label: string;
  /** Files on the floppy, as `/`-separated paths from its root, sorted. */
  files: string[];
  /** Bytes of the data area the files and folders take (clusters of 512 bytes). */
  used: number;
}

/** Size of the image: a 3.5" high-density floppy. */
export const FLOPPY_IMAGE_BYTES = 1440 * 1024;
/** What a freshly made 1.44 MB FAT12 floppy holds: 2847 clusters of 512 bytes. */
export const FLOPPY_DATA_BYTES = 2847 * 512;
/** Entries in the root directory of a 1.44 MB floppy (a long name takes several). */
export const FLOPPY_ROOT_ENTRIES = 224;
export const DEFAULT_FLOPPY_LABEL = "packer";

const CLUSTER = 512;
const INSTALL_HINT =
  "Install the FAT tools: `apt-get install dosfstools mtools` (Debian/Ubuntu), `dnf install dosfstools mtools` (Fedora), `brew install dosfstools mtools` (macOS).";
const TOO_BIG_HINT =
  "A floppy holds 1.44 MB. Put large files on a CD (cd_files, cd_content), serve them over HTTP (http_directory), or upload them with the file provisioner.";

/** The programs makeFloppy runs, with the Debian package that has each. */
export const FLOPPY_TOOLS = { "mkfs.fat": "dosfstools", mcopy: "mtools" } as const;

function floppyError(code: string, message: string, hint?: string): KilnError {
  return new KilnError(code, message, hint ? { hint } : {});
}

/** Where mkfs.fat and mcopy are; `missing` names what is not found (and its package). */
export async function findFloppyTools(
  searchPath = process.env.PATH ?? "",
): Promise<{ mkfs?: string; mcopy?: string; missing: string[] }> {
  // mkfs.fat lives in /usr/sbin, which is not on every user's PATH.
  const dirs = [...searchPath.split(delimiter), "/usr/sbin", "/sbin"].filter((d) => d !== "");
  const find = async (name: string): Promise<string | undefined> => {
    for (const d of dirs) {
      const p = join(d, name);
      if (await isExecutable(p)) return p;
    }
    return undefined;
  };
  const mkfs = await find("mkfs.fat");
  const mcopy = await find("mcopy");
  const missing: string[] = [];
  if (!mkfs) missing.push(`mkfs.fat (package ${FLOPPY_TOOLS["mkfs.fat"]})`);
  if (!mcopy) missing.push(`mcopy (package ${FLOPPY_TOOLS.mcopy})`);
  return { ...(mkfs ? { mkfs } : {}), ...(mcopy ? { mcopy } : {}), missing };
}

/** Characters a FAT long name cannot hold. */
// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what is refused
const BAD_NAME = /[\u0000-\u001f"*/:<>?\\|]/;

function checkName(name: string, where: string): void {
  if (BAD_NAME.test(name) || name.length > 255 || /[. ]$/.test(name)) {
    throw floppyError(
      "KILN_FLOPPY_NAME",
      `${where}: the name ${JSON.stringify(name)} cannot be stored on a FAT floppy`,
      'FAT names have at most 255 characters, none of " * / : < > ? \\ | or control characters, and do not end with a dot or a space. Rename the file, or set its name with floppy_content.',
    );
  }
}

/** Normalise a `floppy_content` key to a relative path inside the floppy, refusing escapes. */
export function floppyPath(key: string): string {
  const p = posix.normalize(key.replace(/\\/g, "/").replace(/^\/+/, "")).replace(/\/+$/, "");
  if (p === "." || p === "" || p === ".." || p.startsWith("../")) {
    throw floppyError(
      "KILN_FLOPPY_PATH",
      `floppy_content path ${JSON.stringify(key)} is outside the floppy`,
      "Use paths inside the floppy, such as Autounattend.xml or dir/file.",
    );
  }
  for (const part of p.split("/")) checkName(part, `floppy_content path ${JSON.stringify(key)}`);
  return p;
}

/** Check a volume label: 1–11 characters that mkfs.fat accepts. */
export function checkFloppyLabel(label: string): void {
  if (label.length === 0 || label.length > 11 || /[^\x20-\x7e]|["*+,./:;<=>?[\\\]|]/.test(label)) {
    throw floppyError(
      "KILN_FLOPPY_LABEL",
      `floppy_label ${JSON.stringify(label)} is not a FAT volume label`,
      'A FAT label has 1 to 11 ASCII characters, none of " * + , . / : ; < = > ? [ \\ ] |. NoCloud seeds use cidata.',
    );
  }
}

interface Plan {
  /** Path on the floppy → source file (undefined for floppy_content). */
  files: Map<string, { src?: string; text?: string; size: number; from: string }>;
  dirs: Set<string>;
}

function addDir(plan: Plan, dir: string): void {
  for (let d = dir; d !== "." && d !== ""; d = posix.dirname(d)) plan.dirs.add(d);
}

/** Put a file at `dest`, refusing a second, different file at the same (case-insensitive) place. */
function place(
  plan: Plan,
  dest: string,
  entry: { src?: string; text?: string; size: number; from: string },
): void {
  for (const part of dest.split("/")) checkName(part, entry.from);
  const existing = [...plan.files.keys()].find((k) => k.toLowerCase() === dest.toLowerCase());
  if (existing !== undefined) {
    const prev = plan.files.get(existing) as { src?: string };
    if (entry.text !== undefined && (prev.src !== undefined || existing === dest)) {
      // floppy_content wins over a file from floppy_files/floppy_dirs at the same path.
      plan.files.delete(existing);
    } else if (prev.src === entry.src && existing === dest) {
      return; // the same file listed twice
    } else {
      const a = prev.src ?? "floppy_content";
      const b = entry.src ?? "floppy_content";
      throw existing === dest
        ? floppyError(
            "KILN_FLOPPY_CLASH",
            `two files would be /${dest} on the floppy: ${a} and ${b}`,
            "floppy_files puts every file in the floppy's root: rename one, or use floppy_dirs to keep folders.",
          )
        : floppyError(
            "KILN_FLOPPY_CLASH",
            `/${existing} and /${dest} would be the same file on the floppy (${a}, ${b})`,
            "FAT names are case-insensitive: rename one of them.",
          );
    }
  }
  plan.files.set(dest, entry);
  addDir(plan, posix.dirname(dest));
}

const FLOPPY_CODES: PathErrorCodes = { path: "KILN_FLOPPY_PATH", notFound: "KILN_FLOPPY_FILE_NOT_FOUND" };

/** Every file and folder below `dir` (symbolic links followed), with its path relative to `dir`. */
async function walk(dir: string, option: string): Promise<TreeEntry[]> {
  const out: TreeEntry[] = [];
  await walkTree(dir, option, FLOPPY_CODES, (e) => {
    out.push(e);
  });
  return out;
}

async function planFloppy(opts: MakeFloppyOptions): Promise<Plan> {
  const plan: Plan = { files: new Map(), dirs: new Set() };
  for (const entry of opts.files ?? []) {
    for (const src of await expandEntry(entry, opts.baseDir, "floppy_files", FLOPPY_CODES)) {
      const st = await fsStep(() => stat(src), "floppy_files", src, FLOPPY_CODES);
      if (st.isDirectory()) {
        // Packer's floppy_files flattens a directory: all its files go to the root.
        for (const f of await walk(src, "floppy_files")) {
          if (f.st.isFile())
            place(plan, basename(f.src), { src: f.src, size: f.st.size, from: "floppy_files" });
        }
      } else if (st.isFile()) {
        place(plan, basename(src), { src, size: st.size, from: "floppy_files" });
      } else {
        throw floppyError("KILN_FLOPPY_PATH", `floppy_files: ${src} is neither a file nor a directory`);
      }
    }
  }
  for (const entry of opts.dirs ?? []) {
    for (const src of await expandEntry(entry, opts.baseDir, "floppy_dirs", FLOPPY_CODES)) {
      const st = await fsStep(() => stat(src), "floppy_dirs", src, FLOPPY_CODES);
      const top = basename(src);
      if (st.isDirectory()) {
        checkName(top, "floppy_dirs");
        addDir(plan, top);
        for (const f of await walk(src, "floppy_dirs")) {
          const dest = `${top}/${f.rel}`;
          if (f.st.isDirectory()) {
            for (const part of f.rel.split("/")) checkName(part, "floppy_dirs");
            addDir(plan, dest);
          } else place(plan, dest, { src: f.src, size: f.st.size, from: "floppy_dirs" });
        }
      } else if (st.isFile()) {
        place(plan, top, { src, size: st.size, from: "floppy_dirs" });
      } else {
        throw floppyError("KILN_FLOPPY_PATH", `floppy_dirs: ${src} is neither a file nor a directory`);
      }
    }
  }
  for (const [key, text] of Object.entries(opts.content ?? {})) {
    const dest = floppyPath(key);
    if ([...plan.dirs].some((d) => d.toLowerCase() === dest.toLowerCase())) {
      throw floppyError(
        "KILN_FLOPPY_CLASH",
        `floppy_content path ${JSON.stringify(key)} is a folder from floppy_dirs`,
        "Choose another path for the content.",
      );
    }
    place(plan, dest, {
      text,
      size: Buffer.byteLength(text),
      from: `floppy_content path ${JSON.stringify(key)}`,
    });
  }
  const seen = new Map<string, string>();
  for (const d of plan.dirs) {
    if ([...plan.files.keys()].some((f) => f.toLowerCase() === d.toLowerCase())) {
      throw floppyError("KILN_FLOPPY_CLASH", `/${d} on the floppy would be both a file and a folder`);
    }
    const other = seen.get(d.toLowerCase());
    if (other !== undefined) {
      throw floppyError(
        "KILN_FLOPPY_CLASH",
        `the folders /${other} and /${d} would be the same folder on the floppy`,
        "FAT names are case-insensitive: rename one of them.",
      );
    }
    seen.set(d.toLowerCase(), d);
  }
  return plan;
}

/**
 * Directory entries a name takes: the short entry plus, for a long name, one per 13 characters.
 * An 8.3 name counts as short whatever its case (mtools may add a long entry for mixed case), so
 * this never overestimates.
 */
function entriesFor(name: string): number {
  const short = /^[A-Z0-9_$~!#%&'(){}^@`-]{1,8}(\.[A-Z0-9_$~!#%&'(){}^@`-]{1,3})?$/i.test(name);
  return short ? 1 : 1 + Math.ceil(name.length / 13);
}

/**
 * Space the plan takes: data clusters for the files and the folders, and root directory entries.
 * A lower bound close to what mtools writes: mcopy's own "Disk full" is mapped to the same error.
 */
export function floppySpace(
  files: Array<{ path: string; size: number }>,
  dirs: Iterable<string>,
): {
  bytes: number;
  rootEntries: number;
} {
  const children = new Map<string, string[]>();
  const add = (path: string) => {
    const parent = posix.dirname(path);
    const list = children.get(parent) ?? [];
    list.push(posix.basename(path));
    children.set(parent, list);
  };
  let clusters = 0;
  for (const f of files) {
    add(f.path);
    clusters += Math.ceil(f.size / CLUSTER);
  }
  const dirList = [...dirs];
  for (const d of dirList) add(d);
  for (const d of dirList) {
    const entries = 2 + (children.get(d) ?? []).reduce((n, c) => n + entriesFor(c), 0); // . and ..
    clusters += Math.max(1, Math.ceil((entries * 32) / CLUSTER));
  }
  const rootEntries = 1 + (children.get(".") ?? []).reduce((n, c) => n + entriesFor(c), 0); // + the label
  return { bytes: clusters * CLUSTER, rootEntries };
}

function kib(n: number): string {
  return `${(n / 1024).toFixed(1)} KiB`;
}

/** Write a 1.44 MB FAT12 floppy image holding `files`, `dirs` and `content`. */
export async function makeFloppy(opts: MakeFloppyOptions): Promise<MakeFloppyResult> {
  const label = opts.label ?? DEFAULT_FLOPPY_LABEL;
  checkFloppyLabel(label);
  const plan = await planFloppy(opts);
  const files = [...plan.files].map(([path, f]) => ({ path, ...f }));
  const space = floppySpace(files, plan.dirs);
  if (space.bytes > FLOPPY_DATA_BYTES) {
    const largest = [...files]
      .sort((a, b) => b.size - a.size)
      .slice(0, 3)
      .map((f) => `/${f.path} (${kib(f.size)})`);
    throw floppyError(
      "KILN_FLOPPY_TOO_BIG",
      `the floppy's files need ${kib(space.bytes)} but a 1.44 MB floppy holds ${kib(FLOPPY_DATA_BYTES)}; the largest: ${largest.join(", ")}`,
      TOO_BIG_HINT,
    );
  }
  if (space.rootEntries > FLOPPY_ROOT_ENTRIES) {
    throw floppyError(
      "KILN_FLOPPY_TOO_BIG",
      `too many files in the floppy's root directory: they need ${space.rootEntries} entries of the ${FLOPPY_ROOT_ENTRIES} a floppy's root has (a long name takes several)`,
      "Put files in folders with floppy_dirs, or use shorter (8.3) names.",
    );
  }

  const tools = await findFloppyTools(opts.searchPath ?? process.env.PATH ?? "");
  if (!tools.mkfs || !tools.mcopy) {
    throw floppyError(
      "KILN_FLOPPY_TOOL_MISSING",
      `cannot make a floppy image: ${tools.missing.join(" and ")} ${tools.missing.length > 1 ? "are" : "is"} not installed`,
      INSTALL_HINT,
    );
  }
  // (Named here: the checks above do not narrow tools.mkfs inside the closure below.)
  const mkfs = tools.mkfs;
  const mcopy = tools.mcopy;

  const output = resolve(opts.baseDir, opts.output);
  // A UTF-8 locale so mtools writes non-ASCII long names; no user mtools configuration checks.
  const env = { ...process.env, LC_ALL: "C.UTF-8", MTOOLS_SKIP_CHECK: "1" };
  const fail = (what: string, r: { code: number | null; output: string }, tool: string): KilnError => {
    if (/Disk full|No free cluster|No directory slots|not enough space/i.test(r.output)) {
      return floppyError(
        "KILN_FLOPPY_TOO_BIG",
        `the files do not fit on a 1.44 MB floppy (mcopy: ${r.output.trim().split("\n").slice(-1)[0]})`,
        TOO_BIG_HINT,
      );
    }
    return floppyError("KILN_FLOPPY_FAILED", `${tool} failed (exit ${r.code}) ${what}:\n${r.output.trim()}`);
  };
  const exec = async (tool: string, args: string[]) => {
    try {
      return await runTool(tool, args, { env, signal: opts.signal, timeoutCode: "KILN_FLOPPY_FAILED" });
    } catch (err) {
      if (opts.signal?.aborted) throw opts.signal.reason;
      if (isKilnError(err)) throw err;
      throw new KilnError("KILN_FLOPPY_TOOL_MISSING", `cannot run ${tool}: ${(err as Error).message}`, {
        cause: err,
        hint: INSTALL_HINT,
      });
    }
  };
  return withStaging("kiln-floppy-", output, async (root, tmpOut) => {
    for (const d of [...plan.dirs].sort()) await mkdir(join(root, d), { recursive: true });
    for (const f of files) {
      opts.signal?.throwIfAborted();
      const target = join(root, f.path);
      if (f.text !== undefined)
        await fsStep(
          () => writeFile(target, f.text as string, { mode: 0o644 }),
          f.from,
          target,
          FLOPPY_CODES,
          "writing",
        );
      else {
        const src = f.src as string;
        await fsStep(() => copyFile(src, target), f.from, src, FLOPPY_CODES, "copying");
      }
    }
    await mkdir(dirname(output), { recursive: true });
    opts.signal?.throwIfAborted();
    const mk = await exec(mkfs, ["-C", "-F", "12", "-n", label, tmpOut, String(FLOPPY_IMAGE_BYTES / 1024)]);
    if (mk.code !== 0) throw fail(`writing ${output}`, mk, "mkfs.fat");
    const top = (await readdir(root)).sort();
    if (top.length > 0) {
      opts.signal?.throwIfAborted();
      // -s: folders recursively; -m: keep modification times; -Q: stop at the first error;
      // -D o: overwrite on a long-name clash (none can happen: names were checked above).
      const cp = await exec(mcopy, [
        "-i",
        tmpOut,
        "-s",
        "-m",
        "-Q",
        "-D",
        "o",
        ...top.map((n) => join(root, n)),
        "::/",
      ]);
      if (cp.code !== 0) throw fail(`copying the files onto ${output}`, cp, "mcopy");
    }
    await rename(tmpOut, output);
    return { output, label, files: files.map((f) => f.path).sort(), used: space.bytes };
  });
}
