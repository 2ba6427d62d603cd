import { execFileSync } from "node:child_process";
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { runTool } from "./common.js";
import { glob, segmentRegExp } from "./glob.js";
import { cdPath, findIsoTool, makeIso } from "./make.js";

const CI = process.env.CI === "true";
const onPath = (name: string) =>
  (process.env.PATH ?? "").split(":").some((d) => d !== "" && existsSync(join(d, name)));
const hasXorriso = onPath("xorriso");
const hasGenisoimage = onPath("genisoimage");
const hasIsoinfo = onPath("isoinfo");
if (!hasXorriso && !CI) {
  // biome-ignore lint/suspicious/noConsole: tell the developer why tests are skipped
  console.warn("[kiln] skipping the ISO image tests: xorriso is not installed (apt-get install xorriso)");
}
if (!hasGenisoimage && !CI) {
  // biome-ignore lint/suspicious/noConsole: tell the developer why a test is skipped
  console.warn("[kiln] skipping the genisoimage test: it is not installed (apt-get install genisoimage)");
}
const withXorriso = hasXorriso || CI ? it : it.skip;
const withGenisoimage = hasGenisoimage || CI ? it : it.skip;

const LONG = "Autounattend-Very-Long-MixedCase-File-Name-For-Rock-Ridge-And-Joliet.Config.xml";
const USER_DATA = "#cloud-config\nusers:\n  - name: kiln\n    plain_text_passwd: kiln\n";
const META_DATA = "instance-id: kiln-test\nlocal-hostname: kiln\n";

// Everything this file creates lives under one folder, TMPDIR included, so leftovers are visible.
let root: string;
let work: string;
let savedTmp: string | undefined;
beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), "kiln-iso-test-"));
  savedTmp = process.env.TMPDIR;
  mkdirSync(join(root, "tmp"));
  process.env.TMPDIR = join(root, "tmp");
});
afterAll(() => {
  if (savedTmp === undefined) delete process.env.TMPDIR;
  else process.env.TMPDIR = savedTmp;
  rmSync(root, { recursive: true, force: true });
});
beforeEach(() => {
  work = mkdtempSync(join(root, "work-"));
});
afterEach(() => {
  expect(readdirSync(join(root, "tmp"))).toEqual([]); // the staging folder is always removed
  rmSync(work, { recursive: true, force: true });
});

function xorriso(...args: string[]): string {
  return execFileSync("xorriso", args, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
}
/** Rock Ridge listing: `mode path` lines. */
function listing(iso: string): Map<string, string> {
  const out = xorriso("-indev", iso, "-find", "/", "-exec", "lsdl");
  const m = new Map<string, string>();
  for (const line of out.split("\n")) {
    const match = /^(\S+)\s.*'(.*)'$/.exec(line);
    if (match) m.set(match[2] as string, match[1] as string);
  }
  return m;
}
function extract(iso: string, path: string): string {
  const dest = join(work, `extract-${Math.random().toString(36).slice(2)}`);
  xorriso("-osirrox", "on", "-indev", iso, "-extract", path, dest);
  return readFileSync(dest, "utf8");
}
function volumeId(iso: string): string {
  return /Volume Id\s*:\s*(.*)/.exec(xorriso("-indev", iso, "-pvd_info"))?.[1]?.trim() ?? "";
}
function write(rel: string, text: string, mode?: number): string {
  const p = join(work, rel);
  mkdirSync(join(p, ".."), { recursive: true });
  writeFileSync(p, text);
  if (mode !== undefined) chmodSync(p, mode);
  return p;
}

describe("makeIso", () => {
  withXorriso("builds a cidata seed with long mixed-case names that Linux tools read back", async () => {
    write(`extra/${LONG}`, "<unattend/>\n");
    write("extra/scripts/setup.sh", "#!/bin/sh\necho hi\n", 0o755);
    const r = await makeIso({
      files: ["extra"],
      content: { "user-data": USER_DATA, "/meta-data": META_DATA },
      label: "cidata",
      output: "out/seed.iso",
      baseDir: work,
    });
    expect(r.tool).toBe("xorriso");
    expect(r.output).toBe(join(work, "out", "seed.iso"));
    expect(r.files).toEqual([`extra/${LONG}`, "extra/scripts/setup.sh", "meta-data", "user-data"]);
    expect(readdirSync(join(work, "out"))).toEqual(["seed.iso"]); // no temporary output left

    expect(volumeId(r.output)).toBe("cidata");
    const ls = listing(r.output);
    expect([...ls.keys()].sort()).toEqual([
      "/",
      "/extra",
      `/extra/${LONG}`,
      "/extra/scripts",
      "/extra/scripts/setup.sh",
      "/meta-data",
      "/user-data",
    ]);
    expect(ls.get("/user-data")).toBe("-rw-r--r--");
    expect(ls.get("/extra/scripts/setup.sh")).toBe("-rwxr-xr-x");
    expect(extract(r.output, "/user-data")).toBe(USER_DATA);
    expect(extract(r.output, "/meta-data")).toBe(META_DATA);
    expect(extract(r.output, `/extra/${LONG}`)).toBe("<unattend/>\n");

    if (hasIsoinfo) {
      const rr = execFileSync("isoinfo", ["-R", "-l", "-i", r.output], { encoding: "utf8" });
      expect(rr).toContain(LONG);
      expect(rr).toContain("user-data");
      const joliet = execFileSync("isoinfo", ["-J", "-f", "-i", r.output], { encoding: "utf8" });
      expect(joliet.split("\n")).toContain(`/extra/${LONG}`);
      expect(execFileSync("isoinfo", ["-d", "-i", r.output], { encoding: "utf8" })).toMatch(
        /Volume id: cidata/,
      );
    }
  });

  withXorriso(
    "follows Packer's cd_files rules: files, folders, trailing slash, globs, links; cd_content wins",
    async () => {
      write("a.txt", "file a\n");
      write("dir/one.cfg", "one\n");
      write("dir/two.cfg", "two\n");
      write("dir/nested/deep.txt", "deep\n");
      write("flat/x.txt", "x\n");
      write("flat/sub/y.txt", "y\n");
      write("globbed/k1.yaml", "k1\n");
      write("globbed/k2.yaml", "k2\n");
      write("globbed/skip.txt", "no\n");
      write("target.txt", "through the link\n");
      symlinkSync(join(work, "target.txt"), join(work, "link.txt"));
      const r = await makeIso({
        files: ["a.txt", "dir", "flat/", "globbed/k?.yaml", "link.txt"],
        content: { "a.txt": "overridden\n", "dir/one.cfg": "content wins\n", "new/dir/file": "made\n" },
        output: "cd.iso",
        baseDir: work,
      });
      expect(r.files).toEqual([
        "a.txt",
        "dir/nested/deep.txt",
        "dir/one.cfg",
        "dir/two.cfg",
        "k1.yaml",
        "k2.yaml",
        "link.txt",
        "new/dir/file",
        "sub/y.txt",
        "x.txt",
      ]);
      expect(volumeId(r.output)).toBe("kiln");
      const ls = listing(r.output);
      expect(ls.get("/link.txt")).toMatch(/^-/); // a file, not a symlink
      expect(extract(r.output, "/link.txt")).toBe("through the link\n");
      expect(extract(r.output, "/a.txt")).toBe("overridden\n");
      expect(extract(r.output, "/dir/one.cfg")).toBe("content wins\n");
      expect(extract(r.output, "/dir/nested/deep.txt")).toBe("deep\n");
      expect(extract(r.output, "/sub/y.txt")).toBe("y\n");
    },
  );

  withXorriso("puts a folder's contents at the root with dir/*", async () => {
    write("http/user-data", USER_DATA);
    write("http/meta-data", META_DATA);
    const r = await makeIso({ files: ["http/*"], label: "cidata", output: "seed.iso", baseDir: work });
    expect(r.files).toEqual(["meta-data", "user-data"]);
    expect(extract(r.output, "/user-data")).toBe(USER_DATA);
  });

  withGenisoimage("works with genisoimage too", async () => {
    write(`long/${LONG}`, "x\n");
    const r = await makeIso({
      files: ["long"],
      content: { "user-data": USER_DATA },
      label: "cidata",
      output: "g.iso",
      baseDir: work,
      tool: "genisoimage",
    });
    expect(r.tool).toBe("genisoimage");
    if (hasXorriso) {
      expect(volumeId(r.output)).toBe("cidata");
      expect(listing(r.output).has(`/long/${LONG}`)).toBe(true);
      expect(extract(r.output, "/user-data")).toBe(USER_DATA);
    }
  });

  it("refuses cd_content paths outside the CD before writing anything", async () => {
    for (const key of ["../escape", "/../../etc/passwd", "a/../../b", "..", ""]) {
      await expect(
        makeIso({ content: { [key]: "x" }, output: "x.iso", baseDir: work }),
      ).rejects.toMatchObject({ code: "KILN_ISO_PATH" });
    }
    expect(existsSync(join(work, "x.iso"))).toBe(false);
    expect(cdPath("/a//b/./c/")).toBe("a/b/c");
    expect(cdPath("a/../b")).toBe("b");
  });

  it("names the package to install when no tool is found", async () => {
    const empty = mkdtempSync(join(work, "path-"));
    const err = await makeIso({
      content: { a: "b" },
      output: "x.iso",
      baseDir: work,
      searchPath: empty,
    }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: "KILN_ISO_TOOL_MISSING" });
    expect((err as Error).message).toContain("xorriso, mkisofs, genisoimage");
    expect((err as { hint: string }).hint).toContain("apt-get install xorriso");
    expect(await findIsoTool(empty)).toBeUndefined();
  });

  it("reports missing cd_files and globs that match nothing", async () => {
    await expect(
      makeIso({ files: ["nope.txt"], output: "x.iso", baseDir: work, tool: "true" }),
    ).rejects.toMatchObject({
      code: "KILN_ISO_FILE_NOT_FOUND",
      message: expect.stringContaining(join(work, "nope.txt")),
    });
    await expect(
      makeIso({ files: ["*.nothing"], output: "x.iso", baseDir: work, tool: "true" }),
    ).rejects.toMatchObject({
      code: "KILN_ISO_FILE_NOT_FOUND",
    });
    write("d1/same.txt", "1");
    write("d2/same.txt", "2");
    await expect(
      makeIso({ files: ["d1/same.txt", "d2/same.txt"], output: "x.iso", baseDir: work, tool: "true" }),
    ).rejects.toThrow(/two different files at \/same.txt/);
  });

  it("cleans up and reports the tool's output when it fails", async () => {
    const fake = write(
      "bin/xorriso",
      "#!/bin/sh\necho 'xorriso : FAILURE : cannot do it' >&2\nexit 5\n",
      0o755,
    );
    write("f.txt", "f");
    const err = await makeIso({ files: ["f.txt"], output: "out.iso", baseDir: work, tool: fake }).catch(
      (e: unknown) => e,
    );
    expect(err).toMatchObject({ code: "KILN_ISO_FAILED" });
    expect((err as Error).message).toContain("exit 5");
    expect((err as Error).message).toContain("cannot do it");
    expect(readdirSync(work).sort()).toEqual(["bin", "f.txt"]);
  });

  it("rejects labels longer than 32 characters", async () => {
    await expect(makeIso({ label: "x".repeat(33), output: "x.iso", baseDir: work })).rejects.toMatchObject({
      code: "KILN_ISO_LABEL",
    });
  });
});

/**
 * A file that cannot be read, even by root (the tests run as root here, where chmod 000 does not
 * stop a read): a symbolic link to a write-only /proc/sys file, whose open for reading fails with
 * EACCES for root too; as another user, a chmod 000 file.
 */
function unreadableFile(path: string): string | undefined {
  if (process.getuid?.() !== 0) {
    writeFileSync(path, "secret");
    chmodSync(path, 0);
    return path;
  }
  const target = [
    "/proc/sys/vm/drop_caches",
    "/proc/sys/vm/compact_memory",
    "/proc/sys/net/ipv4/route/flush",
  ].find((p) => {
    try {
      readFileSync(p);
      return false;
    } catch (e) {
      return (e as NodeJS.ErrnoException).code === "EACCES" && statSync(p).isFile();
    }
  });
  if (!target) return undefined;
  symlinkSync(target, path);
  return path;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe("file system errors name the option, the path and the errno", () => {
  it("a cd_files entry that cannot be read is a KILN_ISO_PATH error, not a crash", async (t) => {
    const secret = unreadableFile(join(work, "secret.txt"));
    if (!secret) {
      // No write-only /proc/sys file on this kernel: skipped, said so — never under CI.
      if (process.env.CI === "true")
        throw new Error("no unreadable file can be made here (see unreadableFile)");
      t.skip();
      return;
    }
    mkdirSync(join(work, "dir"));
    symlinkSync(secret, join(work, "dir", "inner.txt"));
    for (const files of [["secret.txt"], ["dir"]]) {
      const err = await makeIso({ files, output: "x.iso", baseDir: work, tool: "true" }).catch(
        (e: unknown) => e,
      );
      expect(err).toMatchObject({ code: "KILN_ISO_PATH" });
      expect((err as Error).message).toMatch(/^cd_files: .*(secret|inner)\.txt cannot be read \(EACCES/);
      expect((err as { hint: string }).hint).toContain("read access");
    }
    expect(readdirSync(work).filter((f) => f.endsWith(".tmp"))).toEqual([]);
  });

  it("a symbolic link loop is named as such, not 'does not exist'", async () => {
    symlinkSync("loop", join(work, "loop"));
    const err = await makeIso({ files: ["loop"], output: "x.iso", baseDir: work, tool: "true" }).catch(
      (e: unknown) => e,
    );
    expect(err).toMatchObject({ code: "KILN_ISO_PATH" });
    expect((err as Error).message).toMatch(/cd_files: .*loop is a symbolic link that loops \(ELOOP/);
  });
});

describe("runTool", () => {
  it("on abort, stops the tool and waits for it to exit before rejecting: no stray .tmp file", async () => {
    // A tool that, told to stop, still writes its output for a moment (as xorriso or mcopy may).
    const fake = write(
      "bin/fake-mkisofs",
      [
        "#!/bin/sh",
        'while [ $# -gt 0 ]; do [ "$1" = -o ] && out=$2; shift; done',
        "trap 'sleep 0.4; echo late >\"$out\"; exit 1' TERM",
        `echo $$ >"${join(work, "pid")}"`,
        'echo started >"$out"',
        "while :; do sleep 0.05; done",
        "",
      ].join("\n"),
      0o755,
    );
    write("f.txt", "f");
    const ac = new AbortController();
    const made = makeIso({
      files: ["f.txt"],
      output: "out.iso",
      baseDir: work,
      tool: fake,
      signal: ac.signal,
    });
    for (let i = 0; i < 200 && !existsSync(join(work, "pid")); i++)
      await new Promise((r) => setTimeout(r, 20));
    await new Promise((r) => setTimeout(r, 100)); // let the trap be set
    const pid = Number(readFileSync(join(work, "pid"), "utf8"));
    ac.abort(new Error("stop now"));
    await expect(made).rejects.toThrow("stop now");
    expect(alive(pid)).toBe(false);
    await new Promise((r) => setTimeout(r, 600));
    expect(readdirSync(work).sort()).toEqual(["bin", "f.txt", "pid"]);
  });

  it("sends SIGKILL when the tool ignores SIGTERM, and has a time limit with a clear error", async () => {
    const pidFile = join(work, "pid");
    const ac = new AbortController();
    const started = Date.now();
    const running = runTool(
      "sh",
      ["-c", `trap "" TERM; echo $$ >"${pidFile}"; while :; do sleep 0.05; done`],
      {
        signal: ac.signal,
        killGraceMs: 300,
      },
    );
    for (let i = 0; i < 200 && !existsSync(pidFile); i++) await new Promise((r) => setTimeout(r, 20));
    const pid = Number(readFileSync(pidFile, "utf8"));
    ac.abort(new Error("aborted"));
    await expect(running).rejects.toThrow("aborted");
    expect(alive(pid)).toBe(false);
    expect(Date.now() - started).toBeGreaterThanOrEqual(300);

    const slow = runTool("sleep", ["30"], { timeoutMs: 200, timeoutCode: "KILN_ISO_FAILED" });
    await expect(slow).rejects.toMatchObject({
      code: "KILN_ISO_FAILED",
      message: "sleep did not finish within 200 ms; it was stopped",
    });
    // An abort before the start spawns nothing.
    await expect(runTool("sleep", ["30"], { signal: AbortSignal.abort(new Error("early")) })).rejects.toThrow(
      "early",
    );
  });
});

describe("glob", () => {
  it("follows Go's filepath.Match rules", () => {
    expect(segmentRegExp("*.yaml").test("a.yaml")).toBe(true);
    expect(segmentRegExp("*.yaml").test(".hidden.yaml")).toBe(true);
    expect(segmentRegExp("k?.cfg").test("k1.cfg")).toBe(true);
    expect(segmentRegExp("k?.cfg").test("k12.cfg")).toBe(false);
    expect(segmentRegExp("[a-c]x").test("bx")).toBe(true);
    expect(segmentRegExp("[^a-c]x").test("bx")).toBe(false);
    expect(segmentRegExp("[^a-c]x").test("dx")).toBe(true);
    expect(segmentRegExp("\\*lit").test("*lit")).toBe(true);
    expect(segmentRegExp("\\*lit").test("xlit")).toBe(false);
    expect(() => segmentRegExp("[abc")).toThrow(/unterminated/);
  });

  it("expands patterns across folders, relative to the base", async () => {
    write("a/1/x.txt", "");
    write("a/2/x.txt", "");
    write("a/2/y.md", "");
    expect(await glob("a/*/x.txt", work)).toEqual([join(work, "a/1/x.txt"), join(work, "a/2/x.txt")]);
    expect(await glob(join(work, "a/2/*"), "/")).toEqual([join(work, "a/2/x.txt"), join(work, "a/2/y.md")]);
    expect(await glob("a/*/none", work)).toEqual([]);
    expect(statSync(work).isDirectory()).toBe(true);
  });
});
