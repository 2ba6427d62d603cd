/** A local HTTP server for the download tests: routes, request counts, trickling and stalling bodies. */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo, Socket } from "node:net";

export type Handler = (req: IncomingMessage, res: ServerResponse) => void;

export interface TestServer {
  url(path: string): string;
  route(path: string, handler: Handler): void;
  /** Serve `body` with a Content-Length. */
  file(path: string, body: Buffer | string): void;
  /** Requests seen per path. */
  hits(path: string): number;
  close(): Promise<void>;
}

export async function startServer(): Promise<TestServer> {
  const routes = new Map<string, Handler>();
  const counts = new Map<string, number>();
  const sockets = new Set<Socket>();
  const server: Server = createServer((req, res) => {
    const path = new URL(req.url ?? "/", "http://x").pathname;
    counts.set(path, (counts.get(path) ?? 0) + 1);
    const h = routes.get(path);
    if (!h) {
      res.writeHead(404, { "content-type": "text/plain" });
      res.end("not found");
      return;
    }
    h(req, res);
  });
  server.on("connection", (s) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: (p) => `http://127.0.0.1:${port}${p}`,
    route: (p, h) => routes.set(p, h),
    file: (p, body) =>
      routes.set(p, (_req, res) => {
        const buf = Buffer.from(body);
        res.writeHead(200, {
          "content-length": String(buf.length),
          "content-type": "application/octet-stream",
        });
        res.end(buf);
      }),
    hits: (p) => counts.get(p) ?? 0,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** A handler that sends `body` in `chunk`-byte pieces every `everyMs`, with a Content-Length. */
export function trickle(body: Buffer, chunk: number, everyMs: number): Handler {
  return (_req, res) => {
    res.writeHead(200, { "content-length": String(body.length) });
    let off = 0;
    const t = setInterval(() => {
      if (res.destroyed) {
        clearInterval(t);
        return;
      }
      res.write(body.subarray(off, off + chunk));
      off += chunk;
      if (off >= body.length) {
        clearInterval(t);
        res.end();
      }
    }, everyMs);
    res.on("close", () => clearInterval(t));
  };
}

/** A handler that sends headers and `first` bytes of a larger body, then nothing. */
export function stall(total: number, first: number): Handler {
  return (_req, res) => {
    res.writeHead(200, { "content-length": String(total) });
    res.write(Buffer.alloc(first, 1));
  };
}

/** A port nothing listens on. */
export async function closedPort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((resolve) => s.listen(0, "127.0.0.1", resolve));
  const { port } = s.address() as AddressInfo;
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return port;
}
