/**
 * `makeIso`: write an ISO 9660 image (with Rock Ridge and Joliet) from `cd_files` and
 * `cd_content`, as Packer's CD step does, using xorriso, mkisofs or genisoimage (in that order).
 *
 * `cd_files` entries, relative to `baseDir`:
 *   - a file goes to the CD root under its own name;
 *   - a directory goes to the CD root with its name, keeping its tree (`http/` → `/http/…`);
 *     with a trailing slash (`http/`) its contents go to the root instead;
 *   - a glob (`*`, `?`, `[…]`, Go's filepath.Match rules) adds every match as above,
 *     so `dir/*` puts the directory's contents at the root. A glob that matches nothing is an error.
 *   Symlinks are followed: the CD holds the target's content.
 * `cd_content` maps a path on the CD to its text and wins over a `cd_files` file with the same path.
 */
import { copyFile, mkdir, rename, rm, stat, writeFile } from "node:fs/promises";
import { basename, delimiter, dirname, join, posix, resolve } from "node:path";
import { isKilnError, KilnError } from "@kiln/core";
import {
  expandEntry,
  fsError,
  fsStep,
  isExecutable,
  type PathErrorCodes,
  runTool,
  walkTree,
  withStaging,
} from "./common.js";
import { hasMagic } from "./glob.js";

export interface MakeIsoOptions {
  /** `cd_files`: files, directories and globs, relative to `baseDir`. */
  files?: string[];
  /** `cd_content`: path on the CD → text. Overrides a `files` entry with the same path. */
  content?: Record<string, string>;
  /** `cd_label`: the volume ID (at most 32 characters), e.g. `cidata`. Default `kiln`. */
  label?: string;
  /** Where to write the image (relative to `baseDir`). Written to a temporary name, then renamed. */
  output: string;
  baseDir: string;
  signal?: AbortSignal;
  /** Use this program (a name on PATH or a path) instead of looking for one. */
  tool?: string;
  /** PATH to search for the tools; default `process.env.PATH`. */
  searchPath?: string;
}

export interface MakeIsoResult {
  /** Absolute path of the image. */
  output: string;
  /** The program that wrote it. */
  tool: string;
  /** Files on the CD, as `/`-separated paths from its root, sorted. */
  files: string[];
}

/** The programs that can write the image, in Packer's order of preference. */
export const ISO_TOOLS = ["xorriso", "mkisofs", "genisoimage"] as const;
export type IsoToolName = (typeof ISO_TOOLS)[number];

const INSTALL_HINT =
  "Install xorriso: `apt-get install xorriso` (Debian/Ubuntu), `dnf install xorriso` (Fedora), `brew install xorriso` (macOS). " +
  "genisoimage (`apt-get install genisoimage`) works too.";

/** Find the first of xorriso, mkisofs, genisoimage on PATH. */
export async function findIsoTool(
  searchPath = process.env.PATH ?? "",
): Promise<{ name: IsoToolName; path: string } | undefined> {
  const dirs = searchPath.split(delimiter).filter((d) => d !== "");
  for (const name of ISO_TOOLS) {
    for (const dir of dirs) {
      const p = join(dir, name);
      if (await isExecutable(p)) return { name, path: p };
    }
  }
  return undefined;
}

function isoArgs(tool: string, label: string, output: string, root: string): string[] {
  // Rock Ridge (-R: long names, case, modes), Joliet with names up to 103 characters, files over 4 GiB.
  const common = [
    "-V",
    label,
    "-R",
    "-J",
    "-joliet-long",
    "-iso-level",
    "3",
    "-input-charset",
    "utf-8",
    "-o",
    output,
    root,
  ];
  return basename(tool).startsWith("xorriso") ? ["-as", "mkisofs", ...common] : common;
}

function cdPathError(message: string, hint?: string): KilnError {
  return new KilnError("KILN_ISO_PATH", message, hint ? { hint } : {});
}

/** Normalise a `cd_content` key to a relative path inside the CD, refusing escapes. */
export function cdPath(key: string): string {
  if (key.includes("\0"))
    throw cdPathError(`cd_content path ${JSON.stringify(key)} contains a NUL character`);
  const p = posix.normalize(key.replace(/\\/g, "/").replace(/^\/+/, ""));
  if (p === "." || p === "" || p === ".." || p.startsWith("../")) {
    throw cdPathError(
      `cd_content path ${JSON.stringify(key)} is outside the CD`,
      "Use paths inside the CD, such as user-data or dir/file.",
    );
  }
  return p.replace(/\/+$/, "");
}

interface Planned {
  /** Relative path on the CD. */
  dest: string;
  src: string;
}

const CD_CODES: PathErrorCodes = { path: "KILN_ISO_PATH", notFound: "KILN_ISO_FILE_NOT_FOUND" };

/** Work out which file goes where, following Packer's rules; directories are walked (links followed). */
async function planFiles(files: string[], baseDir: string): Promise<{ files: Planned[]; dirs: Set<string> }> {
  const out = new Map<string, string>();
  const dirs = new Set<string>();
  const add = (dest: string, src: string) => {
    const prev = out.get(dest);
    if (prev !== undefined && prev !== src) {
      throw cdPathError(
        `cd_files put two different files at /${dest} on the CD: ${prev} and ${src}`,
        "Rename one of them, or list only one.",
      );
    }
    out.set(dest, src);
  };
  const addPath = async (src: string, contentsOnly: boolean) => {
    const st = await fsStep(() => stat(src), "cd_files", src, CD_CODES);
    if (st.isDirectory()) {
      const top = contentsOnly ? "" : basename(src);
      if (top !== "") dirs.add(top);
      await walkTree(src, "cd_files", CD_CODES, (e) => {
        const dest = top === "" ? e.rel : `${top}/${e.rel}`;
        if (e.st.isDirectory()) dirs.add(dest);
        else add(dest, e.src);
      });
    } else if (st.isFile()) add(basename(src), src);
    else throw cdPathError(`cd_files: ${src} is neither a file nor a directory`);
  };
  for (const entry of files) {
    // A trailing slash (`http/`, `http/.`) puts a directory's contents at the root.
    const contentsOnly = !hasMagic(entry) && /[/\\]\.?$/.test(entry);
    for (const src of await expandEntry(entry, baseDir, "cd_files", CD_CODES))
      await addPath(src, contentsOnly);
  }
  return { files: [...out].map(([dest, src]) => ({ dest, src })), dirs };
}

/** Write an ISO 9660 + Rock Ridge + Joliet image holding `files` and `content`. */
export async function makeIso(opts: MakeIsoOptions): Promise<MakeIsoResult> {
  const label = opts.label ?? "kiln";
  if (label.length === 0 || label.length > 32) {
    throw new KilnError("KILN_ISO_LABEL", `cd_label ${JSON.stringify(label)} must have 1 to 32 characters`, {
      hint: "ISO 9660 volume IDs hold at most 32 characters; NoCloud seeds use cidata.",
    });
  }
  // Check the content paths before anything touches the disk.
  const content = Object.entries(opts.content ?? {}).map(([key, text]) => ({ key, dest: cdPath(key), text }));

  let tool: { name: string; path: string } | undefined;
  if (opts.tool) {
    tool = { name: basename(opts.tool), path: opts.tool };
  } else {
    tool = await findIsoTool(opts.searchPath ?? process.env.PATH ?? "");
    if (!tool) {
      throw new KilnError(
        "KILN_ISO_TOOL_MISSING",
        `cannot make a CD image: none of ${ISO_TOOLS.join(", ")} is installed`,
        {
          hint: INSTALL_HINT,
        },
      );
    }
  }

  const plan = await planFiles(opts.files ?? [], opts.baseDir);
  const output = resolve(opts.baseDir, opts.output);
  return withStaging("kiln-cd-", output, async (root, tmpOut) => {
    for (const d of plan.dirs) await mkdir(join(root, d), { recursive: true });
    for (const f of plan.files) {
      opts.signal?.throwIfAborted();
      const target = join(root, f.dest);
      await fsStep(
        () => mkdir(dirname(target), { recursive: true }),
        "cd_files",
        target,
        CD_CODES,
        "writing",
      );
      await fsStep(() => copyFile(f.src, target), "cd_files", f.src, CD_CODES, "copying");
    }
    const onCd = new Set(plan.files.map((f) => f.dest));
    for (const c of content) {
      const target = join(root, c.dest);
      if (plan.dirs.has(c.dest)) {
        throw cdPathError(`cd_content path ${JSON.stringify(c.key)} is a directory from cd_files`);
      }
      try {
        await mkdir(dirname(target), { recursive: true });
        if (onCd.has(c.dest)) await rm(target, { force: true });
        await writeFile(target, c.text, { mode: 0o644 });
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code !== "EEXIST" && code !== "ENOTDIR" && code !== "EISDIR")
          throw fsError(err, `cd_content path ${JSON.stringify(c.key)}`, target, CD_CODES, "writing");
        throw cdPathError(
          `cd_content path ${JSON.stringify(c.key)} clashes with another path on the CD: ${(err as Error).message}`,
        );
      }
      onCd.add(c.dest);
    }
    await mkdir(dirname(output), { recursive: true });
    opts.signal?.throwIfAborted();
    let result: { code: number | null; output: string };
    try {
      result = await runTool(tool.path, isoArgs(tool.path, label, tmpOut, root), {
        signal: opts.signal,
        timeoutCode: "KILN_ISO_FAILED",
      });
    } catch (err) {
      if (opts.signal?.aborted) throw opts.signal.reason;
      if (isKilnError(err)) throw err;
      const code = (err as NodeJS.ErrnoException).code;
      throw new KilnError(
        code === "ENOENT" ? "KILN_ISO_TOOL_MISSING" : "KILN_ISO_FAILED",
        code === "ENOENT"
          ? `cannot run ${tool.path}: not found`
          : `cannot run ${tool.path}: ${(err as Error).message}`,
        { cause: err, hint: INSTALL_HINT },
      );
    }
    if (result.code !== 0) {
      throw new KilnError(
        "KILN_ISO_FAILED",
        `${tool.name} failed (exit ${result.code}) writing ${output}:\n${result.output.trim()}`,
      );
    }
    await rename(tmpOut, output);
    return { output, tool: tool.name, files: [...onCd].sort() };
  });
}
