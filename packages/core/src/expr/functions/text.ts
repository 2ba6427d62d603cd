/** Text functions of Packer's library: chomp, substr, trimprefix/suffix, indent, title, strrev, strcontains. */
import { checkLength, codePoints } from "../values.js";
import { evalError, type FunctionDef } from "./args.js";

export const TEXT_FUNCTIONS: Array<[string, FunctionDef]> = [
  ["chomp", { params: "str", min: 1, max: 1, call: (a) => a.str(0).replace(/(\r?\n)+$/, "") }],
  [
    "substr",
    {
      params: "str, offset, length",
      min: 3,
      max: 3,
      call: (a) => {
        const cps = codePoints(a.str(0));
        let off = a.num(1);
        const len = a.num(2);
        if (!Number.isInteger(off) || !Number.isInteger(len))
          throw evalError("substr", "offset and length are whole numbers.");
        if (off < 0) off = Math.max(0, cps.length + off);
        if (off > cps.length)
          throw evalError(
            "substr",
            `offset ${off} is past the end of the string (${cps.length} characters).`,
            1,
          );
        if (len < -1) throw evalError("substr", "length must be -1 (the rest) or more.", 2);
        return cps.slice(off, len === -1 ? undefined : off + len).join("");
      },
    },
  ],
  [
    "trimprefix",
    {
      params: "str, prefix",
      min: 2,
      max: 2,
      call: (a) => (a.str(0).startsWith(a.str(1)) ? a.str(0).slice(a.str(1).length) : a.str(0)),
    },
  ],
  [
    "trimsuffix",
    {
      params: "str, suffix",
      min: 2,
      max: 2,
      call: (a) =>
        a.str(1) !== "" && a.str(0).endsWith(a.str(1)) ? a.str(0).slice(0, -a.str(1).length) : a.str(0),
    },
  ],
  [
    "indent",
    {
      params: "spaces, str",
      min: 2,
      max: 2,
      call: (a) => {
        const n = a.num(0);
        if (!Number.isInteger(n) || n < 0 || n > 1024)
          throw evalError("indent", "spaces is a whole number from 0 to 1024.", 0);
        const pad = " ".repeat(n);
        return checkLength(a.str(1).replace(/\n/g, `\n${pad}`));
      },
    },
  ],
  [
    "title",
    {
      params: "str",
      min: 1,
      max: 1,
      call: (a) =>
        a
          .str(0)
          .replace(/(^|[^\p{L}\p{N}'])(\p{L})/gu, (_m, pre: string, c: string) => pre + c.toUpperCase()),
    },
  ],
  ["strrev", { params: "str", min: 1, max: 1, call: (a) => codePoints(a.str(0)).reverse().join("") }],
  ["strcontains", { params: "str, substr", min: 2, max: 2, call: (a) => a.str(0).includes(a.str(1)) }],
];
