import { existsSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { KVM_PROBE_LIMIT_MS, probeKvm, resetKvmProbe } from "./accel.js";
import { note, qemuSkip } from "./test-support.js";

const { skip, reason } = qemuSkip();

describe.skipIf(skip)(`accelerator: auto probes KVM${skip ? ` (skipped: ${reason})` : ""}`, () => {
  it("decides within the limit, says why, and caches the answer per process", async () => {
    resetKvmProbe();
    const t0 = Date.now();
    const r = await probeKvm("qemu-system-x86_64");
    const ms = Date.now() - t0;
    note(
      `[qemu accel] /dev/kvm ${existsSync("/dev/kvm") ? "exists" : "is missing"}; KVM usable: ${r.usable} (${r.reason})`,
    );
    expect(ms).toBeLessThan(KVM_PROBE_LIMIT_MS + 6000);
    expect(r.reason).not.toBe("");
    if (!existsSync("/dev/kvm")) expect(r.usable).toBe(false);
    if (process.env.KILN_EXPECT_KVM === "broken") expect(r.usable).toBe(false);
    const t1 = Date.now();
    expect(await probeKvm("qemu-system-x86_64")).toBe(r);
    expect(Date.now() - t1).toBeLessThan(50);
  });

  it("reports a QEMU that cannot start as no KVM", async () => {
    const r = await probeKvm("/nonexistent/qemu-system-x86_64");
    expect(r.usable).toBe(false);
  });
});
