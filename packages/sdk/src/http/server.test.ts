import { mkdir, mkdtemp, rm, symlink, writeFile } from "node:fs/promises";
import { Agent, request as httpRequest } from "node:http";
import { createServer as createNetServer, type Server as NetServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { isKilnError } from "@kiln/core";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import {
  formatHttpRequestLog,
  type HttpRequestLog,
  type HttpServerHandle,
  startHttpServer,
} from "./server.js";

interface Res {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

/** A raw request: the path is sent exactly as given (no normalisation by a URL parser). */
function raw(
  port: number,
  path: string,
  options: { method?: string; headers?: Record<string, string>; agent?: Agent } = {},
): Promise<Res> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      {
        host: "127.0.0.1",
        port,
        path,
        method: options.method ?? "GET",
        headers: options.headers,
        agent: options.agent ?? false,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () =>
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }),
        );
        res.on("error", reject);
      },
    );
    req.on("error", reject);
    req.end();
  });
}

/** A random base port in a high range, to keep parallel test files apart. */
function randomBase(): number {
  return 20_000 + Math.floor(Math.random() * 20_000);
}

let root: string;
let www: string;
const SECRET = "top secret, outside http_directory";

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), "kiln-http-"));
  www = join(root, "www");
  await mkdir(join(www, "sub"), { recursive: true });
  await mkdir(join(www, "withindex"), { recursive: true });
  await writeFile(join(root, "secret.txt"), SECRET);
  await writeFile(join(www, "user-data"), "#cloud-config\nautoinstall:\n  version: 1\n");
  await writeFile(join(www, "meta-data"), "instance-id: kiln\n");
  await writeFile(join(www, "preseed.cfg"), "d-i debian-installer/locale string en_US\n");
  await writeFile(join(www, "config.json"), '{"a":1}');
  await writeFile(join(www, "blob"), Buffer.from([0, 1, 2, 3, 255, 0, 7]));
  await writeFile(join(www, "sub", "ks.cfg"), "text\nreboot\n");
  await writeFile(join(www, "withindex", "index.html"), "<h1>hi</h1>");
  await writeFile(join(www, "empty.txt"), "");
  await writeFile(join(www, "a b.txt"), "spaced");
  await symlink(join(root, "secret.txt"), join(www, "escape-link"));
  await symlink(join(www, "sub", "ks.cfg"), join(www, "inside-link"));
});

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

describe("startHttpServer", () => {
  let srv: HttpServerHandle;
  const logs: HttpRequestLog[] = [];
  beforeAll(async () => {
    const base = randomBase();
    srv = await startHttpServer({
      directory: www,
      content: {
        "/inline.txt": "from http_content",
        "meta-data": "instance-id: from-content\n", // without the leading slash, and over the file
        "/bin/data": new Uint8Array([9, 8, 7]),
      },
      bindAddress: "127.0.0.1",
      portMin: base,
      portMax: base + 50,
      onRequest: (e) => logs.push(e),
    });
  });
  afterAll(async () => {
    await srv.close();
  });

  it("setContent replaces the served content while running", async () => {
    const other = await startHttpServer({
      content: { "/a": "one" },
      bindAddress: "127.0.0.1",
      portMin: 0,
      portMax: 0,
    });
    try {
      expect((await raw(other.port, "/a")).body.toString()).toBe("one");
      other.setContent({ "/b": `port ${other.port}` });
      expect((await raw(other.port, "/b")).body.toString()).toBe(`port ${other.port}`);
      expect((await raw(other.port, "/a")).status).toBe(404);
    } finally {
      await other.close();
    }
  });

  it("listens on the bind address in the range and reports ip, port and url", () => {
    expect(srv.ip).toBe("127.0.0.1");
    expect(srv.url).toBe(`http://127.0.0.1:${srv.port}`);
  });

  it("serves files with Content-Type and Content-Length", async () => {
    const r = await fetch(`${srv.url}/user-data`);
    expect(r.status).toBe(200);
    expect(r.headers.get("content-type")).toBe("text/plain; charset=utf-8");
    const body = await r.text();
    expect(body).toBe("#cloud-config\nautoinstall:\n  version: 1\n");
    expect(r.headers.get("content-length")).toBe(String(Buffer.byteLength(body)));

    const j = await fetch(`${srv.url}/config.json`);
    expect(j.headers.get("content-type")).toBe("application/json");
    expect(await j.json()).toEqual({ a: 1 });

    const b = await raw(srv.port, "/blob");
    expect(b.headers["content-type"]).toBe("application/octet-stream");
    expect([...b.body]).toEqual([0, 1, 2, 3, 255, 0, 7]);

    const s = await fetch(`${srv.url}/sub/ks.cfg?x=1`);
    expect(await s.text()).toBe("text\nreboot\n");
    expect(s.headers.get("content-type")).toBe("text/plain; charset=utf-8");

    expect(await (await fetch(`${srv.url}/a%20b.txt`)).text()).toBe("spaced");
    const e = await raw(srv.port, "/empty.txt");
    expect(e.status).toBe(200);
    expect(e.headers["content-length"]).toBe("0");
  });

  it("answers HEAD with the headers of GET and no body", async () => {
    const r = await raw(srv.port, "/preseed.cfg", { method: "HEAD" });
    expect(r.status).toBe(200);
    expect(r.headers["content-length"]).toBe("41");
    expect(r.body.length).toBe(0);
    const c = await raw(srv.port, "/inline.txt", { method: "HEAD" });
    expect(c.headers["content-length"]).toBe("17");
    expect(c.body.length).toBe(0);
  });

  it("serves http_content, which wins over a file of the same path", async () => {
    expect(await (await fetch(`${srv.url}/inline.txt`)).text()).toBe("from http_content");
    expect(await (await fetch(`${srv.url}/meta-data`)).text()).toBe("instance-id: from-content\n");
    const bin = await raw(srv.port, "/bin/data");
    expect([...bin.body]).toEqual([9, 8, 7]);
    expect(bin.headers["content-type"]).toBe("text/plain; charset=utf-8");
  });

  it("answers 404 for missing paths and 405 for other methods", async () => {
    expect((await fetch(`${srv.url}/nope`)).status).toBe(404);
    expect((await fetch(`${srv.url}/sub/nope.cfg`)).status).toBe(404);
    const p = await raw(srv.port, "/user-data", { method: "POST" });
    expect(p.status).toBe(405);
    expect(p.headers.allow).toBe("GET, HEAD");
    expect((await raw(srv.port, "/%E0%A4%A")).status).toBe(400);
  });

  it("serves byte ranges", async () => {
    const r = await raw(srv.port, "/preseed.cfg", { headers: { Range: "bytes=0-2" } });
    expect(r.status).toBe(206);
    expect(r.body.toString()).toBe("d-i");
    expect(r.headers["content-range"]).toBe("bytes 0-2/41");
    const tail = await raw(srv.port, "/inline.txt", { headers: { Range: "bytes=-7" } });
    expect(tail.body.toString()).toBe("content");
    expect((await raw(srv.port, "/preseed.cfg", { headers: { Range: "bytes=100-" } })).status).toBe(416);
  });

  it("redirects a folder without a slash, serves index.html, lists a folder without one", async () => {
    const r = await raw(srv.port, "/sub");
    expect(r.status).toBe(301);
    expect(r.headers.location).toBe("/sub/");
    expect((await raw(srv.port, "/withindex/")).body.toString()).toBe("<h1>hi</h1>");
    const list = await raw(srv.port, "/sub/");
    expect(list.status).toBe(200);
    expect(list.body.toString()).toContain('href="ks.cfg"');
  });

  it.each([
    "/../secret.txt",
    "/../../../../../../etc/passwd",
    "/%2e%2e/secret.txt",
    "/%2E%2E/secret.txt",
    "/..%2fsecret.txt",
    "/..%2Fsecret.txt",
    "/sub/..%2f..%2fsecret.txt",
    "/sub/%2e%2e%2f%2e%2e%2fsecret.txt",
    "/%2e%2e%2f%2e%2e%2f%2e%2e%2fetc%2fpasswd",
    "/..\\secret.txt",
    "/%5c..%5csecret.txt",
    "//../secret.txt",
    "/./../secret.txt",
    "/escape-link",
    "/sub/../../secret.txt",
  ])("does not serve %s from outside the folder", async (path) => {
    const r = await raw(srv.port, path);
    expect([403, 404]).toContain(r.status);
    expect(r.body.toString()).not.toContain(SECRET);
    expect(r.body.toString()).not.toContain("root:");
  });

  it("answers 403 to a traversal that resolves outside, and follows links that stay inside", async () => {
    expect((await raw(srv.port, "/..%2fsecret.txt")).status).toBe(403);
    expect((await raw(srv.port, "/escape-link")).status).toBe(403);
    expect((await raw(srv.port, "/inside-link")).body.toString()).toBe("text\nreboot\n");
  });

  it("logs every request through the callback (GET /user-data 200)", async () => {
    logs.length = 0;
    await fetch(`${srv.url}/user-data`).then((r) => r.text());
    await fetch(`${srv.url}/missing`).then((r) => r.text());
    await fetch(`${srv.url}/inline.txt`).then((r) => r.text());
    await new Promise((r) => setTimeout(r, 20));
    expect(logs.map(formatHttpRequestLog)).toEqual([
      "GET /user-data 200",
      "GET /missing 404",
      "GET /inline.txt 200",
    ]);
    expect(logs[0]).toMatchObject({ source: "directory", bytes: 40, remoteAddress: "127.0.0.1" });
    expect(logs[2]?.source).toBe("content");
  });
});

describe("ports, binding and closing", () => {
  const toClose: Array<{ close(): unknown }> = [];
  afterEach(async () => {
    for (const s of toClose.splice(0)) await s.close();
  });

  function holdPort(port: number): Promise<NetServer> {
    return new Promise((resolve, reject) => {
      const s = createNetServer();
      s.once("error", reject);
      s.listen(port, "127.0.0.1", () => resolve(s));
    });
  }

  it("takes the first free port of the range", async () => {
    const base = randomBase();
    const held = await holdPort(base);
    toClose.push({ close: () => new Promise((r) => held.close(r)) });
    const srv = await startHttpServer({ bindAddress: "127.0.0.1", portMin: base, portMax: base + 10 });
    toClose.push(srv);
    expect(srv.port).toBe(base + 1);
  });

  it("fails clearly when every port of the range is taken", async () => {
    const base = randomBase();
    const a = await startHttpServer({ bindAddress: "127.0.0.1", portMin: base, portMax: base + 1 });
    const b = await startHttpServer({ bindAddress: "127.0.0.1", portMin: base, portMax: base + 1 });
    toClose.push(a, b);
    expect([a.port, b.port].sort()).toEqual([base, base + 1]);
    const err = await startHttpServer({ bindAddress: "127.0.0.1", portMin: base, portMax: base + 1 }).catch(
      (e: unknown) => e,
    );
    expect(isKilnError(err, "KILN_HTTP_NO_PORT")).toBe(true);
    expect((err as Error).message).toBe(
      `no free port for the HTTP server on 127.0.0.1 between ${base} and ${base + 1}`,
    );
    expect((err as { hint?: string }).hint).toMatch(/http_port_min/);
  });

  it("binds 0.0.0.0 in 8000–9000 by default and reports a reachable address", async () => {
    const srv = await startHttpServer({ content: { "/x": "y" } });
    toClose.push(srv);
    expect(srv.bindAddress).toBe("0.0.0.0");
    expect(srv.port).toBeGreaterThanOrEqual(8000);
    expect(srv.port).toBeLessThanOrEqual(9000);
    expect(srv.ip).toMatch(/^\d+\.\d+\.\d+\.\d+$/);
    expect(await (await fetch(`http://127.0.0.1:${srv.port}/x`)).text()).toBe("y");
    expect((await fetch(`http://127.0.0.1:${srv.port}/`)).status).toBe(404);
  });

  it("rejects a bad directory, a bad range and an address that is not ours", async () => {
    const e1 = await startHttpServer({ directory: join(root, "nope") }).catch((e: unknown) => e);
    expect(isKilnError(e1, "KILN_HTTP_CONFIG")).toBe(true);
    expect((e1 as Error).message).toMatch(/is not a directory/);
    const e2 = await startHttpServer({ portMin: 9000, portMax: 8000 }).catch((e: unknown) => e);
    expect(isKilnError(e2, "KILN_HTTP_CONFIG")).toBe(true);
    const e3 = await startHttpServer({ bindAddress: "192.0.2.123", portMin: 8000, portMax: 8001 }).catch(
      (e: unknown) => e,
    );
    expect(isKilnError(e3, "KILN_HTTP_LISTEN")).toBe(true);
  });

  it("frees the port at once on close, even with a keep-alive connection open", async () => {
    const base = randomBase();
    const srv = await startHttpServer({
      directory: www,
      bindAddress: "127.0.0.1",
      portMin: base,
      portMax: base + 20,
    });
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    const r = await raw(srv.port, "/user-data", { agent });
    expect(r.status).toBe(200);
    expect(r.headers.connection).toBe("keep-alive");
    const t0 = performance.now();
    await srv.close();
    expect(performance.now() - t0).toBeLessThan(500);
    await srv.close(); // twice is fine
    const again = await holdPort(srv.port); // the port is free again
    await new Promise((res) => again.close(res));
    agent.destroy();
  });
});
