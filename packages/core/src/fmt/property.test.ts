import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  Document,
  isCollection,
  isMap,
  isNode,
  isPair,
  isScalar,
  isSeq,
  type Node,
  parseDocument,
  Scalar,
  stringify,
  type ToStringOptions,
} from "yaml";
import { formatDocument } from "./index.js";
import { BUILD_ORDER, TOP_LEVEL_ORDER, TYPE_FIRST, VALIDATION_ORDER, VARIABLE_ORDER } from "./order.js";

/** Runs per property; raise it for a longer search (KILN_FMT_RUNS=5000). */
const RUNS = Number(process.env.KILN_FMT_RUNS ?? 100);
const TIMEOUT = Math.max(30_000, RUNS * 60);

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type JsonObject = { [key: string]: Json };

/* ------------------------------------------------------------------------------------------------ */
/* Build-file-shaped data with keys in random order                                                  */

const ident = fc.stringMatching(/^[a-z][a-z0-9_]{0,6}$/);
const text = fc.oneof(
  ident,
  fc.constantFrom(
    "${{ var.version }}",
    "<esc><wait>linux /casper/vmlinuz ---<enter>",
    "apt-get -y upgrade",
    "has: colon",
    "has # hash",
    "'quoted'",
    '"dq"',
    "- dash",
    "yes",
    "null",
    "1.0",
    "0755",
    "",
    " leading space",
    "unicode é ✓",
  ),
);
const scalar: fc.Arbitrary<Json> = fc.oneof(
  { weight: 4, arbitrary: text },
  fc.integer({ min: -1000, max: 100000 }),
  fc.boolean(),
  fc.constant(null),
  fc.double({ noNaN: true, noDefaultInfinity: true, min: -1e6, max: 1e6 }),
);
const { value: anyValue } = fc.letrec<{ value: Json }>((tie) => ({
  value: fc.oneof(
    { depthSize: "small", withCrossShrink: true },
    scalar,
    fc.array(tie("value"), { maxLength: 3 }),
    fc.dictionary(ident, tie("value"), { maxKeys: 3 }),
  ),
}));

/** An object with the given fields (those that are defined) plus a few extra ones, keys shuffled. */
function shuffledObject(
  fields: Record<string, fc.Arbitrary<Json | undefined>>,
  extra = true,
): fc.Arbitrary<JsonObject> {
  const known = fc.record(fields, { requiredKeys: [] });
  const extras = extra
    ? fc.dictionary(
        ident.map((k) => `x_${k}`),
        anyValue,
        { maxKeys: 2 },
      )
    : fc.constant({});
  return fc.tuple(known, extras).chain(([k, x]) => {
    const entries = [...Object.entries(k), ...Object.entries(x)].filter(
      (entry): entry is [string, Json] => entry[1] !== undefined,
    );
    return fc
      .shuffledSubarray(entries, { minLength: entries.length, maxLength: entries.length })
      .map((shuffled) => Object.fromEntries(shuffled) as JsonObject);
  });
}

const named = (value: fc.Arbitrary<Json>) => fc.dictionary(ident, value, { maxKeys: 3 });
const typed = shuffledObject({ type: ident, inline: fc.array(text, { maxLength: 2 }), source: text });
const variable = fc.oneof(
  shuffledObject({
    type: fc.constantFrom("string", "number", "bool", "list"),
    description: text,
    default: anyValue,
    sensitive: fc.boolean(),
    env: ident,
    validation: fc.array(shuffledObject({ condition: text, error_message: text }, false), { maxLength: 2 }),
  }),
  scalar,
);
const build = shuffledObject({
  name: ident,
  description: text,
  sources: fc.array(ident, { maxLength: 2 }),
  provisioners: fc.array(typed, { maxLength: 2 }),
  "error-cleanup-provisioner": typed,
  "post-processors": fc.array(fc.oneof(typed, fc.array(typed, { minLength: 1, maxLength: 2 })), {
    maxLength: 3,
  }),
});
const buildFile = shuffledObject({
  kiln: fc.constant(1),
  plugins: named(text),
  variables: named(variable),
  locals: named(anyValue),
  data: named(typed),
  sources: named(typed),
  builds: fc.array(build, { maxLength: 2 }),
});

/** The reference: the build file's data with keys in canonical order (plain data, no YAML). */
function canonical(file: JsonObject): JsonObject {
  const ordered = (obj: Json, order: readonly string[]): Json => {
    if (obj === null || typeof obj !== "object" || Array.isArray(obj)) return obj;
    const keys = Object.keys(obj);
    const rank = (k: string) => (order.includes(k) ? order.indexOf(k) : order.length);
    const sorted = keys.map((k, i) => ({ k, i })).sort((a, b) => rank(a.k) - rank(b.k) || a.i - b.i);
    return Object.fromEntries(sorted.map(({ k }) => [k, obj[k] as Json]));
  };
  const mapValues = (obj: Json | undefined, fn: (v: Json) => Json): Json | undefined => {
    if (obj === null || obj === undefined || typeof obj !== "object" || Array.isArray(obj)) return obj;
    return Object.fromEntries(Object.entries(obj).map(([k, v]) => [k, fn(v)]));
  };
  const mapItems = (arr: Json | undefined, fn: (v: Json) => Json): Json | undefined =>
    Array.isArray(arr) ? arr.map(fn) : arr;
  const typeFirst = (v: Json) => ordered(v, TYPE_FIRST);

  const out = ordered(file, TOP_LEVEL_ORDER) as JsonObject;
  const set = (obj: JsonObject, key: string, value: Json | undefined) => {
    if (value !== undefined && key in obj) obj[key] = value;
  };
  set(
    out,
    "variables",
    mapValues(out.variables, (v) => {
      const variable = ordered(v, VARIABLE_ORDER);
      if (variable && typeof variable === "object" && !Array.isArray(variable)) {
        set(
          variable,
          "validation",
          mapItems(variable.validation, (rule) => ordered(rule, VALIDATION_ORDER)),
        );
      }
      return variable;
    }),
  );
  set(out, "sources", mapValues(out.sources, typeFirst));
  set(out, "data", mapValues(out.data, typeFirst));
  set(
    out,
    "builds",
    mapItems(out.builds, (b) => {
      const build = ordered(b, BUILD_ORDER) as JsonObject;
      set(build, "provisioners", mapItems(build.provisioners, typeFirst));
      set(build, "error-cleanup-provisioner", typeFirst(build["error-cleanup-provisioner"] ?? null));
      set(
        build,
        "post-processors",
        mapItems(build["post-processors"], (pp) => (Array.isArray(pp) ? pp.map(typeFirst) : typeFirst(pp))),
      );
      return build;
    }),
  );
  return out;
}

/* ------------------------------------------------------------------------------------------------ */
/* Turning data into the kind of YAML people write: comments, flow lists, quoting, blank lines       */

function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Decorated {
  readonly text: string;
  /** Comments written directly above a key or item, with the path of that key or item. */
  readonly comments: { token: string; path: (string | number)[] }[];
  /** Every comment token written. */
  readonly tokens: string[];
}

function lastTrailing(node: unknown): boolean {
  if (!isCollection(node) || node.flow) return false;
  if (node.comment) return true;
  const last = node.items[node.items.length - 1];
  return lastTrailing(isPair(last) ? last.value : last);
}

/** Whether the block content of `node` ends with a block sequence. */
function endsWithBlockSeq(node: unknown): boolean {
  if (!isCollection(node) || node.flow || node.items.length === 0) return false;
  if (isSeq(node)) return true;
  const last = node.items[node.items.length - 1];
  return endsWithBlockSeq(isPair(last) ? last.value : last);
}

function decorate(data: JsonObject, seed: number): Decorated {
  const random = rng(seed);
  const chance = (p: number) => random() < p;
  const options: ToStringOptions = {
    indent: chance(0.5) ? 2 : 4,
    indentSeq: chance(0.5),
    lineWidth: chance(0.5) ? 0 : 40,
    flowCollectionPadding: chance(0.5),
  };
  const doc = new Document(data);
  const comments: Decorated["comments"] = [];
  const tokens: string[] = [];
  let counter = 0;
  const token = (prefix: string) => {
    const t = `CMT${prefix.toUpperCase()}${counter++}`; // never produced by the data generators
    tokens.push(t);
    return t;
  };

  const visit = (node: unknown, path: (string | number)[], inFlow: boolean, seqItem = false) => {
    if (isScalar(node)) {
      if (typeof node.value === "string") {
        const styles = [Scalar.PLAIN, Scalar.QUOTE_SINGLE, Scalar.QUOTE_DOUBLE] as const;
        node.type = styles[Math.floor(random() * styles.length)];
      }
      if (!inFlow && chance(0.15)) node.comment = ` ${token("t")}`;
      return;
    }
    if (!isCollection(node)) return;
    const flow = inFlow || (node.items.length > 0 && chance(0.2));
    if (flow) node.flow = true;
    const items = node.items as unknown[];
    items.forEach((item, index) => {
      const key = isPair(item) ? String((item.key as Scalar).value) : index;
      const start = (isPair(item) ? item.key : item) as Node;
      const value = isPair(item) ? item.value : item;
      if (!flow) {
        if (index > 0 && chance(0.2)) start.spaceBefore = true;
        const previous = items[index - 1];
        // Without a blank line the parser cannot tell a block's last comment from the next key's.
        if (previous !== undefined && lastTrailing(isPair(previous) ? previous.value : previous)) {
          start.spaceBefore = true;
        }
        // With `- ` at the same indentation as the keys, the parser reads a comment after a list as
        // the list's last comment, whatever it was meant for: an ambiguity of the input, not tested.
        const ambiguous =
          !options.indentSeq &&
          previous !== undefined &&
          endsWithBlockSeq(isPair(previous) ? previous.value : previous);
        if (isNode(start) && !ambiguous && chance(0.25)) {
          const t = token("c");
          start.commentBefore = ` ${t}`;
          // Above the first key of a map in a list is above its `-`: the comment belongs to the item.
          comments.push({ token: t, path: index === 0 && seqItem && isMap(node) ? path : [...path, key] });
        }
      }
      visit(value, [...path, key], flow, isSeq(node));
    });
    if (!flow && node.items.length > 0 && chance(0.1)) node.comment = ` ${token("e")}`;
  };
  visit(doc.contents, [], false);
  if (chance(0.5)) doc.commentBefore = " yaml-language-server: $schema=https://example.com/kiln.schema.json";

  let out = doc.toString(options);
  // Sprinkle blank lines and trailing spaces between lines (only where they cannot change data).
  // A blank line after a comment would detach it from its key, so none go there.
  const lines = out.split("\n");
  out = lines
    .map((line, i) => {
      let l = line;
      if (chance(0.1) && !/["']$/.test(l)) l += "   ";
      if (chance(0.1) && !/(^|\s)#/.test(lines[i - 1] ?? "")) l = `\n\n${l}`;
      return l;
    })
    .join("\n");
  return { text: out, comments, tokens };
}

/* ------------------------------------------------------------------------------------------------ */
/* Checks                                                                                            */

function checkStyle(out: string): void {
  expect(out.endsWith("\n")).toBe(true);
  expect(out.endsWith("\n\n")).toBe(false);
  expect(out).not.toMatch(/[ \t]$/m);
  expect(out).not.toMatch(/\n\n\n/);
  expect(out).not.toMatch(/^(---|\.\.\.)$/m);
}

/** One blank line before each top-level key (or before the comment lines written above it). */
function checkSections(out: string): void {
  const lines = out.split("\n");
  let seenKey = false;
  lines.forEach((line, i) => {
    if (!/^[^\s#-]/.test(line)) return;
    if (seenKey) {
      let j = i - 1;
      while (j >= 0 && lines[j]?.startsWith("#")) j--;
      expect(lines[j]).toBe("");
      expect(lines[j - 1]).not.toBe("");
    }
    seenKey = true;
  });
}

/** Whether the comment holding `token` is written directly above the key or item at `path` (only comment lines between). */
function commentIsAbove(out: string, doc: Document, token: string, path: (string | number)[]): boolean {
  let node: unknown = doc.contents;
  let start: unknown = node;
  for (const step of path) {
    if (!isCollection(node)) return false;
    const items = node.items as unknown[];
    const index =
      typeof step === "number" ? step : items.findIndex((p) => isPair(p) && (p.key as Scalar).value === step);
    const item = items[index];
    start = isPair(item) ? item.key : item;
    node = isPair(item) ? item.value : item;
  }
  const offset = isNode(start) ? start.range?.[0] : undefined;
  if (offset === undefined) return false;
  const lines = out.split("\n");
  const startLine = out.slice(0, offset).split("\n").length - 1;
  for (let i = startLine - 1; i >= 0; i--) {
    const line = lines[i]?.trimStart() ?? "";
    if (!line.startsWith("#")) return false;
    if (new RegExp(`\\b${token}\\b`).test(line)) return true;
  }
  return false;
}

/** Runs `checks`, adding the input and output texts to any failure. */
function explain(source: string, out: string, checks: () => void): void {
  try {
    checks();
  } catch (error) {
    if (error instanceof Error) error.message += `\n--- input ---\n${source}\n--- output ---\n${out}`;
    throw error;
  }
}

describe("formatDocument properties", () => {
  it(
    "build files: data unchanged, canonical order, comments kept with their keys, idempotent",
    () => {
      fc.assert(
        fc.property(buildFile, fc.integer(), (data, seed) => {
          const { text: source, comments, tokens } = decorate(data, seed);
          const doc = parseDocument(source);
          expect(doc.errors).toEqual([]);
          const out = formatDocument(doc);
          const reparsed = parseDocument(out);
          explain(source, out, () => {
            expect(reparsed.errors).toEqual([]);
            // Same data, and keys in canonical order (JSON text comparison is order-sensitive).
            expect(JSON.stringify(reparsed.toJS())).toBe(JSON.stringify(canonical(doc.toJS() as JsonObject)));
            expect(formatDocument(reparsed)).toBe(out);
            checkStyle(out);
            checkSections(out);
            for (const t of tokens) expect(out.match(new RegExp(`#.*\\b${t}\\b`, "g"))?.length).toBe(1);
            for (const { token, path } of comments) {
              expect(commentIsAbove(out, reparsed, token, path), `${token} above ${path.join(".")}`).toBe(
                true,
              );
            }
            if (source.startsWith("# yaml-language-server"))
              expect(out.startsWith("# yaml-language-server")).toBe(true);
          });
        }),
        { numRuns: RUNS },
      );
    },
    TIMEOUT,
  );

  it(
    "any YAML made by yaml.stringify: data unchanged and idempotent",
    () => {
      const options = fc.record({
        indent: fc.integer({ min: 1, max: 4 }),
        indentSeq: fc.boolean(),
        lineWidth: fc.constantFrom(0, 20, 80),
        collectionStyle: fc.constantFrom("any", "block", "flow") as fc.Arbitrary<"any" | "block" | "flow">,
        defaultStringType: fc.constantFrom(
          "PLAIN",
          "QUOTE_DOUBLE",
          "QUOTE_SINGLE",
          "BLOCK_LITERAL",
          "BLOCK_FOLDED",
        ) as fc.Arbitrary<"PLAIN" | "QUOTE_DOUBLE" | "QUOTE_SINGLE" | "BLOCK_LITERAL" | "BLOCK_FOLDED">,
      });
      fc.assert(
        fc.property(fc.jsonValue({ maxDepth: 4 }), options, (value, opts) => {
          const source = stringify(value, opts);
          const doc = parseDocument(source);
          // yaml.stringify itself can produce invalid YAML in corner cases ({"": []} without indentSeq).
          fc.pre(doc.errors.length === 0);
          const out = formatDocument(doc);
          const reparsed = parseDocument(out);
          explain(source, out, () => {
            expect(reparsed.errors).toEqual([]);
            expect(reparsed.toJS()).toEqual(doc.toJS());
            expect(formatDocument(reparsed)).toBe(out);
            expect(out.endsWith("\n") || out === "").toBe(true);
            expect(out).not.toMatch(/^(---|\.\.\.)$/m);
          });
        }),
        { numRuns: RUNS },
      );
    },
    TIMEOUT,
  );

  it(
    "never modifies the caller's document",
    () => {
      fc.assert(
        fc.property(buildFile, fc.integer(), (data, seed) => {
          const doc = parseDocument(decorate(data, seed).text);
          const before = doc.toString();
          const js = JSON.stringify(doc.toJS());
          formatDocument(doc);
          expect(doc.toString()).toBe(before);
          expect(JSON.stringify(doc.toJS())).toBe(js);
        }),
        { numRuns: Math.ceil(RUNS / 10) },
      );
    },
    TIMEOUT,
  );
});
