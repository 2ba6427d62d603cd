import { KilnError } from "@kiln/core";
import { describe, expect, it } from "vitest";
import { stepContext } from "../steps/steps.test-context.js";
import { builderErrors } from "./errors.js";

const e = builderErrors({
  prefix: "qemu",
  configCode: "KILN_QEMU_CONFIG",
  bugCode: "KILN_QEMU_STEP",
  packageName: "@kiln/builder-qemu",
});

describe("builderErrors", () => {
  it("prefixes messages with the builder's type and keeps code, hint and cause", () => {
    const cause = new Error("inner");
    const err = e.error("KILN_QEMU_START", "QEMU did not start", "Check qemuargs.", cause);
    expect(err).toBeInstanceOf(KilnError);
    expect(err).toMatchObject({
      code: "KILN_QEMU_START",
      message: "[qemu] QEMU did not start",
      hint: "Check qemuargs.",
    });
    expect(err.cause).toBe(cause);
    expect(e.config("bad")).toMatchObject({ code: "KILN_QEMU_CONFIG", message: "[qemu] bad" });
  });

  it("parses durations of options, naming the option when one is malformed", () => {
    expect(e.duration("boot_wait", "1m30s")).toBe(90_000);
    expect(() => e.duration("boot_wait", "soon")).toThrow(/^\[qemu\] boot_wait: /);
  });

  it("wraps steps: shared code's KilnErrors get the prefix, anything else is reported as a bug", async () => {
    const { ctx } = stepContext("/");
    const shared = e.wrap({
      name: "download",
      run: async () => {
        throw new KilnError("KILN_DOWNLOAD", "checksum mismatch");
      },
    });
    await expect(shared.run(ctx)).rejects.toMatchObject({
      code: "KILN_DOWNLOAD",
      message: "[qemu] checksum mismatch",
    });
    const bug = e.wrap({
      name: "disk",
      run: async () => {
        throw new TypeError("x is undefined");
      },
    });
    await expect(bug.run(ctx)).rejects.toMatchObject({
      code: "KILN_QEMU_STEP",
      message: '[qemu] step "disk" failed: x is undefined',
    });
  });
});
