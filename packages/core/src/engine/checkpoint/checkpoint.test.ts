/**
 * Checkpoints through the engine, with a test builder whose "machine" is a text file
 * (test/fixtures/plugins/node_modules/kiln-builder-ckpt): what is restored, what runs again,
 * up to date, unusable checkpoints, cache: false, --no-cache, saves that fail or are
 * interrupted, secrets. The QEMU side is tested in @kiln/builder-qemu.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeEach, describe, expect, it } from "vitest";
import { loadBuildFile } from "../../load/index.js";
import { runBuild } from "../build.js";
import { EventBus, type KilnEvent } from "../events.js";
import { CheckpointStore } from "./store.js";

const fixtures = fileURLToPath(new URL("../../../test/fixtures/plugins/", import.meta.url));
const roots: string[] = [];
afterAll(() => {
  for (const r of roots) rmSync(r, { recursive: true, force: true });
});

let dir: string;
let cache: string;
beforeEach(() => {
  dir = mkdtempSync(join(fixtures, "tmp-ckpt-"));
  cache = mkdtempSync(join(tmpdir(), "kiln-ckpt-cache-"));
  roots.push(dir, cache);
});

interface Spec {
  memory?: number;
  output?: string;
  builder?: string;
  provisioners?: string[];
  variables?: string;
}

const file = (s: Spec = {}) => `kiln: 1
plugins: { ckpt: kiln-builder-ckpt, append: kiln-builder-ckpt }
${s.variables ?? ""}
sources:
  m:
    type: ckpt
    output: ${s.output ?? "out.txt"}
    log: ${join(dir, "log.txt")}
    memory: ${s.memory ?? 256}
${s.builder ?? ""}
builds:
  - name: b
    sources: [m]
    provisioners:
${(s.provisioners ?? ["- { type: append, text: one, file: one.sh }", "- { type: append, text: two }"]).map((p) => `      ${p}`).join("\n")}
`;

interface Run {
  ok: boolean;
  events: KilnEvent[];
  /** What the builder did (boot, connect, save n, restore n, shutdown). */
  log: string[];
  /** What the machine holds at the end. */
  output: string;
  says: string[];
  error?: unknown;
}

async function build(
  s: Spec = {},
  opts: { force?: boolean; noCache?: boolean; signalOn?: (e: KilnEvent) => boolean } = {},
): Promise<Run> {
  writeFileSync(join(dir, "log.txt"), "");
  const path = join(dir, "build.yaml");
  writeFileSync(path, file(s));
  const loaded = loadBuildFile({ file: path, env: {} });
  const bus = new EventBus();
  const events: KilnEvent[] = [];
  const ctl = new AbortController();
  bus.subscribe((e) => {
    events.push(e);
    if (opts.signalOn?.(e)) setTimeout(() => ctl.abort(new Error("SIGINT")), 20);
  });
  const r = await runBuild({
    loaded,
    bus,
    signal: ctl.signal,
    force: opts.force === true,
    cache: { cacheDir: cache, ...(opts.noCache ? { noCache: true } : {}) },
    env: {},
    graceMs: 500,
  });
  let output = "";
  try {
    output = readFileSync(join(dir, s.output ?? "out.txt"), "utf8");
  } catch {}
  return {
    ok: r.ok,
    events,
    log: readFileSync(join(dir, "log.txt"), "utf8").trim().split("\n").filter(Boolean),
    output,
    says: events.flatMap((e) => (e.type === "say" ? [e.text] : [])),
    error: r.runs[0]?.error,
  };
}

const ck = (r: Run, action: string) =>
  r.events.filter((e) => e.type === "checkpoint" && e.action === action) as Extract<
    KilnEvent,
    { type: "checkpoint" }
  >[];
const entries = () => readdirSync(join(cache, "checkpoints"));
const keysOnDisk = () => entries().filter((n) => /^[0-9a-f]{64}$/.test(n));

describe("checkpoints in the engine", () => {
  it("saves after connect and after each provisioner; an unchanged rebuild is up to date", async () => {
    writeFileSync(join(dir, "one.sh"), "echo 1\n");
    const full = await build();
    expect(full.ok, String(full.error)).toBe(true);
    expect(full.log).toEqual(["boot", "connect", "save 0", "save 1", "save 2", "shutdown"]);
    expect(full.output).toBe("booted memory=256\none echo 1\ntwo\n");
    expect(ck(full, "saved").map((e) => e.index)).toEqual([0, 1, 2]);
    expect(keysOnDisk()).toHaveLength(3);
    const artifact = full.events.find((e) => e.type === "artifact");
    expect(artifact?.type === "artifact" && artifact.artifact.checkpoints?.map((c) => c.how)).toEqual([
      "saved",
      "saved",
      "saved",
    ]);

    const g = globalThis as { __ckptCreated?: number };
    const created = g.__ckptCreated;
    const again = await build();
    expect(again.ok).toBe(true);
    expect(again.log).toEqual([]);
    // Found up to date before the builder's code was even loaded (quick.ts).
    expect(g.__ckptCreated).toBe(created);
    expect(readdirSync(join(dir, ".kiln", "outputs"))).toEqual(["b.ckpt.m.json"]);
    expect(again.events.some((e) => e.type === "up-to-date")).toBe(true);
    expect(again.says.some((t) => t.startsWith("Up to date:"))).toBe(true);
    expect(again.events.filter((e) => e.type === "artifact")).toHaveLength(1);

    // A changed option, a changed file: not up to date (and the output is not replaced without --force).
    const opt = await build({
      provisioners: ["- { type: append, text: one, file: one.sh }", "- { type: append, text: deux }"],
    });
    expect(opt.says).toContain("Not up to date: append: its options changed");
    expect(opt.ok).toBe(false);
    writeFileSync(join(dir, "one.sh"), "echo 1 \n");
    expect((await build()).says).toContain("Not up to date: append: one.sh changed");
    writeFileSync(join(dir, "one.sh"), "echo 1\n");
    expect((await build()).events.some((e) => e.type === "up-to-date")).toBe(true);

    // The output changed by hand: no longer up to date, and it says why.
    writeFileSync(join(dir, "out.txt"), "tampered\n");
    const tampered = await build({}, { force: false });
    expect(tampered.says.find((t) => t.startsWith("Not up to date"))).toMatch(/changed after the build/);
  });

  it("a changed last provisioner reruns only it, from the checkpoint before it", async () => {
    writeFileSync(join(dir, "one.sh"), "echo 1\n");
    expect((await build()).ok).toBe(true);
    const r = await build(
      { provisioners: ["- { type: append, text: one, file: one.sh }", "- { type: append, text: TWO }"] },
      { force: true },
    );
    expect(r.ok, String(r.error)).toBe(true);
    expect(r.says.find((t) => t.startsWith("Not up to date"))).toBe(
      "Not up to date: append: its options changed",
    );
    expect(r.log).toEqual(["restore 1", "connect", "save 2", "shutdown"]);
    expect(r.output).toBe("booted memory=256\none echo 1\nTWO\n");
    const restored = ck(r, "restored")[0];
    expect(restored).toMatchObject({ index: 1, step: "append", skipped: ["connect", "append"] });
    expect(restored?.dir).toContain(join(cache, "checkpoints"));
    const artifact = r.events.find((e) => e.type === "artifact");
    expect(artifact?.type === "artifact" && artifact.artifact.checkpoints?.map((c) => c.how)).toEqual([
      "restored",
      "restored",
      "saved",
    ]);
  });

  it("a changed early file reruns from there; a changed builder option reruns everything", async () => {
    writeFileSync(join(dir, "one.sh"), "echo 1\n");
    expect((await build()).ok).toBe(true);
    writeFileSync(join(dir, "one.sh"), "echo 1 but new\n");
    const file1 = await build({}, { force: true });
    expect(file1.log).toEqual(["restore 0", "connect", "save 1", "save 2", "shutdown"]);
    expect(file1.output).toBe("booted memory=256\none echo 1 but new\ntwo\n");
    expect(file1.says).toContain("Not up to date: append: one.sh changed");

    const mem = await build({ memory: 512 }, { force: true });
    expect(mem.log).toEqual(["boot", "connect", "save 0", "save 1", "save 2", "shutdown"]);
    expect(mem.output).toBe("booted memory=512\none echo 1 but new\ntwo\n");
    expect(ck(mem, "restored")).toHaveLength(0);

    // An option that only names the output: everything is restored, nothing provisioned again.
    const renamed = await build({ memory: 512, output: "other.txt" });
    expect(renamed.log).toEqual(["restore 2", "connect", "shutdown"]);
    expect(renamed.output).toBe(mem.output);
  });

  it("a damaged checkpoint is skipped with a warning and the run goes on from the one before", async () => {
    writeFileSync(join(dir, "one.sh"), "echo 1\n");
    const full = await build();
    const [k0, k1] = ck(full, "saved");
    // Checkpoint 1's file changed after it was saved (found before anything starts).
    const f1 = join(k1?.dir as string, "machine.txt");
    writeFileSync(f1, "garbage\n");
    const r = await build(
      { provisioners: ["- { type: append, text: one, file: one.sh }", "- { type: append, text: x3 }"] },
      { force: true },
    );
    expect(r.ok, String(r.error)).toBe(true);
    expect(ck(r, "unusable")[0]).toMatchObject({
      index: 1,
      reason: "machine.txt was changed after it was saved",
    });
    expect(r.log).toEqual(["restore 0", "connect", "save 1", "save 2", "shutdown"]);
    expect(r.output).toBe("booted memory=256\none echo 1\nx3\n");
    expect(readFileSync(f1, "utf8")).not.toBe("garbage\n"); // replaced by the new save

    // Damage only the resume step can see (size and time kept): it cleans up, warns and runs
    // from the checkpoint before.
    const r1 = ck(r, "saved").find((e) => e.index === 1);
    const g1 = join(r1?.dir as string, "machine.txt");
    const st = statSync(g1);
    writeFileSync(g1, "x".repeat(st.size));
    utimesSync(g1, st.atime, st.mtime);
    const r2 = await build(
      { provisioners: ["- { type: append, text: one, file: one.sh }", "- { type: append, text: x4 }"] },
      { force: true },
    );
    expect(r2.ok, String(r2.error)).toBe(true);
    expect(ck(r2, "unusable")[0]).toMatchObject({ index: 1, reason: "machine.txt of append is damaged" });
    expect(r2.log).toEqual(["restore 0", "connect", "save 1", "save 2", "shutdown"]);
    expect(r2.output).toBe("booted memory=256\none echo 1\nx4\n");
    expect(k0).toBeDefined();
  });

  it("a checkpoint the builder refuses (another hypervisor version) is skipped", async () => {
    writeFileSync(join(dir, "one.sh"), "echo 1\n");
    await build();
    const r = await build(
      {
        builder: "    refuse: append",
        provisioners: ["- { type: append, text: one, file: one.sh }", "- { type: append, text: x5 }"],
      },
      { force: true },
    );
    expect(ck(r, "unusable")[0]).toMatchObject({ index: 1, reason: "refused append" });
    expect(r.log[0]).toBe("restore 0");
  });

  it("cache: false stops checkpoints at that step, and such a run is never up to date", async () => {
    writeFileSync(join(dir, "one.sh"), "echo 1\n");
    const spec = {
      provisioners: [
        "- { type: append, text: one, file: one.sh, cache: false }",
        "- { type: append, text: two }",
      ],
    };
    const first = await build(spec);
    expect(first.log).toEqual(["boot", "connect", "save 0", "shutdown"]);
    expect(ck(first, "off")[0]).toMatchObject({ index: 1, reason: "append (provisioner 1): cache: false" });
    const second = await build(spec, { force: true });
    expect(second.log).toEqual(["restore 0", "connect", "shutdown"]);
    expect(second.output).toBe(first.output);
    const third = await build(spec);
    expect(third.events.some((e) => e.type === "up-to-date")).toBe(false);
    expect(third.ok).toBe(false); // the output exists and it may not be replaced without --force
  });

  it("a provisioner that does not say what it reads is not checkpointed", async () => {
    const r = await build({
      provisioners: ["- { type: append, text: a }", "- { type: append, text: b, no_inputs: true }"],
    });
    expect(r.log).toEqual(["boot", "connect", "save 0", "save 1", "shutdown"]);
    expect(ck(r, "off")[0]?.reason).toBe(
      "append (provisioner 2): the append provisioner does not say which files it reads",
    );
  });

  it("--no-cache neither restores nor saves; unsupported options turn checkpoints off", async () => {
    writeFileSync(join(dir, "one.sh"), "echo 1\n");
    await build();
    const r = await build({ memory: 256 }, { force: true, noCache: true });
    expect(r.log).toEqual(["boot", "connect", "shutdown"]);
    expect(ck(r, "off")[0]?.reason).toBe("--no-cache");
    const u = await build({ builder: "    unsupported: the test says no" }, { force: true });
    expect(u.log).toEqual(["boot", "connect", "shutdown"]);
    expect(ck(u, "off")[0]?.reason).toBe("the test says no");
  });

  it("Ctrl-C while saving leaves no half checkpoint; a failed save lets the build go on", async () => {
    writeFileSync(join(dir, "one.sh"), "echo 1\n");
    const r = await build(
      { builder: "    hang_on_save: 1" },
      { signalOn: (e) => e.type === "checkpoint" && e.action === "saving" && e.index === 1 },
    );
    expect(r.ok).toBe(false);
    expect(r.log).toEqual(["boot", "connect", "save 0", "save 1"]);
    expect(entries().filter((n) => n.startsWith(".partial") || n.startsWith(".scratch"))).toEqual([]);
    expect(keysOnDisk()).toHaveLength(1);
    expect(readdirSync(dir).filter((n) => n.startsWith("out"))).toEqual([]);

    const f = await build({ builder: "    fail_save_at: 1" });
    expect(f.ok).toBe(true);
    expect(f.log).toEqual(["restore 0", "connect", "save 1", "shutdown"]);
    expect(f.events.find((e) => e.type === "warning")).toMatchObject({
      text: "checkpoint after append not saved (no space left on the test device); the build goes on without checkpoints",
    });
    expect(entries().filter((n) => n.startsWith(".partial"))).toEqual([]);
  });

  it("secrets enter keys only as hashes: not in meta.json, not in the record, and a new secret is a new key", async () => {
    const variables = (pw: string) => `variables:\n  pw: { type: string, sensitive: true, default: "${pw}" }`;
    const spec = (pw: string) => ({
      variables: variables(pw),
      provisioners: ['- { type: append, text: "pw=${{ var.pw }}" }'],
    });
    const a = await build(spec("Very-Secret-1"));
    expect(a.ok, String(a.error)).toBe(true);
    const texts = keysOnDisk().map((k) => readFileSync(join(cache, "checkpoints", k, "meta.json"), "utf8"));
    texts.push(readFileSync(join(dir, ".out.txt.kiln-inputs.json"), "utf8"));
    for (const t of texts) expect(t).not.toContain("Very-Secret-1");
    const b = await build(spec("Very-Secret-2"), { force: true });
    expect(b.log[0]).toBe("restore 0");
    expect(ck(a, "saved")[1]?.key).not.toBe(ck(b, "saved")[0]?.key);
  });

  it("a value new in every run (build.PackerRunUUID) is not checkpointed", async () => {
    const r = await build({ provisioners: ['- { type: append, text: "run ${{ build.PackerRunUUID }}" }'] });
    expect(ck(r, "off")[0]?.reason).toMatch(/reads build.PackerRunUUID, which is new in every run/);
    expect(r.log).toEqual(["boot", "connect", "save 0", "shutdown"]);
  });

  it("two runs saving the same checkpoint at once: the first is kept, the second goes on without", async () => {
    const path = join(dir, "two.yaml");
    writeFileSync(
      path,
      `kiln: 1
plugins: { ckpt: kiln-builder-ckpt, append: kiln-builder-ckpt }
sources:
  m1: { type: ckpt, output: o1.txt }
  m2: { type: ckpt, output: o2.txt }
builds:
  - name: b
    sources: [m1, m2]
    provisioners:
      - { type: append, text: one }
      - { type: append, text: two }
`,
    );
    const bus = new EventBus();
    const events: KilnEvent[] = [];
    bus.subscribe((e) => events.push(e));
    const loaded = loadBuildFile({ file: path, env: {} });
    const r = await runBuild({
      loaded,
      bus,
      parallel: 2,
      signal: new AbortController().signal,
      cache: { cacheDir: cache },
      env: {},
    });
    expect(r.ok, String(r.runs.map((x) => x.error))).toBe(true);
    const conflicts = events.filter(
      (e) => e.type === "checkpoint" && e.reason?.startsWith("another build saved"),
    );
    expect(conflicts.length).toBeGreaterThan(0);
    expect(readFileSync(join(dir, "o1.txt"), "utf8")).toBe(readFileSync(join(dir, "o2.txt"), "utf8"));
    expect(keysOnDisk()).toHaveLength(3);
    expect(entries().filter((n) => n.startsWith(".aside") || n.startsWith(".scratch"))).toEqual([]);
  });

  it("keeps the cache private: 0700 folder, 0600 salt", async () => {
    await CheckpointStore.open(cache);
    expect(statSync(join(cache, "checkpoints")).mode & 0o777).toBe(0o700);
    expect(statSync(join(cache, "checkpoints", ".salt")).mode & 0o777).toBe(0o600);
  });
});
