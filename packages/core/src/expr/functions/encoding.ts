/**
 * Encodings: base64 (also gzipped), JSON and YAML (both ways), CSV, URL query escaping. Decoded
 * values are checked against the language's limits like any other value.
 */
import { gzipSync } from "node:zlib";
import { parseDocument, stringify } from "yaml";
import { MAX_COLLECTION_SIZE, MAX_DEPTH } from "../limits.js";
import { checkLength, mapKeys, ownValue, toJson, typeOf } from "../values.js";
import { type Args, evalError, type FunctionDef } from "./args.js";

/** A decoded value within the limits (depth, sizes), with only the language's value types. */
function checked(a: Args, v: unknown, depth = 0): unknown {
  if (depth > MAX_DEPTH) throw evalError(a.fn, `the value nests more than ${MAX_DEPTH} deep.`, 0);
  switch (typeOf(v)) {
    case "list": {
      const l = v as unknown[];
      if (l.length > MAX_COLLECTION_SIZE)
        throw evalError(a.fn, `a list has more than ${MAX_COLLECTION_SIZE} items.`, 0);
      return l.map((x) => checked(a, x, depth + 1));
    }
    case "map": {
      const out: Record<string, unknown> = {};
      const m = v as Record<string, unknown>;
      const ks = mapKeys(m);
      if (ks.length > MAX_COLLECTION_SIZE)
        throw evalError(a.fn, `a map has more than ${MAX_COLLECTION_SIZE} keys.`, 0);
      for (const k of ks) out[k] = checked(a, ownValue(m, k).value, depth + 1);
      return out;
    }
    case "unsupported":
      if (v instanceof Date) return v.toISOString();
      throw evalError(a.fn, "the text holds a value that is not a string, number, bool, list or map.", 0);
    default:
      return v;
  }
}

/** Go's url.QueryEscape: letters, digits and -_.~ stay, a space is +, the rest %XX of UTF-8. */
function queryEscape(s: string): string {
  let out = "";
  for (const b of Buffer.from(s, "utf8")) {
    const c = String.fromCharCode(b);
    if (/[A-Za-z0-9\-_.~]/.test(c)) out += c;
    else if (c === " ") out += "+";
    else out += `%${b.toString(16).toUpperCase().padStart(2, "0")}`;
  }
  return out;
}

/** RFC 4180 CSV: the first row names the columns; each further row becomes a map. */
function csvDecode(_a: Args, text: string): Array<Record<string, string>> {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = "";
  let i = 0;
  let quoted = false;
  while (i < text.length) {
    const c = text[i] as string;
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') {
        field += '"';
        i += 2;
      } else if (c === '"') {
        quoted = false;
        i++;
      } else {
        field += c;
        i++;
      }
      continue;
    }
    if (c === '"' && field === "") {
      quoted = true;
      i++;
    } else if (c === ",") {
      row.push(field);
      field = "";
      i++;
    } else if (c === "\n" || c === "\r") {
      row.push(field);
      rows.push(row);
      row = [];
      field = "";
      i += c === "\r" && text[i + 1] === "\n" ? 2 : 1;
    } else {
      field += c;
      i++;
    }
    if (rows.length > MAX_COLLECTION_SIZE)
      throw evalError("csvdecode", `more than ${MAX_COLLECTION_SIZE} rows.`, 0);
  }
  if (quoted) throw evalError("csvdecode", "a quoted field is not closed.", 0);
  if (field !== "" || row.length > 0) {
    row.push(field);
    rows.push(row);
  }
  const [head, ...body] = rows;
  if (!head) throw evalError("csvdecode", "the text has no header row.", 0);
  return body.map((r, n) => {
    if (r.length !== head.length)
      throw evalError("csvdecode", `row ${n + 2} has ${r.length} fields; the header has ${head.length}.`, 0);
    const out: Record<string, string> = {};
    head.forEach((h, k) => {
      if (h !== "__proto__" && h !== "constructor" && h !== "prototype") out[h] = r[k] as string;
    });
    return out;
  });
}

export const ENCODING_FUNCTIONS: Array<[string, FunctionDef]> = [
  [
    "base64encode",
    {
      params: "str",
      min: 1,
      max: 1,
      call: (a) => checkLength(Buffer.from(a.str(0), "utf8").toString("base64")),
    },
  ],
  [
    "base64decode",
    {
      params: "str",
      min: 1,
      max: 1,
      call: (a) => {
        const s = a.str(0);
        if (s.length % 4 !== 0 || !/^[A-Za-z0-9+/]*={0,2}$/.test(s)) {
          throw evalError("base64decode", "argument 1 is not valid base64.", 0);
        }
        try {
          return new TextDecoder("utf-8", { fatal: true }).decode(Buffer.from(s, "base64"));
        } catch {
          throw evalError("base64decode", "the decoded bytes are not UTF-8 text.", 0);
        }
      },
    },
  ],
  ["jsonencode", { params: "value", min: 1, max: 1, call: (a) => toJson(a.any(0)) }],
  [
    "jsondecode",
    {
      params: "str",
      min: 1,
      max: 1,
      call: (a) => {
        let v: unknown;
        try {
          v = JSON.parse(a.str(0));
        } catch (e) {
          throw evalError("jsondecode", `the text is not JSON: ${(e as Error).message}`, 0);
        }
        return checked(a, v);
      },
    },
  ],
  [
    "yamlencode",
    {
      params: "value",
      min: 1,
      max: 1,
      // Through JSON first: the value is bounded and plain, and YAML keeps no anchors for repeats.
      call: (a) => checkLength(stringify(JSON.parse(toJson(a.any(0))), { aliasDuplicateObjects: false })),
    },
  ],
  [
    "yamldecode",
    {
      params: "str",
      min: 1,
      max: 1,
      call: (a) => {
        const doc = parseDocument(a.str(0), { uniqueKeys: true });
        const problem = doc.errors[0];
        if (problem)
          throw evalError("yamldecode", `the text is not YAML: ${problem.message.split("\n")[0]}`, 0);
        let v: unknown;
        try {
          v = doc.toJS({ maxAliasCount: 100 });
        } catch (e) {
          throw evalError("yamldecode", (e as Error).message, 0);
        }
        return checked(a, v ?? null);
      },
    },
  ],
  [
    "base64gzip",
    {
      params: "str",
      min: 1,
      max: 1,
      call: (a) => checkLength(gzipSync(Buffer.from(a.str(0), "utf8")).toString("base64")),
    },
  ],
  ["urlencode", { params: "str", min: 1, max: 1, call: (a) => checkLength(queryEscape(a.str(0))) }],
  ["csvdecode", { params: "str", min: 1, max: 1, call: (a) => csvDecode(a, a.str(0)) }],
];
