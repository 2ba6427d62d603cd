import { describe, expect, it } from "vitest";
import { applyDefaults } from "./defaults.js";

const schema = {
  type: "object",
  properties: {
    memory: { type: "integer", default: 512 },
    name: { type: "string" },
    tags: { type: "array", default: ["a"] },
    disks: {
      type: "array",
      items: { type: "object", properties: { size: { default: "10G" }, type: { default: "scsi" } } },
    },
    nested: { type: "object", properties: { on: { type: "boolean", default: true } } },
    either: { anyOf: [{ type: "object", properties: { x: { default: 1 } } }] },
  },
};

describe("applyDefaults", () => {
  it("fills missing options from the schema's defaults, and leaves what the user wrote", () => {
    expect(applyDefaults(schema, { name: "n", memory: 1024 })).toEqual({
      name: "n",
      memory: 1024,
      tags: ["a"],
    });
    expect(applyDefaults(schema, { memory: 0, tags: [] })).toEqual({ memory: 0, tags: [] });
  });

  it("follows array items and nested objects that are present, not anyOf", () => {
    const out = applyDefaults(schema, {
      disks: [{ size: "20G" }, {}],
      nested: {},
      either: {},
    }) as Record<string, unknown>;
    expect(out.disks).toEqual([
      { size: "20G", type: "scsi" },
      { size: "10G", type: "scsi" },
    ]);
    expect(out.nested).toEqual({ on: true });
    expect(out.either).toEqual({});
    expect(out.memory).toBe(512);
  });

  it("never shares or modifies: the input stays as it was and defaults are copies", () => {
    const input = { disks: [{}] };
    const a = applyDefaults(schema, input) as { tags: string[] };
    const b = applyDefaults(schema, input) as { tags: string[] };
    expect(input).toEqual({ disks: [{}] });
    a.tags.push("changed");
    expect(b.tags).toEqual(["a"]);
    expect(schema.properties.tags.default).toEqual(["a"]);
  });
});
