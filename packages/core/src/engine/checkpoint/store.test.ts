import { mkdirSync, mkdtempSync, readdirSync, rmSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { Deferred } from "../../expr/deferred.js";
import { canonicalValue, digest, hashPath } from "./hash.js";
import { describeChange } from "./keys.js";
import { pruneCache } from "./prune.js";
import { CheckpointStore } from "./store.js";

let cache: string;
beforeEach(() => {
  cache = mkdtempSync(join(tmpdir(), "kiln-store-"));
});
afterEach(() => rmSync(cache, { recursive: true, force: true }));

const key = (n: number) => digest({ n });
const inputs = { step: "s", type: "t", plugin: "p@1", options: "o", files: {} };

async function save(store: CheckpointStore, n: number, bytes: number, parent?: { key: string; id: string }) {
  const dir = await store.temp("partial");
  writeFileSync(join(dir, "blob"), Buffer.alloc(bytes));
  const e = await store.publish(dir, {
    version: 1,
    key: key(n),
    id: `id${n}`,
    index: parent ? 1 : 0,
    step: `s${n}`,
    run: "r",
    buildFile: "/b.yaml",
    builder: "t",
    plugin: "p@1",
    created: new Date().toISOString(),
    parent: parent ?? null,
    inputs,
    data: {},
  });
  return { key: e.meta.key, id: e.meta.id, dir: e.dir };
}

describe("the checkpoint store", () => {
  it("publishes atomically, finds the chain, and refuses a child whose parent was replaced", async () => {
    const store = await CheckpointStore.open(cache);
    const a = await save(store, 1, 10);
    const b = await save(store, 2, 20, a);
    const found = await store.find(b.key);
    expect(typeof found === "object" && found.parent?.key).toBe(a.key);
    // Another save of a's key (another id) replaces it: b was taken on the old one.
    const dir = await store.temp("partial");
    writeFileSync(join(dir, "blob"), "new");
    await store.publish(dir, { ...(await readMeta(store, a.key)), id: "other" }, true);
    expect(await store.find(b.key)).toBe(
      "the checkpoint it was taken on top of was replaced (its checkpoint 1 step before)",
    );
    expect(await store.find(key(99))).toBeUndefined();
    rmSync(join(a.dir, "blob"));
    expect(await store.find(a.key)).toBe("blob is missing");
  });

  it("keeps a usable checkpoint another build published first; this save stays aside", async () => {
    const store = await CheckpointStore.open(cache);
    const a = await save(store, 1, 10);
    const dir = await store.temp("partial");
    writeFileSync(join(dir, "blob"), "mine");
    const mine = await store.publish(dir, { ...(await readMeta(store, a.key)), id: "mine" });
    expect(mine.published).toBe(false);
    expect(mine.dir).toMatch(/\/\.aside-\d+-/);
    const found = await store.find(a.key);
    expect(typeof found === "object" && found.id).toBe("id1");
  });

  it("removes what dead processes left, keeps what live ones work on", async () => {
    const store = await CheckpointStore.open(cache);
    mkdirSync(join(store.dir, ".partial-999999999-abc"));
    mkdirSync(join(store.dir, ".scratch-999999999-abc"));
    const mine = await store.temp("scratch");
    await store.sweep();
    expect(readdirSync(store.dir).filter((n) => n.startsWith("."))).toEqual([".salt", mine.split("/").pop()]);
  });

  it("prune --keep-size removes the least recently used with the checkpoints on top; prune removes all", async () => {
    const store = await CheckpointStore.open(cache);
    const a = await save(store, 1, 1000);
    const b = await save(store, 2, 1000, a);
    const c = await save(store, 3, 1000);
    const old = new Date(Date.now() - 3600_000);
    utimesSync(a.dir, old, old);
    utimesSync(b.dir, new Date(), new Date());
    const r = await pruneCache(store, { keepBytes: 1500 });
    // a is oldest: it goes, and b with it (b cannot be restored without a).
    expect(r.removed.map((e) => e.meta.key).sort()).toEqual([a.key, b.key].sort());
    expect((await store.list()).map((e) => e.meta.key)).toEqual([c.key]);
    expect(r.freedBytes).toBe(2000);
    const all = await pruneCache(store);
    expect(all.removed).toHaveLength(1);
    expect(await store.list()).toEqual([]);
  });
});

async function readMeta(store: CheckpointStore, k: string) {
  const { readFile } = await import("node:fs/promises");
  const {
    files: _f,
    size: _s,
    ...meta
  } = JSON.parse(await readFile(join(store.pathOf(k), "meta.json"), "utf8"));
  return meta;
}

describe("key inputs", () => {
  const scope = {
    isSecret: (t: string) => t.includes("hunter2"),
    salt: Buffer.alloc(32, 1),
    variables: { v: "1", other: "x" },
    locals: {},
    env: { HOME: "/h" },
    cwd: "/c",
  };

  it("takes in the values a build-time expression reads, and hashes secrets", () => {
    const t = (s: string) => canonicalValue({ a: Deferred.parse(s) }, scope);
    const base = t("${{ build.Host }}-${{ var.v }}");
    expect(base.volatile).toBeUndefined();
    expect(digest(t("${{ build.Host }}-${{ var.v }}").value)).toBe(digest(base.value));
    const changed = canonicalValue(
      { a: Deferred.parse("${{ build.Host }}-${{ var.v }}") },
      {
        ...scope,
        variables: { v: "2", other: "x" },
      },
    );
    expect(digest(changed.value)).not.toBe(digest(base.value));
    // A variable it does not read does not matter.
    const otherChanged = canonicalValue(
      { a: Deferred.parse("${{ build.Host }}-${{ var.v }}") },
      {
        ...scope,
        variables: { v: "1", other: "y" },
      },
    );
    expect(digest(otherChanged.value)).toBe(digest(base.value));
    expect(t("${{ uuid() }} ${{ build.Host }}").volatile).toBe("it calls uuid() while building");
    const secret = JSON.stringify(canonicalValue({ pw: "hunter2" }, scope).value);
    expect(secret).not.toContain("hunter2");
    expect(secret).toContain("$secret");
  });

  it("hashes folders by names, contents and the executable bit; says what changed", async () => {
    const d = join(cache, "f");
    mkdirSync(join(d, "sub"), { recursive: true });
    writeFileSync(join(d, "sub", "a.sh"), "echo");
    const h1 = await hashPath(d);
    writeFileSync(join(d, "sub", "a.sh"), "echo", { mode: 0o755 });
    const { chmodSync } = await import("node:fs");
    chmodSync(join(d, "sub", "a.sh"), 0o755);
    const h2 = await hashPath(d);
    expect(h2).not.toBe(h1);
    expect(await hashPath(join(d, "nope"))).toBe("missing");
    expect(describeChange({ ...inputs, files: { "x.sh": "1" } }, { ...inputs, files: { "x.sh": "2" } })).toBe(
      "s: x.sh changed",
    );
    expect(describeChange(inputs, inputs)).toBeUndefined();
  });
});
