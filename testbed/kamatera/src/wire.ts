/**
 * The Kamatera double's HTTP wire: JSON answers, errors as `{"message": …}` with a status, and
 * a request's JSON body (on GET too, as Kamatera's clients send one).
 */
import type http from "node:http";

/** An error answer: the HTTP status and the proxy's `message`. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

export function sendJson(
  res: http.ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  const raw = JSON.stringify(body);
  res.writeHead(status, {
    "Content-Type": "application/json",
    "Content-Length": Buffer.byteLength(raw),
    "Cache-Control": "no-cache, private",
    ...headers,
  });
  res.end(raw);
}

/** The body as a JSON object; undefined when empty. */
export async function readJsonBody(req: http.IncomingMessage): Promise<Record<string, unknown> | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of req) {
    size += (c as Buffer).length;
    if (size > 1024 * 1024) throw new ApiError(413, "Request Entity Too Large");
    chunks.push(c as Buffer);
  }
  const text = Buffer.concat(chunks).toString("utf8");
  if (!text.trim()) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new ApiError(400, "malformed JSON in the request body");
  }
  if (!parsed || typeof parsed !== "object" || Array.isArray(parsed))
    throw new ApiError(400, "the request body must be a JSON object");
  return parsed as Record<string, unknown>;
}
