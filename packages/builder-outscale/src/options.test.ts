/** Every option of both schemas is read somewhere — by this package's code or by the SDK's shared steps — nested ones too. */
import { fileURLToPath } from "node:url";
import { ensureDist, sdkDistDir, unreadOptions } from "@kiln/sdk/testing";
import { describe, expect, it } from "vitest";
import { BLOCK_DEVICE, bsuSchema, omiDataSchema } from "./schema.js";

const PKG_DIR = fileURLToPath(new URL("..", import.meta.url));
ensureDist(PKG_DIR);
const dirs = [fileURLToPath(new URL("../dist", import.meta.url)), sdkDistDir()];
type Props = { properties?: Record<string, unknown> };
const prop = (s: Props, name: string) => s.properties?.[name] as Props;

describe("no option is read nowhere", () => {
  it("the check finds an option no code reads", () => {
    expect(unreadOptions({ properties: { kiln_no_such_option: {} } }, { dirs })).toEqual([
      "kiln_no_such_option",
    ]);
  });
  it.each([
    ["outscale-bsu", bsuSchema],
    ["outscale-omi", omiDataSchema],
  ])("%s", (_t, schema) => {
    expect(unreadOptions(schema, { dirs })).toEqual([]);
  });
  it("nested options", () => {
    for (const [name, schema] of Object.entries({
      block_device: BLOCK_DEVICE,
      source_omi_filter: prop(bsuSchema, "source_omi_filter"),
      subnet_filter: prop(bsuSchema, "subnet_filter"),
      net_filter: prop(bsuSchema, "net_filter"),
    }))
      expect([name, unreadOptions(schema as Props, { dirs })]).toEqual([name, []]);
  });
});
