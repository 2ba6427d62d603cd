/**
 * The SigV4 header-signing vectors (aws-c-auth's test suite, trimmed into spec/sigv4/vectors.json
 * by scripts/trim-spec.mjs), parsed into requests any signer can take.
 */
import fs from "node:fs";
import { fileURLToPath } from "node:url";

export interface SigV4Vector {
  name: string;
  context: {
    credentials: { access_key_id: string; secret_access_key: string; token?: string };
    normalize: boolean;
    region: string;
    service: string;
    sign_body: boolean;
    timestamp: string;
  };
  canonicalRequest: string;
  stringToSign: string;
  signature: string;
  /** The request as parsed from request.txt. */
  method: string;
  /** Path and query as written (not encoded). */
  target: string;
  /** Header lines in order, with duplicate names kept and folded lines joined by a space. */
  headers: Array<[string, string]>;
  body: string;
}

export const VECTORS_PATH = fileURLToPath(new URL("../spec/sigv4/vectors.json", import.meta.url));

function parseRequest(text: string): Pick<SigV4Vector, "method" | "target" | "headers" | "body"> {
  const blank = text.indexOf("\n\n");
  const head = blank >= 0 ? text.slice(0, blank) : text;
  const body = blank >= 0 ? text.slice(blank + 2) : "";
  const [first = "", ...lines] = head.split("\n");
  const m = /^(\S+) (.*) HTTP\/1\.1$/.exec(first);
  if (!m) throw new Error(`bad request line ${JSON.stringify(first)}`);
  const headers: Array<[string, string]> = [];
  for (const line of lines) {
    if (line === "") continue;
    const last = headers[headers.length - 1];
    if (/^\s/.test(line) && last) last[1] = `${last[1]} ${line.trim()}`;
    else {
      const i = line.indexOf(":");
      headers.push([line.slice(0, i), line.slice(i + 1)]);
    }
  }
  return { method: m[1] as string, target: m[2] as string, headers, body };
}

export function loadSigV4Vectors(): SigV4Vector[] {
  const doc = JSON.parse(fs.readFileSync(VECTORS_PATH, "utf8")) as {
    vectors: Array<Omit<SigV4Vector, "method" | "target" | "headers" | "body"> & { request: string }>;
  };
  return doc.vectors.map(({ request, ...v }) => ({ ...v, ...parseRequest(request) }));
}
