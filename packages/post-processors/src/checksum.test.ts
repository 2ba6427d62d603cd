import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { readdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { checksum, checksumLine, lineFileName, mergeChecksumText } from "./checksum.js";
import { checksumSchema } from "./schema.js";
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
  options: RawOptions<typeof checksumSchema>,
  files: string[],
  extra: Parameters<typeof makeContext>[4] = {},
) {
  const ctx = makeContext(checksumSchema, dir, options, { files }, extra);
  const result = await checksum.postProcess(ctx);
  return { ctx, result };
}

describe("checksum", () => {
  it("writes md5 by default to packer_<source>_<type>_md5.checksum, equal to md5sum's output", async () => {
    const file = join(dir, "disk.img");
    await writeFile(file, randomBytes(3 * 1024 * 1024 + 17));
    const { result, ctx } = await run({}, [file]);
    const out = join(dir, "packer_ubuntu_qemu_md5.checksum");
    const expected = execFileSync("md5sum", ["disk.img"], { cwd: dir, encoding: "utf8" });
    expect(await readFile(out, "utf8")).toBe(expected);
    expect(result.keepInput).toBe(true);
    expect(result.artifact.files).toEqual([file, out]);
    expect(ctx.rec.progress.at(-1)).toMatchObject({
      done: 3 * 1024 * 1024 + 17,
      total: 3 * 1024 * 1024 + 17,
    });
  });

  it.each([
    ["sha1", "sha1sum"],
    ["sha224", "sha224sum"],
    ["sha256", "sha256sum"],
    ["sha384", "sha384sum"],
    ["sha512", "sha512sum"],
  ])("%s matches %s, and `%s -c` accepts the file", async (type, tool) => {
    if (!hasTool(tool)) return;
    const a = join(dir, "a.img");
    const b = join(dir, "b with space.img");
    await writeFile(a, randomBytes(100_000));
    await writeFile(b, "hello\n");
    await run({ checksum_types: [type] }, [a, b]);
    const out = join(dir, `packer_ubuntu_qemu_${type}.checksum`);
    const expected = execFileSync(tool, ["a.img", "b with space.img"], { cwd: dir, encoding: "utf8" });
    expect(await readFile(out, "utf8")).toBe(expected);
    expect(execFileSync(tool, ["-c", out], { cwd: dir, encoding: "utf8" })).toBe(
      "a.img: OK\nb with space.img: OK\n",
    );
  });

  it("reads each file once for several types and writes one file per type, with a custom output template", async () => {
    const file = join(dir, "x.raw");
    await writeFile(file, "data");
    const { result } = await run(
      { checksum_types: ["sha256", "md5"], output: "sums/{{.BuildName}}-{{ .ChecksumType }}.txt" },
      [file],
    );
    const sha = execFileSync("sha256sum", ["x.raw"], { cwd: dir, encoding: "utf8" });
    const md5 = execFileSync("md5sum", ["x.raw"], { cwd: dir, encoding: "utf8" });
    expect(await readFile(join(dir, "sums", "ubuntu-sha256.txt"), "utf8")).toBe(sha);
    expect(await readFile(join(dir, "sums", "ubuntu-md5.txt"), "utf8")).toBe(md5);
    expect(result.artifact.data?.checksums).toEqual({
      sha256: { [file]: sha.split(" ")[0] },
      md5: { [file]: md5.split(" ")[0] },
    });
  });

  it("puts several types in one file when the output has no {{.ChecksumType}}", async () => {
    const file = join(dir, "x.raw");
    await writeFile(file, "data");
    await run({ checksum_types: ["md5", "sha1"], output: "SUMS" }, [file]);
    const text = await readFile(join(dir, "SUMS"), "utf8");
    expect(text.split("\n").filter(Boolean)).toHaveLength(2);
  });

  it("replaces stale lines for the same files and keeps the others", async () => {
    const out = join(dir, "packer_ubuntu_qemu_md5.checksum");
    await writeFile(out, `${"0".repeat(32)}  disk.img\n${"1".repeat(32)}\tother.img\n`);
    const file = join(dir, "disk.img");
    await writeFile(file, "new");
    const { result } = await run({}, [file]);
    const expected = execFileSync("md5sum", ["disk.img"], { cwd: dir, encoding: "utf8" });
    expect(await readFile(out, "utf8")).toBe(`${"1".repeat(32)}\tother.img\n${expected}`);
    // It existed before, so destroying the result must not remove it.
    await result.artifact.destroy?.();
    expect(existsSync(out)).toBe(true);
    expect(existsSync(file)).toBe(true);
  });

  it("lets parallel runs share one checksum file without losing lines", async () => {
    const files = await Promise.all(
      Array.from({ length: 10 }, async (_, i) => {
        const f = join(dir, `f${i}.img`);
        await writeFile(f, `content ${i}`);
        return f;
      }),
    );
    await Promise.all(files.map((f) => run({ output: "ALL.md5" }, [f])));
    const text = await readFile(join(dir, "ALL.md5"), "utf8");
    expect(text.split("\n").filter(Boolean)).toHaveLength(10);
    expect(
      execFileSync("md5sum", ["-c", "ALL.md5"], { cwd: dir, encoding: "utf8" }).match(/OK/g),
    ).toHaveLength(10);
    expect((await readdir(dir)).filter((n) => n.includes(".lock") || n.includes(".tmp"))).toEqual([]);
  });

  it("destroy removes only the checksum files it created", async () => {
    const file = join(dir, "disk.img");
    await writeFile(file, "x");
    const { result } = await run({ checksum_types: ["sha256"] }, [file]);
    await result.artifact.destroy?.();
    expect(await readdir(dir)).toEqual(["disk.img"]);
  });

  it("rejects bad input with [checksum] messages and writes nothing", async () => {
    await expect(run({ checksum_types: ["crc32"] }, [join(dir, "a")])).rejects.toThrow(
      /^\[checksum\] unknown checksum type "crc32"/,
    );
    await expect(run({ checksum_types: [] }, [join(dir, "a")])).rejects.toThrow(
      /^\[checksum\] checksum_types is empty/,
    );
    await expect(run({}, [])).rejects.toThrow(
      /^\[checksum\] the artifact "artifact-id" from qemu has no files/,
    );
    await expect(run({}, [join(dir, "missing.img")])).rejects.toThrow(
      /^\[checksum\] cannot read .*missing\.img/,
    );
    await expect(run({}, [dir])).rejects.toThrow(/is not a regular file/);
    await writeFile(join(dir, "a"), "x");
    await expect(run({ output: "{{.Nope}}.sum" }, [join(dir, "a")])).rejects.toThrow(
      /^\[checksum\] output: unknown field \{\{\.Nope\}\}/,
    );
    await expect(run({ output: "{{timestamp}}.sum" }, [join(dir, "a")])).rejects.toThrow(/is not supported/);
    expect(await readdir(dir)).toEqual(["a"]);
  });

  it("stops when interrupted and leaves no checksum file", async () => {
    const file = join(dir, "big.img");
    await writeFile(file, randomBytes(8 * 1024 * 1024));
    const ctx = makeContext(checksumSchema, dir, {}, { files: [file] });
    ctx.controller.abort(new Error("stop"));
    await expect(checksum.postProcess(ctx)).rejects.toThrow("stop");
    expect(await readdir(dir)).toEqual(["big.img"]);
  });
});

describe("checksum lines", () => {
  it("escape names with backslashes or newlines as GNU coreutils does, and read them back", () => {
    expect(checksumLine("ab", "a\\b\nc")).toBe("\\ab  a\\\\b\\nc\n");
    expect(lineFileName("\\ab  a\\\\b\\nc")).toBe("a\\b\nc");
    expect(lineFileName("ab *bin.img")).toBe("bin.img");
    expect(lineFileName("ab\tpacker.img")).toBe("packer.img");
    expect(lineFileName("# comment")).toBeUndefined();
    expect(mergeChecksumText("# c\nab  x\n", [{ name: "x", line: "cd  x\n" }])).toBe("# c\ncd  x\n");
  });
});
