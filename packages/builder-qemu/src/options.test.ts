/** Every option qemu declares is read somewhere: by its own code or by the SDK's shared steps. */
import { join } from "node:path";
import { ensureDist, sdkDistDir, unreadOptions } from "@kiln/sdk/testing";
import { describe, expect, it } from "vitest";
import { qemuSchema } from "./schema.js";
import { PKG_DIR } from "./test-support.js";

describe("qemu's options", () => {
  it("are all read (no option accepted, documented and ignored)", () => {
    ensureDist(PKG_DIR);
    expect(unreadOptions(qemuSchema, { dirs: [join(PKG_DIR, "dist"), sdkDistDir()] })).toEqual([]);
  });

  it("the check sees an option nobody reads", () => {
    const schema = { properties: { ...qemuSchema.properties, kiln_never_reads_this: {} } };
    expect(unreadOptions(schema, { dirs: [join(PKG_DIR, "dist"), sdkDistDir()] })).toEqual([
      "kiln_never_reads_this",
    ]);
  });
});
