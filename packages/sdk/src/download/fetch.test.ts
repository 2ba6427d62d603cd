import { spawn } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import {
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  utimesSync,
  writeFileSync,
} from "node:fs";
import { hostname, tmpdir } from "node:os";
import { dirname, join, posix } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { cacheKey, defaultDownloadCacheDir, type FetchArtifactOptions, fetchArtifact } from "./fetch.js";
import { closedPort, stall, startServer, type TestServer, trickle } from "./test-server.js";

const body = randomBytes(200_000);
const sum = (t: string, b: Buffer = body) => createHash(t).update(b).digest("hex");
const NAME = "kiln-test-1.0-amd64.iso";

let server: TestServer;
let work: string;
let cacheDir: string;

beforeAll(async () => {
  server = await startServer();
  server.file(`/releases/${NAME}`, body);
  server.file("/releases/other.iso", Buffer.from("other"));
  server.route("/redirect", (_req, res) => {
    res.writeHead(302, { location: `/releases/${NAME}` });
    res.end();
  });
});
afterAll(async () => {
  await server.close();
});
beforeEach(() => {
  work = mkdtempSync(join(tmpdir(), "kiln-dl-test-"));
  cacheDir = join(work, "cache");
});
afterEach(() => {
  rmSync(work, { recursive: true, force: true });
});

function fetchOpts(
  extra: Partial<FetchArtifactOptions> & Pick<FetchArtifactOptions, "checksum">,
): FetchArtifactOptions {
  return { urls: [server.url(`/releases/${NAME}`)], baseDir: work, cacheDir, idleTimeoutMs: 5_000, ...extra };
}

async function rejection(
  p: Promise<unknown>,
): Promise<{ code: string; message: string; hint?: string; diagnostics: unknown[] }> {
  try {
    await p;
  } catch (err) {
    return err as { code: string; message: string; diagnostics: unknown[] };
  }
  throw new Error("expected a rejection");
}

/** Files left in the cache, apart from remembered digests. */
const cacheFiles = () => {
  try {
    return readdirSync(cacheDir).filter((f) => f !== ".checksums");
  } catch {
    return [];
  }
};

describe("fetchArtifact over HTTP", () => {
  it.each([
    ["sha256:", () => `sha256:${sum("sha256")}`, "sha256"],
    ["md5:", () => `md5:${sum("md5")}`, "md5"],
    ["sha1:", () => `sha1:${sum("sha1")}`, "sha1"],
    ["sha512:", () => `sha512:${sum("sha512")}`, "sha512"],
    ["bare sha256", () => sum("sha256"), "sha256"],
    ["bare md5", () => sum("md5"), "md5"],
    ["bare sha1", () => sum("sha1"), "sha1"],
    ["bare sha512", () => sum("sha512"), "sha512"],
  ])("downloads and verifies with %s", async (_, checksum, type) => {
    const progress: [number, number | undefined, string][] = [];
    const r = await fetchArtifact(
      fetchOpts({ checksum: checksum(), onProgress: (d, t, l) => progress.push([d, t, l]) }),
    );
    expect(r.fromCache).toBe(false);
    expect(r.local).toBe(false);
    expect(r.checksum).toEqual({ type, value: sum(type) });
    expect(r.path).toBe(join(cacheDir, `${cacheKey(server.url(`/releases/${NAME}`), r.checksum)}.iso`));
    expect(readFileSync(r.path).equals(body)).toBe(true);
    expect(cacheFiles()).toEqual([`${cacheKey(server.url(`/releases/${NAME}`), r.checksum)}.iso`]);
    expect(progress.at(-1)).toEqual([body.length, body.length, `downloading ${NAME}`]);
    expect(progress.every(([, t]) => t === body.length)).toBe(true);
  });

  it("follows redirects", async () => {
    const r = await fetchArtifact(
      fetchOpts({ urls: [server.url("/redirect")], checksum: `sha256:${sum("sha256")}` }),
    );
    expect(readFileSync(r.path).equals(body)).toBe(true);
  });

  it("stores at targetPath (iso_target_path) when given", async () => {
    const r = await fetchArtifact(fetchOpts({ checksum: sum("sha256"), targetPath: "isos/my.iso" }));
    expect(r.path).toBe(join(work, "isos", "my.iso"));
    expect(readFileSync(r.path).equals(body)).toBe(true);
    expect(readdirSync(join(work, "isos"))).toEqual(["my.iso"]);
    const again = await fetchArtifact(fetchOpts({ checksum: sum("sha256"), targetPath: "isos/my.iso" }));
    expect(again.fromCache).toBe(true);
  });

  it("reuses a cached download without asking the server again", async () => {
    const path = `/cache-hit/${NAME}`;
    server.file(path, body);
    const opts = fetchOpts({ urls: [server.url(path)], checksum: `sha256:${sum("sha256")}` });
    const first = await fetchArtifact(opts);
    expect(first.fromCache).toBe(false);
    const labels: string[] = [];
    const second = await fetchArtifact({ ...opts, onProgress: (_d, _t, l) => labels.push(l) });
    expect(second).toMatchObject({ fromCache: true, path: first.path });
    expect(server.hits(path)).toBe(1);
    expect(labels).toEqual([]); // the digest remembered after verification is trusted: no re-hash
    // skipCache fetches again
    const third = await fetchArtifact({ ...opts, skipCache: true });
    expect(third.fromCache).toBe(false);
    expect(server.hits(path)).toBe(2);
  });

  it("re-verifies a cached file that changed, and downloads again when it is corrupt", async () => {
    const path = `/corrupt/${NAME}`;
    server.file(path, body);
    const opts = fetchOpts({ urls: [server.url(path)], checksum: `sha256:${sum("sha256")}` });
    const first = await fetchArtifact(opts);
    const bad = Buffer.from(body);
    bad[10] = (bad[10] as number) ^ 0xff;
    writeFileSync(first.path, bad);
    utimesSync(first.path, new Date(), new Date(Date.now() + 5000));
    const second = await fetchArtifact(opts);
    expect(second.fromCache).toBe(false);
    expect(server.hits(path)).toBe(2);
    expect(readFileSync(second.path).equals(body)).toBe(true);
  });

  it("finds a download cached from any of the URLs before using the network", async () => {
    const path = `/mirror2/${NAME}`;
    server.file(path, body);
    const port = await closedPort();
    const checksum = sum("sha256");
    await fetchArtifact(fetchOpts({ urls: [server.url(path)], checksum }));
    const r = await fetchArtifact(
      fetchOpts({ urls: [`http://127.0.0.1:${port}/${NAME}`, server.url(path)], checksum }),
    );
    expect(r).toMatchObject({ fromCache: true, url: server.url(path) });
    expect(server.hits(path)).toBe(1);
  });

  it("rejects a checksum mismatch naming expected and actual, leaving no file", async () => {
    const wrong = "0".repeat(64);
    const err = await rejection(fetchArtifact(fetchOpts({ checksum: `sha256:${wrong}` })));
    expect(err.code).toBe("KILN_CHECKSUM_MISMATCH");
    expect(err.message).toContain(`expected sha256:${wrong}`);
    expect(err.message).toContain(`got sha256:${sum("sha256")}`);
    expect(err.message).toContain(server.url(`/releases/${NAME}`));
    expect(err.hint).toMatch(/partial download was removed/);
    expect(cacheFiles()).toEqual([]);
  });

  it("accepts none with a warning", async () => {
    const warned: string[] = [];
    const r = await fetchArtifact(fetchOpts({ checksum: "none", onWarning: (m) => warned.push(m) }));
    expect(r.checksum).toEqual({ type: "none", value: "" });
    expect(warned).toHaveLength(1);
    expect(warned[0]).toMatch(/not be verified/);
    expect(r.warnings).toEqual(warned);
    expect(readFileSync(r.path).equals(body)).toBe(true);
    const again = await fetchArtifact(fetchOpts({ checksum: "none" }));
    expect(again.fromCache).toBe(true);
  });
});

describe("file: checksums", () => {
  const sumsPath = (p: string) => `/sums${p}`;

  it("reads a SHA256SUMS file over HTTP (GNU lines, *name)", async () => {
    server.file(
      sumsPath("/SHA256SUMS"),
      `${sum("sha256", Buffer.from("x"))} *other.iso\n${sum("sha256")} *${NAME}\n`,
    );
    const r = await fetchArtifact(fetchOpts({ checksum: `file:${server.url(sumsPath("/SHA256SUMS"))}` }));
    expect(r.checksum).toEqual({ type: "sha256", value: sum("sha256") });
  });

  it("reads BSD-style lines and ./name entries, inferring types", async () => {
    server.file(sumsPath("/CHECKSUM"), `# Fedora style\nSHA512 (${NAME}) = ${sum("sha512")}\n`);
    const bsd = await fetchArtifact(fetchOpts({ checksum: `file:${server.url(sumsPath("/CHECKSUM"))}` }));
    expect(bsd.checksum.type).toBe("sha512");
    server.file(sumsPath("/MD5SUMS"), `${sum("md5")}  ./${NAME}\n`);
    const md5 = await fetchArtifact(fetchOpts({ checksum: `file:${server.url(sumsPath("/MD5SUMS"))}` }));
    expect(md5.checksum).toEqual({ type: "md5", value: sum("md5") });
  });

  it("matches an entry by its path relative to the checksum file", async () => {
    server.file(`/tree/amd64/${NAME}`, body);
    server.file("/tree/SHA1SUMS", `${sum("sha1")}  amd64/${NAME}.old\n${sum("sha1")}  ./amd64/${NAME}\n`);
    const r = await fetchArtifact(
      fetchOpts({
        urls: [server.url(`/tree/amd64/${NAME}`)],
        checksum: `file:${server.url("/tree/SHA1SUMS")}`,
      }),
    );
    expect(r.checksum.type).toBe("sha1");
  });

  it("reads a local checksum file by relative path and by file:// URL", async () => {
    writeFileSync(join(work, "SHA256SUMS"), `${sum("sha256")}  ${NAME}\n`);
    const rel = await fetchArtifact(fetchOpts({ checksum: "file:./SHA256SUMS" }));
    expect(rel.checksum.value).toBe(sum("sha256"));
    const url = await fetchArtifact(
      fetchOpts({ checksum: `file:${pathToFileURL(join(work, "SHA256SUMS")).href}` }),
    );
    expect(url.checksum.value).toBe(sum("sha256"));
    const goGetter = await fetchArtifact(fetchOpts({ checksum: "file:file://./SHA256SUMS" }));
    expect(goGetter.fromCache).toBe(true);
  });

  it("says which names it looked for when the file has no entry", async () => {
    server.file(sumsPath("/NOPE"), `${sum("sha256")}  something-else.iso\n`);
    const err = await rejection(
      fetchArtifact(fetchOpts({ checksum: `file:${server.url(sumsPath("/NOPE"))}` })),
    );
    expect(err.code).toBe("KILN_CHECKSUM_NOT_FOUND");
    expect(err.message).toContain(`"${NAME}"`);
    expect(err.message).toContain("lists 1 file");
  });

  it("reports a checksum file that cannot be fetched", async () => {
    const err = await rejection(
      fetchArtifact(fetchOpts({ checksum: `file:${server.url("/sums/missing")}` })),
    );
    expect(err.code).toBe("KILN_CHECKSUM_FILE");
    expect(err.message).toMatch(/cannot read the checksum file .*missing: HTTP 404/);
    expect(cacheFiles()).toEqual([]);
  });
});

describe("local files", () => {
  it("verifies file:// URLs and plain paths in place, without copying", async () => {
    mkdirSync(join(work, "isos"));
    const file = join(work, "isos", NAME);
    writeFileSync(file, body);
    const labels: string[] = [];
    const plain = await fetchArtifact(
      fetchOpts({
        urls: [`isos/${NAME}`],
        checksum: sum("sha256"),
        onProgress: (_d, _t, l) => labels.push(l),
      }),
    );
    expect(plain).toMatchObject({ path: file, local: true, fromCache: false, url: `isos/${NAME}` });
    expect(labels).toContain(`verifying ${NAME}`);
    const url = await fetchArtifact(fetchOpts({ urls: [pathToFileURL(file).href], checksum: sum("sha256") }));
    expect(url.path).toBe(file);
    expect(cacheFiles()).toEqual([]); // nothing copied into the cache

    // The digest is remembered by path, size and mtime: no second hashing...
    labels.length = 0;
    await fetchArtifact(
      fetchOpts({ urls: [file], checksum: sum("sha256"), onProgress: (_d, _t, l) => labels.push(l) }),
    );
    expect(labels).toEqual([]);
    // ...until the file changes.
    writeFileSync(file, Buffer.concat([body, Buffer.from("!")]));
    const err = await rejection(fetchArtifact(fetchOpts({ urls: [file], checksum: sum("sha256") })));
    expect(err.code).toBe("KILN_CHECKSUM_MISMATCH");
    expect(err.message).toContain(file);
  });

  it("reports a missing local file", async () => {
    const err = await rejection(fetchArtifact(fetchOpts({ urls: ["nope.iso"], checksum: sum("sha256") })));
    expect(err.code).toBe("KILN_DOWNLOAD_NOT_FOUND");
    expect(err.message).toContain(join(work, "nope.iso"));
  });
});

describe("failures", () => {
  it("lists every URL tried with its reason", async () => {
    const port = await closedPort();
    const urls = [
      server.url("/missing.iso"),
      `http://127.0.0.1:${port}/x.iso`,
      "ftp://example.com/x.iso",
      "missing-local.iso",
    ];
    const err = await rejection(fetchArtifact(fetchOpts({ urls, checksum: sum("sha256") })));
    expect(err.code).toBe("KILN_DOWNLOAD_FAILED");
    expect(err.message).toContain("any of 4 URLs");
    expect(err.message).toContain(`${urls[0]}: HTTP 404 Not Found`);
    expect(err.message).toContain(`${urls[1]}: connection refused by 127.0.0.1:${port}`);
    expect(err.message).toContain(`${urls[2]}: unsupported URL scheme "ftp:"`);
    expect(err.message).toContain(`${urls[3]}: no such file`);
    expect(err.diagnostics).toHaveLength(4);
    expect(cacheFiles()).toEqual([]);
  });

  it("names the URL of a single 404 and of a refused connection", async () => {
    const e404 = await rejection(
      fetchArtifact(fetchOpts({ urls: [server.url("/missing.iso")], checksum: sum("sha256") })),
    );
    expect(e404.code).toBe("KILN_DOWNLOAD_NOT_FOUND");
    expect(e404.message).toBe(`Could not fetch ${server.url("/missing.iso")}: HTTP 404 Not Found`);
    const port = await closedPort();
    const refused = await rejection(
      fetchArtifact(fetchOpts({ urls: [`http://127.0.0.1:${port}/x.iso`], checksum: sum("sha256") })),
    );
    expect(refused.code).toBe("KILN_DOWNLOAD_FAILED");
    expect(refused.message).toContain(`http://127.0.0.1:${port}/x.iso: connection refused`);
  });

  it("moves on to the next URL when one fails", async () => {
    const port = await closedPort();
    const r = await fetchArtifact(
      fetchOpts({
        urls: [server.url("/missing.iso"), `http://127.0.0.1:${port}/x.iso`, server.url(`/releases/${NAME}`)],
        checksum: sum("sha256"),
      }),
    );
    expect(r.url).toBe(server.url(`/releases/${NAME}`));
  });

  it("times out a stalled download and removes the partial file", async () => {
    server.route("/stall.iso", stall(100_000, 1000));
    server.route("/silent.iso", () => undefined); // never answers
    const t0 = Date.now();
    const err = await rejection(
      fetchArtifact(
        fetchOpts({ urls: [server.url("/stall.iso")], checksum: sum("sha256"), idleTimeoutMs: 300 }),
      ),
    );
    expect(err.code).toBe("KILN_DOWNLOAD_TIMEOUT");
    expect(err.message).toContain(`${server.url("/stall.iso")}: timed out: no data received for 300ms`);
    expect(Date.now() - t0).toBeLessThan(5000);
    expect(cacheFiles()).toEqual([]);
    const silent = await rejection(
      fetchArtifact(
        fetchOpts({ urls: [server.url("/silent.iso")], checksum: sum("sha256"), idleTimeoutMs: 300 }),
      ),
    );
    expect(silent.code).toBe("KILN_DOWNLOAD_TIMEOUT");
    expect(cacheFiles()).toEqual([]);
  });

  it("fails when the connection closes early", async () => {
    server.route("/short.iso", (_req, res) => {
      res.writeHead(200, { "content-length": "5000" });
      res.write(Buffer.alloc(1000));
      setTimeout(() => res.destroy(), 20);
    });
    const err = await rejection(
      fetchArtifact(fetchOpts({ urls: [server.url("/short.iso")], checksum: sum("sha256") })),
    );
    expect(err.code).toBe("KILN_DOWNLOAD_FAILED");
    expect(err.message).toMatch(
      /closed before the download finished|connection closed after 1000 of 5000 bytes/,
    );
    expect(cacheFiles()).toEqual([]);
  });
});

describe("abort and concurrency", () => {
  it("aborts mid-download and removes the partial file", async () => {
    server.route("/slow.iso", trickle(body, 1000, 10));
    const ctl = new AbortController();
    let sawPartial = false;
    const p = fetchArtifact(
      fetchOpts({
        urls: [server.url("/slow.iso")],
        checksum: sum("sha256"),
        signal: ctl.signal,
        onProgress: (done) => {
          if (done >= 3000 && !ctl.signal.aborted) {
            sawPartial = cacheFiles().some((f) => f.endsWith(".partial"));
            ctl.abort(new Error("user pressed ^C"));
          }
        },
      }),
    );
    await expect(p).rejects.toThrow("user pressed ^C");
    expect(sawPartial).toBe(true);
    expect(cacheFiles()).toEqual([]);
  });

  it("rejects with the signal's reason (an AbortError by default)", async () => {
    server.route("/slow2.iso", trickle(body, 1000, 10));
    const ctl = new AbortController();
    setTimeout(() => ctl.abort(), 100);
    const err = await rejection(
      fetchArtifact(
        fetchOpts({ urls: [server.url("/slow2.iso")], checksum: sum("sha256"), signal: ctl.signal }),
      ),
    );
    expect(err).toBe(ctl.signal.reason);
    expect(cacheFiles()).toEqual([]);
  });

  it("downloads once when two fetches of the same URL run at the same time", async () => {
    server.route("/shared.iso", trickle(body, 20_000, 10));
    const opts = fetchOpts({ urls: [server.url("/shared.iso")], checksum: sum("sha256") });
    const labels: string[] = [];
    const onProgress = (_d: number, _t: number | undefined, l: string) => labels.push(l);
    const [a, b] = await Promise.all([
      fetchArtifact({ ...opts, onProgress }),
      fetchArtifact({ ...opts, onProgress }),
    ]);
    expect(a.path).toBe(b.path);
    expect([a.fromCache, b.fromCache].sort()).toEqual([false, true]);
    expect(labels).toContain(`waiting for another download of shared.iso`); // the second one waited on the lock
    expect(server.hits("/shared.iso")).toBe(1);
    expect(readFileSync(a.path).equals(body)).toBe(true);
    expect(cacheFiles()).toEqual([`${cacheKey(server.url("/shared.iso"), a.checksum)}.iso`]);
  });

  it("downloads once when two processes fetch the same URL at the same time", async () => {
    // Run the module in two real node processes: transpile it to a temporary folder.
    const ts = (await import("typescript")).default;
    const dir = mkdtempSync(join(tmpdir(), "kiln-dl-proc-"));
    try {
      // fetch.ts and the modules it imports by relative path, laid out as under src/.
      const todo = ["download/fetch.js"];
      for (const done = new Set<string>(); todo.length; ) {
        const f = todo.pop() as string;
        if (done.has(f)) continue;
        done.add(f);
        const src = readFileSync(
          fileURLToPath(new URL(`../${f.replace(/\.js$/, ".ts")}`, import.meta.url)),
          "utf8",
        );
        const js = ts.transpileModule(src, {
          compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 },
        }).outputText;
        for (const m of js.matchAll(/from "(\.\.?\/[^"]+\.js)"/g)) {
          todo.push(posix.join(posix.dirname(f), m[1] as string));
        }
        mkdirSync(join(dir, dirname(f)), { recursive: true });
        writeFileSync(join(dir, f), js);
      }
      writeFileSync(join(dir, "package.json"), '{"type":"module"}');
      symlinkSync(fileURLToPath(new URL("../../node_modules", import.meta.url)), join(dir, "node_modules"));
      writeFileSync(
        join(dir, "child.mjs"),
        [
          'import { fetchArtifact } from "./download/fetch.js";',
          "let told = false;",
          "const onProgress = (_d, _t, label) => {",
          '  if (label.startsWith("waiting") && !told) { told = true; process.stderr.write("WAITING\\n"); }',
          "};",
          "const r = await fetchArtifact({ ...JSON.parse(process.argv[2]), onProgress });",
          "process.stdout.write(JSON.stringify(r));",
        ].join("\n"),
      );
      // The server sends half the file, then holds the rest until the second process is seen waiting.
      let release!: () => void;
      const released = new Promise<void>((r) => {
        release = r;
      });
      let requested!: () => void;
      const firstRequest = new Promise<void>((r) => {
        requested = r;
      });
      server.route("/two-procs.iso", (_req, res) => {
        res.writeHead(200, { "content-length": String(body.length) });
        res.write(body.subarray(0, 100_000));
        requested();
        void released.then(() => res.end(body.subarray(100_000)));
      });
      const opts = {
        urls: [server.url("/two-procs.iso")],
        checksum: `sha256:${sum("sha256")}`,
        baseDir: work,
        cacheDir,
        idleTimeoutMs: 40_000,
      };
      const run = (onStderr?: (text: string) => void) =>
        new Promise<{ path: string; fromCache: boolean }>((resolve, reject) => {
          const child = spawn(process.execPath, [join(dir, "child.mjs"), JSON.stringify(opts)], {
            timeout: 45_000,
          });
          let out = "";
          let err = "";
          child.stdout.on("data", (b: Buffer) => {
            out += b.toString();
          });
          child.stderr.on("data", (b: Buffer) => {
            err += b.toString();
            onStderr?.(err);
          });
          child.on("close", (code) =>
            code === 0 ? resolve(JSON.parse(out)) : reject(new Error(`child exited ${code}: ${err}`)),
          );
        });
      const first = run();
      await firstRequest;
      const second = run((text) => {
        if (text.includes("WAITING")) release();
      });
      const [a, b] = await Promise.all([first, second]);
      expect(a?.path).toBe(b?.path);
      expect([a?.fromCache, b?.fromCache].sort()).toEqual([false, true]);
      expect(server.hits("/two-procs.iso")).toBe(1);
      expect(readFileSync(a?.path as string).equals(body)).toBe(true);
      expect(cacheFiles()).toEqual([
        `${cacheKey(opts.urls[0] as string, { type: "sha256", value: sum("sha256") })}.iso`,
      ]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);

  it("takes over a lock left by a dead process, or one nobody refreshes", async () => {
    server.file("/locked.iso", body);
    const url = server.url("/locked.iso");
    const key = cacheKey(url, { type: "sha256", value: sum("sha256") });
    mkdirSync(cacheDir, { recursive: true });
    writeFileSync(
      join(cacheDir, `${key}.lock`),
      JSON.stringify({ pid: 2 ** 22 + 12345, host: hostname(), token: "x" }),
    );
    writeFileSync(join(cacheDir, `${key}.partial`), "junk");
    const r = await fetchArtifact(fetchOpts({ urls: [url], checksum: sum("sha256") }));
    expect(readFileSync(r.path).equals(body)).toBe(true);
    expect(cacheFiles()).toEqual([`${key}.iso`]);

    // A lock from another host (its pid cannot be checked) is taken over once it goes stale.
    rmSync(r.path);
    writeFileSync(
      join(cacheDir, `${key}.lock`),
      JSON.stringify({ pid: process.pid, host: "elsewhere", token: "y" }),
    );
    const t0 = Date.now();
    const again = await fetchArtifact(fetchOpts({ urls: [url], checksum: sum("sha256"), lockStaleMs: 400 }));
    expect(Date.now() - t0).toBeGreaterThanOrEqual(300);
    expect(again.fromCache).toBe(false);
    expect(server.hits("/locked.iso")).toBe(2);
    expect(cacheFiles()).toEqual([`${key}.iso`]);
  });
});

describe("defaultDownloadCacheDir", () => {
  it("follows KILN_CACHE_DIR, then XDG_CACHE_HOME, then ~/.cache", () => {
    const saved = { k: process.env.KILN_CACHE_DIR, x: process.env.XDG_CACHE_HOME };
    try {
      process.env.KILN_CACHE_DIR = "/tmp/kc";
      expect(defaultDownloadCacheDir()).toBe("/tmp/kc/downloads");
      delete process.env.KILN_CACHE_DIR;
      process.env.XDG_CACHE_HOME = "/tmp/xdg";
      expect(defaultDownloadCacheDir()).toBe("/tmp/xdg/kiln/downloads");
      delete process.env.XDG_CACHE_HOME;
      expect(defaultDownloadCacheDir()).toMatch(/\.cache\/kiln\/downloads$/);
    } finally {
      if (saved.k === undefined) delete process.env.KILN_CACHE_DIR;
      else process.env.KILN_CACHE_DIR = saved.k;
      if (saved.x === undefined) delete process.env.XDG_CACHE_HOME;
      else process.env.XDG_CACHE_HOME = saved.x;
    }
  });
});
