import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdir, readdir, readFile, symlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { compress, formatFromName } from "./compress.js";
import { compressSchema } from "./schema.js";
import { makeContext, type RawOptions, tempFolder } from "./test-context.js";

let dir: string;
let cleanup: () => Promise<void>;

beforeEach(async () => {
  ({ dir, cleanup } = await tempFolder());
});
afterEach(async () => {
  await cleanup();
});

function hasTool(name: string): boolean {
  try {
    execFileSync(name, ["--version"], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

async function run(
  options: RawOptions<typeof compressSchema>,
  files: string[],
  extra: Parameters<typeof makeContext>[4] = {},
) {
  const ctx = makeContext(compressSchema, dir, options, { files }, extra);
  const result = await compress.postProcess(ctx);
  return { ctx, result };
}

/** A compressible file with some random parts. */
async function sample(name: string, size = 2 * 1024 * 1024 + 123): Promise<Buffer> {
  const data = Buffer.concat([
    Buffer.alloc(size / 2, "kiln "),
    randomBytes(size - Math.floor(size / 2)),
  ]).subarray(0, size);
  await writeFile(join(dir, name), data);
  return data;
}

describe("compress", () => {
  it("by default writes <source>.tar.gz (Packer's default format) beside the input", async () => {
    await sample("disk.raw");
    const { result, ctx } = await run({}, [join(dir, "disk.raw")]);
    const out = join(dir, "ubuntu.tar.gz");
    expect(result.artifact.files).toEqual([out]);
    expect(result.keepInput).toBe(false);
    expect(execFileSync("tar", ["-tzf", out], { encoding: "utf8" })).toBe("disk.raw\n");
    expect(ctx.rec.progress.at(-1)).toMatchObject({ done: 2 * 1024 * 1024 + 123 });
  });

  it("round-trips gzip through the system gunzip, with the level applied", async () => {
    const data = await sample("disk.raw");
    await run({ output: "out/disk.raw.gz", compression_level: 1 }, [join(dir, "disk.raw")]);
    const out = join(dir, "out", "disk.raw.gz");
    expect(execFileSync("gzip", ["-t", out]).length).toBe(0);
    expect(execFileSync("gzip", ["-dc", out], { maxBuffer: 1 << 26 }).equals(data)).toBe(true);
    const fast = (await readFile(out)).length;
    await run({ output: "out/best.gz", compression_level: 9 }, [join(dir, "disk.raw")]);
    expect((await readFile(join(dir, "out", "best.gz"))).length).toBeLessThanOrEqual(fast);
  });

  it("archives several files and folders with tar, readable and extractable by the system tar", async () => {
    const a = await sample("a.img", 1000);
    const b = await sample("b.img", 512);
    await mkdir(join(dir, "meta", "deep"), { recursive: true });
    await writeFile(join(dir, "meta", "deep", "info.txt"), "info\n");
    await symlink("a.img", join(dir, "meta", "link"));
    const long = `${"n".repeat(120)}.txt`;
    await writeFile(join(dir, "meta", long), "long name\n");
    await run({ output: "all.tar" }, [join(dir, "a.img"), join(dir, "b.img"), join(dir, "meta")]);
    const listing = execFileSync("tar", ["-tf", join(dir, "all.tar")], { encoding: "utf8" })
      .split("\n")
      .filter(Boolean);
    expect(listing.sort()).toEqual(
      ["a.img", "b.img", "meta/", "meta/deep/", "meta/deep/info.txt", "meta/link", `meta/${long}`].sort(),
    );
    const x = join(dir, "x");
    await mkdir(x);
    execFileSync("tar", ["-xf", join(dir, "all.tar"), "-C", x]);
    expect((await readFile(join(x, "a.img"))).equals(a)).toBe(true);
    expect((await readFile(join(x, "b.img"))).equals(b)).toBe(true);
    expect(await readFile(join(x, "meta", "deep", "info.txt"), "utf8")).toBe("info\n");
    expect(await readFile(join(x, "meta", long), "utf8")).toBe("long name\n");
    expect(execFileSync("readlink", [join(x, "meta", "link")], { encoding: "utf8" }).trim()).toBe("a.img");
  });

  it("writes tar.gz chosen by format, extractable by tar -xz", async () => {
    const a = await sample("a.img", 70_000);
    await run({ format: "tar.gz", output: "bundle" }, [join(dir, "a.img")]);
    const x = join(dir, "x");
    await mkdir(x);
    execFileSync("tar", ["-xzf", join(dir, "bundle"), "-C", x]);
    expect((await readFile(join(x, "a.img"))).equals(a)).toBe(true);
  });

  it.each([
    ["xz", "disk.raw.xz", ["xz", "-dc"]],
    ["zstd", "disk.raw.zst", ["zstd", "-dcq"]],
  ])("round-trips %s through the system program", async (tool, output, decompress) => {
    if (!hasTool(tool)) return;
    const data = await sample("disk.raw", 300_000);
    await run({ output }, [join(dir, "disk.raw")]);
    const [cmd, ...args] = decompress as [string, ...string[]];
    expect(execFileSync(cmd, [...args, join(dir, output)], { maxBuffer: 1 << 26 }).equals(data)).toBe(true);
  });

  it.each([
    ["tar.xz", "J"],
    ["tar.zst", "--zstd"],
  ])("writes %s readable by tar", async (format, flag) => {
    if (!hasTool(format === "tar.xz" ? "xz" : "zstd")) return;
    await sample("a.img", 10_000);
    await run({ format: format as RawOptions<typeof compressSchema>["format"] }, [join(dir, "a.img")]);
    const out = join(dir, `ubuntu.${format}`);
    const args = flag === "J" ? ["-tJf", out] : ["--zstd", "-tf", out];
    expect(execFileSync("tar", args, { encoding: "utf8" })).toBe("a.img\n");
  });

  it("refuses to overwrite an existing output without force, and replaces it with force", async () => {
    await sample("disk.raw", 1000);
    await writeFile(join(dir, "disk.raw.gz"), "precious");
    await expect(run({ output: "disk.raw.gz" }, [join(dir, "disk.raw")])).rejects.toThrow(
      /^\[compress\] output .*disk\.raw\.gz already exists/,
    );
    expect(await readFile(join(dir, "disk.raw.gz"), "utf8")).toBe("precious");
    await run({ output: "disk.raw.gz" }, [join(dir, "disk.raw")], { force: true });
    expect(execFileSync("gzip", ["-t", join(dir, "disk.raw.gz")]).length).toBe(0);
    expect((await readdir(dir)).sort()).toEqual(["disk.raw", "disk.raw.gz"]);
  });

  /** Abort the run as soon as the temporary output exists; resolves to whether it did. */
  async function abortOnceWriting(ctx: ReturnType<typeof makeContext>): Promise<boolean> {
    for (let i = 0; i < 1000; i++) {
      if ((await readdir(dir, { recursive: true })).some((n) => n.endsWith(".tmp"))) {
        ctx.controller.abort(new Error("interrupted by test"));
        return true;
      }
      await new Promise((r) => setTimeout(r, 2));
    }
    return false;
  }

  it.each([
    ["gzip", "big.raw.gz"],
    ["xz", "big.raw.xz"],
    ["zstd", "big.raw.zst"],
    ["tar.gz", "new/sub/big.tar.gz"],
  ])("removes the partial %s output (and folders it made) when interrupted", async (format, output) => {
    if (format === "xz" || format === "zstd") {
      if (!hasTool(format)) return;
    }
    await sample("big.raw", 48 * 1024 * 1024);
    const ctx = makeContext(
      compressSchema,
      dir,
      { output, compression_level: 9 },
      { files: [join(dir, "big.raw")] },
    );
    const pending = compress.postProcess(ctx);
    const sawTemp = abortOnceWriting(ctx);
    await expect(pending).rejects.toThrow("interrupted by test");
    expect(await sawTemp).toBe(true);
    expect(await readdir(dir)).toEqual(["big.raw"]);
  });

  it("says clearly when xz or zstd is not installed, before writing anything", async () => {
    await sample("disk.raw", 100);
    const path = process.env.PATH;
    process.env.PATH = join(dir, "nowhere");
    try {
      await expect(run({ output: "disk.raw.xz" }, [join(dir, "disk.raw")])).rejects.toMatchObject({
        code: "KILN_TOOL_MISSING",
        message: expect.stringMatching(/^\[compress\] xz needs the xz program, which is not on PATH/),
        hint: expect.stringContaining("xz-utils"),
      });
      await expect(run({ format: "tar.zst" }, [join(dir, "disk.raw")])).rejects.toThrow(
        /needs the zstd program/,
      );
    } finally {
      process.env.PATH = path;
    }
    expect(await readdir(dir)).toEqual(["disk.raw"]);
  });

  it("rejects bad input with [compress] messages", async () => {
    await sample("a", 10);
    await sample("b", 10);
    const a = join(dir, "a");
    const b = join(dir, "b");
    await expect(run({ format: "gzip" }, [a, b])).rejects.toThrow(
      /^\[compress\] gzip compresses one file, but the artifact has 2/,
    );
    await expect(run({ output: "x.zip" }, [a])).rejects.toThrow(
      /^\[compress\] output x\.zip: the \.zip format is not supported/,
    );
    await expect(run({ format: "rar" }, [a])).rejects.toThrow(/^\[compress\] unknown format "rar"/);
    await expect(run({ format: "gzip", compression_level: 12 }, [a])).rejects.toThrow(
      /compression_level 12 is out of range for gzip \(0–9\)/,
    );
    await expect(run({}, [])).rejects.toThrow(/has no files to compress/);
    await expect(run({}, [join(dir, "missing")])).rejects.toThrow(/^\[compress\] cannot read .*missing/);
    await expect(run({ format: "gzip" }, [dir])).rejects.toThrow(/is not a regular file/);
    await expect(run({ output: "a", format: "gzip" }, [a])).rejects.toThrow(
      /is one of the files to compress/,
    );
    await mkdir(join(dir, "sub"));
    await writeFile(join(dir, "sub", "a"), "x");
    await expect(run({ format: "tar" }, [a, join(dir, "sub", "a")])).rejects.toThrow(
      /would have the same name/,
    );
    expect((await readdir(dir)).sort()).toEqual(["a", "b", "sub"]);
  });

  it("refuses an output extension that names no supported format, unless format says what to write", async () => {
    await sample("a.img", 1000);
    const a = join(dir, "a.img");
    for (const output of ["image.rar", "image", "disk.qcow2"]) {
      await expect(run({ output }, [a])).rejects.toMatchObject({
        code: "KILN_POST_PROCESSOR_OPTIONS",
        message: `[compress] output ${output}: its extension names no supported format`,
        hint: expect.stringContaining(".tar.gz, .tar.xz"),
      });
    }
    expect(await readdir(dir)).toEqual(["a.img"]);
    const { ctx } = await run({ output: "image.rar", format: "tar.gz" }, [a]);
    expect(ctx.rec.says.join("\n")).toMatch(
      /warning: output .*image\.rar has no extension of a supported format; it is written as tar\.gz/,
    );
    execFileSync("tar", ["-tzf", join(dir, "image.rar")]);
    const gz = await run({ output: "x.xz", format: "gzip" }, [a]);
    expect(gz.ctx.rec.says.join("\n")).toMatch(/ends in \.xz, which is xz; it is written as gzip/);
  });

  it("destroy removes the archive", async () => {
    await sample("a", 10);
    const { result } = await run({ output: "a.gz" }, [join(dir, "a")]);
    expect(existsSync(join(dir, "a.gz"))).toBe(true);
    await result.artifact.destroy?.();
    expect(existsSync(join(dir, "a.gz"))).toBe(false);
  });
});

describe("formatFromName", () => {
  it("maps endings to formats", () => {
    expect(formatFromName("a.tar.gz")).toBe("tar.gz");
    expect(formatFromName("a.TGZ")).toBe("tar.gz");
    expect(formatFromName("a.tar.zst")).toBe("tar.zst");
    expect(formatFromName("a.txz")).toBe("tar.xz");
    expect(formatFromName("a.img.gz")).toBe("gzip");
    expect(formatFromName("a.zst")).toBe("zstd");
    expect(formatFromName("a.tar")).toBe("tar");
    expect(formatFromName("a.qcow2")).toBeUndefined();
    expect(() => formatFromName("a.tar.bz2")).toThrow(/not supported/);
  });
});
