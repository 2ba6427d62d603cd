import { describe, expect, it } from "vitest";
import { composeSchema } from "./compose.js";
import { acceptExpressions, EXPR_IN_STRING, EXPR_WHOLE } from "./expressions.js";
import { compileSchema } from "./validate.js";

const demo = {
  type: "object",
  required: ["memory"],
  properties: {
    memory: { type: "integer", minimum: 16 },
    headless: { type: "boolean" },
    accelerator: { enum: ["kvm", "tcg"] },
    boot_wait: { type: "string", pattern: "^[0-9]+s$" },
    name: { type: "string", maxLength: 8 },
    args: { type: "array", items: { type: "string" } },
    extra: { type: "object", additionalProperties: false, properties: { convert: { type: "array" } } },
    size: { oneOf: [{ type: "integer" }, { type: "string", pattern: "^[0-9]+G$" }] },
  },
};
const shell = {
  type: "object",
  properties: { inline: { type: "array", items: { type: "string" } }, script: { type: "string" } },
  anyOf: [{ required: ["inline"] }, { required: ["script"] }],
};
const composed = composeSchema(
  [
    { kind: "builder", type: "demo", schema: demo, package: "kiln-builder-demo" },
    { kind: "provisioner", type: "shell", schema: shell, package: "@kiln/provisioners" },
    { kind: "post-processor", type: "manifest", schema: { type: "object", properties: {} } },
  ],
  {
    known: { builder: { demo: "kiln-builder-demo", other: "kiln-builder-other" } },
    id: "https://x.test/s.json",
  },
);
const validate = compileSchema(composed);
const ok = (doc: unknown) => {
  const r = validate(doc);
  return r ? true : (validate.errors ?? []).map((e) => `${e.instancePath} ${e.message}`);
};
const src = (extra: Record<string, unknown>) => ({
  kiln: 1,
  sources: { a: { type: "demo", memory: 512, ...extra } },
});
const prov = (p: Record<string, unknown>) => ({
  kiln: 1,
  sources: { a: { type: "demo", memory: 512 } },
  builds: [{ sources: ["a"], provisioners: [{ type: "shell", inline: ["true"], ...p }] }],
});

describe("composeSchema: the editor's schema", () => {
  it("accepts a file whose components match their plugins' schemas", () => {
    expect(
      ok({
        kiln: 1,
        sources: { a: { type: "demo", memory: 512, accelerator: "tcg", boot_wait: "5s", size: 10 } },
        builds: [
          {
            sources: ["a"],
            provisioners: [
              { type: "shell", inline: ["true"], pause_before: "5s", override: { a: { script: "x" } } },
            ],
            "post-processors": [[{ type: "manifest" }]],
          },
        ],
      }),
    ).toBe(true);
  });

  // The seven kinds of mistakes: each is flagged wherever it stands.
  it.each([
    ["1. an unknown top-level key", { kiln: 1, sourcse: {} }],
    ["2. an unknown option of a source", src({ memroy: 512 })],
    ["3a. an unknown option of a provisioner in a build", prov({ inlin: ["x"] })],
    ["3b. an unknown key in a nested option", src({ extra: { convrt: [] } })],
    [
      "3c. an unknown option in a provisioner's per-source override",
      prov({ override: { a: { scrip: "x" } } }),
    ],
    [
      "3d. an unknown option of a post-processor in a chain",
      { kiln: 1, builds: [{ sources: ["a"], "post-processors": [[{ type: "manifest", outptu: "x" }]] }] },
    ],
    ["4a. a wrong type", src({ memory: "lots" })],
    ["4b. a wrong type (quoted boolean)", src({ headless: "yes" })],
    ["4c. a wrong type in a common key", prov({ max_retries: "often" })],
    ["5a. an unknown builder type", { kiln: 1, sources: { a: { type: "demoo", memory: 1 } } }],
    ["5b. an unknown provisioner type", prov({ type: "shel" })],
    ["6a. a missing required option", { kiln: 1, sources: { a: { type: "demo" } } }],
    ["6b. none of the options one of which is required", prov({ inline: undefined })],
    ["7a. a value outside an enum", src({ accelerator: "kvmm" })],
    ["7b. a value not of its pattern", src({ boot_wait: "5 sec" })],
    ["7c. a number below the minimum", src({ memory: 8 })],
    ["7d. a duration of the common keys not of its form", prov({ pause_before: "soon" })],
  ])("flags %s", (_name, doc) => {
    expect(ok(JSON.parse(JSON.stringify(doc)))).not.toBe(true);
  });

  it("accepts a ${{ … }} expression wherever a typed value may stand", () => {
    const e = "${{ var.x }}";
    expect(
      ok(
        src({
          memory: e,
          headless: e,
          accelerator: e,
          boot_wait: "${{ var.n }}s",
          name: e,
          args: e,
          extra: e,
          size: e,
        }),
      ),
    ).toBe(true);
    expect(ok(src({ extra: { convert: e } }))).toBe(true);
    expect(ok(prov({ max_retries: e, pause_before: e, timeout: e, only: e, override: e }))).toBe(true);
    expect(ok(prov({ override: { a: { inline: e } } }))).toBe(true);
  });

  it("does not take a string that only holds an expression for a non-string value", () => {
    expect(ok(src({ memory: "1024 ${{ var.x }}" }))).not.toBe(true);
    expect(ok(src({ memory: "${{ var.x }} MiB" }))).not.toBe(true);
  });

  it("lists the known types, with the packages serving them, and accepts a known type without options", () => {
    const defs = composed.definitions as Record<
      string,
      Record<string, Record<string, Record<string, unknown>>>
    >;
    expect(defs.source?.properties?.type?.enum).toEqual(["demo", "other"]);
    expect(defs.source?.properties?.type?.markdownEnumDescriptions).toEqual([
      "from `kiln-builder-demo`",
      "from `kiln-builder-other`",
    ]);
    expect(defs.provisioner?.properties?.type?.enum).toEqual(["shell"]);
    expect(ok({ kiln: 1, sources: { b: { type: "other", anything: [1] } } })).toBe(true);
    expect(composed.$id).toBe("https://x.test/s.json");
  });
});

// biome-ignore lint/suspicious/noExplicitAny: a schema's shape is what the assertions check
type Json = Record<string, any>;

describe("acceptExpressions", () => {
  it("leaves `if` as written and keeps docs outside the anyOf it makes", () => {
    const s = acceptExpressions({
      type: "object",
      properties: { level: { type: "integer", description: "Level.", default: 6 }, format: { enum: ["gz"] } },
      allOf: [
        {
          if: { properties: { format: { enum: ["gz"] } } },
          then: { properties: { out: { pattern: "x$" } } },
        },
      ],
    }) as Json;
    expect(s.type).toEqual(["object", "string"]);
    expect(s.pattern).toBe(EXPR_WHOLE);
    expect(s.properties.level).toMatchObject({
      type: ["integer", "string"],
      pattern: EXPR_WHOLE,
      default: 6,
    });
    expect(s.properties.format).toEqual({
      anyOf: [{ enum: ["gz"] }, expect.objectContaining({ type: "string", pattern: EXPR_IN_STRING })],
    });
    expect(s.allOf[0].if).toEqual({ properties: { format: { enum: ["gz"] } } });
  });
  it("turns oneOf into anyOf (an expression may match several branches) and does not change its input", () => {
    const input = { oneOf: [{ type: "integer" }, { type: "string", pattern: "^a$" }] };
    const copy = JSON.parse(JSON.stringify(input));
    const s = acceptExpressions(input) as Json;
    expect(s.oneOf).toBeUndefined();
    expect(s.anyOf).toHaveLength(2);
    expect(compileSchema(s)("${{ x }}")).toBe(true);
    expect(input).toEqual(copy);
  });
});
