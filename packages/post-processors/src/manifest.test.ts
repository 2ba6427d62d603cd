import { existsSync } from "node:fs";
import { readdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { decodeManifest, encodeManifest, manifest } from "./manifest.js";
import { manifestSchema } from "./schema.js";
import { makeContext, type RawOptions, tempFolder } from "./test-context.js";

let dir: string;
let cleanup: () => Promise<void>;

beforeEach(async () => {
  ({ dir, cleanup } = await tempFolder());
});
afterEach(async () => {
  vi.restoreAllMocks();
  await cleanup();
});

async function runManifest(
  options: RawOptions<typeof manifestSchema>,
  files: string[],
  extra: Parameters<typeof makeContext>[4] = {},
) {
  const ctx = makeContext(manifestSchema, dir, options, { files }, extra);
  const result = await manifest.postProcess(ctx);
  return { ctx, result };
}

describe("manifest", () => {
  it("writes Packer's layout byte for byte", async () => {
    vi.spyOn(Date, "now").mockReturnValue(1_700_000_000_999);
    const disk = join(dir, "disk.qcow2");
    await writeFile(disk, "12345");
    await runManifest(
      { strip_path: true, custom_data: { zeta: "last", alpha: "x <y> & z", mid: 'quote " and \\ and \n' } },
      [disk, join(dir, "missing.img")],
    );
    // Hand-written from Packer's structs and Go's json.MarshalIndent(v, "", "  "): fields in
    // declaration order, map keys sorted, <>& escaped as \u003c \u003e \u0026, no final newline.
    const expected = [
      "{",
      '  "builds": [',
      "    {",
      '      "name": "ubuntu",',
      '      "builder_type": "qemu",',
      '      "build_time": 1700000000,',
      '      "files": [',
      "        {",
      '          "name": "disk.qcow2",',
      '          "size": 5',
      "        },",
      "        {",
      '          "name": "missing.img",',
      '          "size": 0',
      "        }",
      "      ],",
      '      "artifact_id": "artifact-id",',
      '      "packer_run_uuid": "run-uuid-1",',
      '      "custom_data": {',
      '        "alpha": "x \\u003cy\\u003e \\u0026 z",',
      '        "mid": "quote \\" and \\\\ and \\n",',
      '        "zeta": "last"',
      "      }",
      "    }",
      "  ],",
      '  "last_run_uuid": "run-uuid-1"',
      "}",
    ].join("\n");
    expect(await readFile(join(dir, "packer-manifest.json"), "utf8")).toBe(expected);
  });

  it("omits build_time with strip_time, writes null for no files and no custom_data, keeps full paths", async () => {
    await runManifest({ strip_time: true, output: "out/m.json" }, []);
    const text = await readFile(join(dir, "out", "m.json"), "utf8");
    expect(text).toBe(
      [
        "{",
        '  "builds": [',
        "    {",
        '      "name": "ubuntu",',
        '      "builder_type": "qemu",',
        '      "files": null,',
        '      "artifact_id": "artifact-id",',
        '      "packer_run_uuid": "run-uuid-1",',
        '      "custom_data": null',
        "    }",
        "  ],",
        '  "last_run_uuid": "run-uuid-1"',
        "}",
      ].join("\n"),
    );
    const disk = join(dir, "d.raw");
    await writeFile(disk, "abc");
    await runManifest({ strip_time: true, output: "out/m.json" }, [disk]);
    const doc = JSON.parse(await readFile(join(dir, "out", "m.json"), "utf8"));
    expect(doc.builds[1].files).toEqual([{ name: disk, size: 3 }]);
  });

  it("records the run's checkpoint keys as kiln_checkpoints, and keeps them when it appends", async () => {
    const checkpoints = [
      { index: 0, step: "connect", key: "a".repeat(64), how: "restored" as const },
      { index: 1, step: "shell", key: "b".repeat(64), how: "saved" as const },
    ];
    const ctx = makeContext(manifestSchema, dir, { strip_time: true }, { files: [], checkpoints });
    await manifest.postProcess(ctx);
    await runManifest({ strip_time: true }, [], { source: "other" });
    const text = await readFile(join(dir, "packer-manifest.json"), "utf8");
    const doc = JSON.parse(text);
    expect(doc.builds[0].kiln_checkpoints).toEqual(checkpoints);
    // Without checkpoints, the entry is Packer's: no kiln_checkpoints key at all.
    expect(Object.keys(doc.builds[1])).not.toContain("kiln_checkpoints");
    expect(text.indexOf('"kiln_checkpoints"')).toBeGreaterThan(text.indexOf('"custom_data"'));
  });

  it("passes the input artifact through and keeps it", async () => {
    const { ctx, result } = await runManifest({}, []);
    expect(result.artifact).toBe(ctx.artifact);
    expect(result.keepInput).toBe(true);
  });

  it("appends builds of the same run", async () => {
    await runManifest({ strip_time: true }, [], { source: "a" });
    await runManifest({ strip_time: true }, [], { source: "b" });
    const doc = decodeManifest(await readFile(join(dir, "packer-manifest.json"), "utf8"));
    expect(doc.builds?.map((b) => b.name)).toEqual(["a", "b"]);
    expect(doc.last_run_uuid).toBe("run-uuid-1");
  });

  it("appends across runs without --force, as Packer does", async () => {
    await runManifest({}, [], { source: "a", runUuid: "run-1" });
    await runManifest({}, [], { source: "b", runUuid: "run-2" });
    const doc = decodeManifest(await readFile(join(dir, "packer-manifest.json"), "utf8"));
    expect(doc.builds?.map((b) => [b.name, b.packer_run_uuid])).toEqual([
      ["a", "run-1"],
      ["b", "run-2"],
    ]);
    expect(doc.last_run_uuid).toBe("run-2");
  });

  it("starts a fresh list with --force when the file is from another run, and appends with --force in the same run", async () => {
    await runManifest({}, [], { source: "a", runUuid: "run-1" });
    await runManifest({}, [], { source: "b", runUuid: "run-2", force: true });
    await runManifest({}, [], { source: "c", runUuid: "run-2", force: true });
    const doc = decodeManifest(await readFile(join(dir, "packer-manifest.json"), "utf8"));
    expect(doc.builds?.map((b) => b.name)).toEqual(["b", "c"]);
    expect(doc.last_run_uuid).toBe("run-2");
  });

  it("loses nothing when 20 runs append at once, and leaves no lock or temporary file", async () => {
    await Promise.all(
      Array.from({ length: 20 }, (_, i) => runManifest({ strip_time: true }, [], { source: `s${i}` })),
    );
    const doc = decodeManifest(await readFile(join(dir, "packer-manifest.json"), "utf8"));
    expect(doc.builds?.map((b) => b.name).sort()).toEqual(
      Array.from({ length: 20 }, (_, i) => `s${i}`).sort(),
    );
    expect(await readdir(dir)).toEqual(["packer-manifest.json"]);
  });

  it("rewrites an existing Packer manifest in Packer's normal form, dropping unknown keys", async () => {
    const file = join(dir, "packer-manifest.json");
    await writeFile(
      file,
      JSON.stringify({
        builds: [
          {
            name: "old",
            builder_type: "docker",
            build_time: 0,
            files: [],
            artifact_id: "x",
            packer_run_uuid: "r0",
            custom_data: {},
            extra: 1,
          },
        ],
        last_run_uuid: "r0",
        other: true,
      }),
    );
    await runManifest({ strip_time: true }, [], { runUuid: "r0" });
    const text = await readFile(file, "utf8");
    expect(text).toContain(
      '"name": "old",\n      "builder_type": "docker",\n      "files": [],\n      "artifact_id": "x"',
    );
    expect(text).toContain('"custom_data": {}');
    expect(text).not.toContain("extra");
    expect(text).not.toContain("other");
  });

  it("fails with [manifest] on an unreadable manifest and leaves it as it was", async () => {
    const file = join(dir, "packer-manifest.json");
    await writeFile(file, "{ not json");
    await expect(runManifest({}, [])).rejects.toThrow(/^\[manifest\] cannot parse .*packer-manifest\.json/);
    expect(await readFile(file, "utf8")).toBe("{ not json");
    expect(existsSync(`${file}.lock`)).toBe(false);
    await writeFile(file, JSON.stringify({ builds: [{ build_time: "yesterday" }] }));
    await expect(runManifest({}, [])).rejects.toThrow(/builds\[0\]\.build_time is not an integer/);
  });

  it("writes sensitive values in custom_data as <sensitive> and says which keys held one", async () => {
    const secret = "Sup3r secret/pass+word";
    const { ctx } = await runManifest(
      {
        custom_data: {
          password: secret,
          url: `https://admin:${encodeURIComponent(secret)}@example.com/`,
          region: "ch-gva-2",
        },
      },
      [],
      { secrets: [secret] },
    );
    const text = await readFile(join(dir, "packer-manifest.json"), "utf8");
    expect(text).not.toContain("Sup3r");
    expect(decodeManifest(text).builds?.[0]?.custom_data).toEqual({
      password: "<sensitive>",
      url: "https://admin:<sensitive>@example.com/",
      region: "ch-gva-2",
    });
    expect(ctx.rec.says.join("\n")).toMatch(/custom_data "password", "url" hold a sensitive value/);
    expect(ctx.rec.says.join("\n")).not.toContain("Sup3r");
  });

  it("refuses a {{.Field}} template in output (the manifest's name takes none), and leaves no file", async () => {
    await expect(runManifest({ output: "{{.BuildName}}.json" }, [])).rejects.toThrow(
      /^\[manifest\] output \{\{\.BuildName\}\}\.json: the manifest's name takes no \{\{\.Field\}\} templates/,
    );
    expect(await readdir(dir)).toEqual([]);
    await runManifest({ output: "lit-${{x}}.json" }, []); // a kiln expression left as text is a name
    expect(existsSync(join(dir, "lit-${{x}}.json"))).toBe(true);
  });

  it("waits for a lock held by someone else", async () => {
    const lock = join(dir, "packer-manifest.json.lock");
    await writeFile(lock, "other\n");
    const pending = runManifest({}, []);
    await new Promise((r) => setTimeout(r, 100));
    await import("node:fs/promises").then((fs) => fs.unlink(lock));
    await pending;
    expect(existsSync(join(dir, "packer-manifest.json"))).toBe(true);
    expect(existsSync(lock)).toBe(false);
  });

  it("stops waiting for the lock when the run is interrupted", async () => {
    const lock = join(dir, "packer-manifest.json.lock");
    await writeFile(lock, "other\n");
    const ctx = makeContext(manifestSchema, dir, {}, { files: [] });
    const pending = manifest.postProcess(ctx);
    setTimeout(() => ctx.controller.abort(new Error("interrupted by test")), 50);
    await expect(pending).rejects.toThrow("interrupted by test");
    expect(await readFile(lock, "utf8")).toBe("other\n");
    expect(existsSync(join(dir, "packer-manifest.json"))).toBe(false);
  });
});

describe("encodeManifest", () => {
  it("escapes like Go: U+2028/2029, control characters, lone surrogates", () => {
    const text = encodeManifest({
      builds: [
        {
          name: "a\u2028b\u2029c\u0001\b\f\t\r",
          builder_type: "\ud800x",
          build_time: 0,
          files: null,
          artifact_id: "é😀",
          packer_run_uuid: "",
          custom_data: null,
        },
      ],
      last_run_uuid: "",
    });
    expect(text).toContain('"name": "a\\u2028b\\u2029c\\u0001\\b\\f\\t\\r"');
    expect(text).toContain('"builder_type": "\ufffdx"');
    expect(text).toContain('"artifact_id": "é😀"');
  });

  it("sorts custom_data keys by UTF-8 bytes", () => {
    const text = encodeManifest({
      builds: [
        {
          name: "",
          builder_type: "",
          build_time: 0,
          files: null,
          artifact_id: "",
          packer_run_uuid: "",
          custom_data: { b: "", "\uff5e": "", "😀": "", B: "", a: "" },
        },
      ],
      last_run_uuid: "",
    });
    const keys = [...text.matchAll(/^ {8}"([^"]+)":/gm)].map((m) => m[1]);
    expect(keys).toEqual(["B", "a", "b", "\uff5e", "😀"]);
  });
});
