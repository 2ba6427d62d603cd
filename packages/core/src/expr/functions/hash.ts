/** Hashes and identifiers: sha256/sha1/sha512/md5 (hex), bcrypt, uuid/uuidv4, uuidv5. */
import { createHash, randomUUID } from "node:crypto";
import { createRequire } from "node:module";
import { evalError, type FunctionDef } from "./args.js";

const require = createRequire(import.meta.url);
const hex = (algo: string) => (s: string) => createHash(algo).update(s, "utf8").digest("hex");

/** The namespaces RFC 4122 names, as uuidv5 accepts them. */
const NAMESPACES: Record<string, string> = {
  dns: "6ba7b810-9dad-11d1-80b4-00c04fd430c8",
  url: "6ba7b811-9dad-11d1-80b4-00c04fd430c8",
  oid: "6ba7b812-9dad-11d1-80b4-00c04fd430c8",
  x500: "6ba7b814-9dad-11d1-80b4-00c04fd430c8",
};
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** A name-based (SHA-1) UUID of RFC 4122. */
export function uuidv5(namespace: string, name: string): string {
  const ns = Buffer.from(namespace.replace(/-/g, ""), "hex");
  const h = createHash("sha1").update(ns).update(name, "utf8").digest();
  h[6] = ((h[6] as number) & 0x0f) | 0x50;
  h[8] = ((h[8] as number) & 0x3f) | 0x80;
  const x = h.subarray(0, 16).toString("hex");
  return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20)}`;
}

export const HASH_FUNCTIONS: Array<[string, FunctionDef]> = [
  ["sha256", { params: "str", min: 1, max: 1, call: (a) => hex("sha256")(a.str(0)) }],
  ["sha1", { params: "str", min: 1, max: 1, call: (a) => hex("sha1")(a.str(0)) }],
  ["sha512", { params: "str", min: 1, max: 1, call: (a) => hex("sha512")(a.str(0)) }],
  ["md5", { params: "str", min: 1, max: 1, call: (a) => hex("md5")(a.str(0)) }],
  [
    "bcrypt",
    {
      params: "str, cost",
      min: 1,
      max: 2,
      call: (a) => {
        const s = a.str(0);
        const cost = a.length > 1 ? a.num(1) : 10;
        if (!Number.isInteger(cost) || cost < 4 || cost > 15)
          throw evalError("bcrypt", "cost is a whole number from 4 to 15 (each step doubles the time).", 1);
        if (Buffer.byteLength(s, "utf8") > 72) throw evalError("bcrypt", "bcrypt reads at most 72 bytes.", 0);
        // Loaded on first use: most build files never hash a password.
        const bcryptjs = require("bcryptjs") as typeof import("bcryptjs");
        return bcryptjs.hashSync(s, bcryptjs.genSaltSync(cost));
      },
    },
  ],
  ["uuid", { params: "", min: 0, max: 0, call: () => randomUUID() }],
  ["uuidv4", { params: "", min: 0, max: 0, call: () => randomUUID() }],
  [
    "uuidv5",
    {
      params: "namespace, name",
      min: 2,
      max: 2,
      call: (a) => {
        const ns = a.str(0);
        const id = NAMESPACES[ns] ?? (UUID.test(ns) ? ns : undefined);
        if (id === undefined)
          throw evalError(
            "uuidv5",
            `namespace "${ns.slice(0, 40)}" is neither dns, url, oid, x500 nor a UUID.`,
            0,
          );
        return uuidv5(id, a.str(1));
      },
    },
  ],
];
