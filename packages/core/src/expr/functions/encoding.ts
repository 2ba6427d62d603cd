/** Hashing and encoding: sha256(), base64encode(), base64decode(), jsonencode(). */
import { createHash } from "node:crypto";
import { checkLength, toJson } from "../values.js";
import { evalError, type FunctionDef } from "./args.js";

export const ENCODING_FUNCTIONS: Array<[string, FunctionDef]> = [
  [
    "sha256",
    {
      params: "str",
      min: 1,
      max: 1,
      call: (a) => createHash("sha256").update(a.str(0), "utf8").digest("hex"),
    },
  ],
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
];
