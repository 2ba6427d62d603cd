/** A raw test client for the double: one request with the Kamatera headers, the status and JSON body as sent. */
import http from "node:http";

export interface RawAnswer {
  status: number;
  body: unknown;
  headers: http.IncomingHttpHeaders;
}

export interface RawRequest {
  auth?: { clientId: string; secret: string } | undefined;
  body?: Record<string, unknown>;
  query?: Record<string, string>;
  headers?: Record<string, string>;
}

export function request(base: string, method: string, path: string, o: RawRequest = {}): Promise<RawAnswer> {
  const url = new URL(path, base);
  for (const [k, v] of Object.entries(o.query ?? {})) url.searchParams.set(k, v);
  const raw = o.body === undefined ? undefined : JSON.stringify(o.body);
  return new Promise((resolve, reject) => {
    const req = http.request(
      url,
      {
        method,
        headers: {
          Accept: "application/json",
          ...(raw !== undefined ? { "Content-Type": "application/json" } : {}),
          ...(o.auth ? { AuthClientId: o.auth.clientId, AuthSecret: o.auth.secret } : {}),
          ...o.headers,
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => {
          const text = Buffer.concat(chunks).toString("utf8");
          let body: unknown = text;
          try {
            body = JSON.parse(text);
          } catch {}
          resolve({ status: res.statusCode ?? 0, body, headers: res.headers });
        });
      },
    );
    req.on("error", reject);
    req.end(raw);
  });
}

/** Wait for command `id` (as a client would): its final queue item. */
export async function waitCommand(
  base: string,
  auth: RawRequest["auth"],
  id: string | number,
  timeoutMs = 10_000,
): Promise<{ status: string; log: string | null }> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const r = await request(base, "GET", "/service/queue", { auth, query: { id: String(id) } });
    const item = (r.body as Array<{ status: string; log: string | null }>)[0];
    if (item && item.status !== "pending" && item.status !== "running") return item;
    if (Date.now() > deadline) throw new Error(`command ${id} did not finish: ${JSON.stringify(r.body)}`);
    await new Promise((res) => setTimeout(res, 20));
  }
}
