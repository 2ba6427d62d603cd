/**
 * Downloads go through the proxy the environment names (HTTP_PROXY, HTTPS_PROXY, NO_PROXY), as
 * Packer's do. The proxy is a real one (the `proxy` package: absolute-URI forwarding and CONNECT
 * tunnels); the origin servers are real HTTP and HTTPS servers on the loopback interface.
 */
import { createHash, randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer as createHttpServer, type IncomingMessage } from "node:http";
import { createServer as createHttpsServer } from "node:https";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { makeSelfSigned } from "@kiln-testbed/doubles";
import { createProxy } from "proxy";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { fetchArtifact } from "./fetch.js";

const body = randomBytes(100_000);
const sha = createHash("sha256").update(body).digest("hex");

/** What the proxy saw: forwarded requests (absolute URIs) and CONNECT tunnels (host:port). */
const seen: { forwarded: string[]; tunnels: string[] } = { forwarded: [], tunnels: [] };
/** Requests that reached an origin, with the Via header the proxy adds. */
const origin: Array<{ url: string; via: string | undefined }> = [];

const serve = (req: IncomingMessage, res: import("node:http").ServerResponse) => {
  origin.push({ url: req.url ?? "", via: req.headers.via });
  res.writeHead(200, { "content-length": String(body.length) });
  res.end(body);
};

let proxyUrl: string;
let httpUrl: string;
let httpsUrl: string;
let work: string;
const closers: Array<() => void> = [];
const saved = { ...process.env };

async function listen(server: import("node:net").Server): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  closers.push(() => server.close());
  return (server.address() as AddressInfo).port;
}

beforeAll(async () => {
  const proxyServer = createProxy(createHttpServer());
  proxyServer.on("request", (req: IncomingMessage) => seen.forwarded.push(req.url ?? ""));
  proxyServer.on("connect", (req: IncomingMessage) => seen.tunnels.push(req.url ?? ""));
  proxyUrl = `http://127.0.0.1:${await listen(proxyServer)}`;
  httpUrl = `http://127.0.0.1:${await listen(createHttpServer(serve))}/img.iso`;
  // A self-signed certificate for the HTTPS origin, made here.
  const tls = makeSelfSigned("127.0.0.1");
  httpsUrl = `https://127.0.0.1:${await listen(createHttpsServer(tls, serve))}/img.iso`;
});
afterAll(() => {
  for (const c of closers) c();
});
beforeEach(() => {
  work = mkdtempSync(join(tmpdir(), "kiln-proxy-test-"));
  seen.forwarded.length = 0;
  seen.tunnels.length = 0;
  origin.length = 0;
  for (const k of ["HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "no_proxy"])
    delete process.env[k];
});
afterEach(() => {
  process.env = { ...saved };
  rmSync(work, { recursive: true, force: true });
});

const get = (url: string) =>
  fetchArtifact({
    urls: [url],
    checksum: `sha256:${sha}`,
    baseDir: work,
    cacheDir: join(work, "cache"),
    idleTimeoutMs: 5_000,
  });

describe("downloads and the environment's proxy", () => {
  it("HTTP_PROXY: an http:// download is forwarded by the proxy", async () => {
    process.env.HTTP_PROXY = proxyUrl;
    const r = await get(httpUrl);
    expect(readFileSync(r.path).equals(body)).toBe(true);
    expect(seen.forwarded).toEqual([httpUrl]);
    expect(origin).toHaveLength(1);
    expect(origin[0]?.via).toMatch(/proxy\//);
  });

  it("lower-case http_proxy works too", async () => {
    process.env.http_proxy = proxyUrl;
    await get(httpUrl);
    expect(seen.forwarded).toEqual([httpUrl]);
  });

  it("HTTPS_PROXY: an https:// download goes through a CONNECT tunnel", async () => {
    process.env.HTTPS_PROXY = proxyUrl;
    // The origin's certificate is self-signed; the tunnel, not the certificate, is tested here.
    process.env.NODE_TLS_REJECT_UNAUTHORIZED = "0";
    const r = await get(httpsUrl);
    expect(readFileSync(r.path).equals(body)).toBe(true);
    expect(seen.tunnels).toEqual([new URL(httpsUrl).host]);
    expect(seen.forwarded).toEqual([]);
    expect(origin).toHaveLength(1);
  });

  it("NO_PROXY: a listed host is fetched directly", async () => {
    process.env.HTTP_PROXY = proxyUrl;
    process.env.NO_PROXY = "example.com,127.0.0.1";
    await get(httpUrl);
    expect(seen.forwarded).toEqual([]);
    expect(origin).toHaveLength(1);
    expect(origin[0]?.via).toBeUndefined();
  });

  it("without a proxy set, the proxy sees nothing", async () => {
    await get(httpUrl);
    expect(seen.forwarded).toEqual([]);
    expect(origin[0]?.via).toBeUndefined();
  });

  it("a proxy that is down is named in the error", async () => {
    const dead = createHttpServer();
    const port = await listen(dead);
    dead.close();
    process.env.HTTP_PROXY = `http://127.0.0.1:${port}`;
    await expect(get(httpUrl)).rejects.toThrow(/connection refused by the proxy at 127\.0\.0\.1:\d+/);
  });
});
