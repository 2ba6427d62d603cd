import { join } from "node:path";
import { describe, expect, it } from "vitest";
import {
  BOOT_OPTIONS,
  CD_OPTIONS,
  COMMUNICATOR_OPTIONS,
  FLOPPY_OPTIONS,
  HTTP_OPTIONS,
  SSH_OPTIONS,
} from "./schemas.js";
import { unreadOptions } from "./testing/options.js";

describe("the shared option fragments", () => {
  it("are each read by the SDK's steps (shutdown options are read by the builders' shutdown steps)", () => {
    const properties = {
      ...COMMUNICATOR_OPTIONS,
      ...SSH_OPTIONS,
      ...HTTP_OPTIONS,
      ...BOOT_OPTIONS,
      ...CD_OPTIONS,
      ...FLOPPY_OPTIONS,
    };
    expect(unreadOptions({ properties }, { dirs: [join(import.meta.dirname, "..", "dist")] })).toEqual([]);
  });

  it("carry their defaults in the schema and in the description", () => {
    expect(SSH_OPTIONS.ssh_port).toMatchObject({
      default: 22,
      description: expect.stringMatching(/Default: 22\.$/),
    });
    expect(BOOT_OPTIONS.boot_wait.default).toBe("10s");
    expect(COMMUNICATOR_OPTIONS.communicator).toMatchObject({
      enum: ["ssh", "none", "winrm"],
      default: "ssh",
    });
  });
});
