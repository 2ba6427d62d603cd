/** Every option of the schema is read somewhere — by the builder's own code or the SDK's shared steps — and the disks' too. */
import { fileURLToPath } from "node:url";
import { ensureDist, sdkDistDir, unreadOptions } from "@kiln/sdk/testing";
import { describe, expect, it } from "vitest";
import { kamateraSchema } from "./schema.js";

const PKG_DIR = fileURLToPath(new URL("..", import.meta.url));
ensureDist(PKG_DIR);
const dirs = [fileURLToPath(new URL("../dist", import.meta.url)), sdkDistDir()];

type Props = { properties?: Record<string, unknown> };

describe("no option is read nowhere", () => {
  it("the check finds an option no code reads", () => {
    expect(unreadOptions({ properties: { kiln_no_such_option: {} } }, { dirs })).toEqual([
      "kiln_no_such_option",
    ]);
  });
  it("kamatera", () => {
    expect(unreadOptions(kamateraSchema, { dirs })).toEqual([]);
  });
  it("disks[]", () => {
    const disks = (kamateraSchema.properties.disks as unknown as { items: Props }).items;
    expect(unreadOptions(disks, { dirs })).toEqual([]);
  });
});
