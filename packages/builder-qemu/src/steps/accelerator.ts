/** The accelerator step: accelerator as given, or (auto) KVM only when it really runs a guest, else tcg. */
import type { Step } from "@kiln/core";
import { acceleratorMissing, probeKvm } from "../accel.js";
import { qemuErrors } from "../errors.js";
import type { QemuOptions } from "../schema.js";
import { ACCEL } from "../state.js";

export function acceleratorStep(o: QemuOptions): Step {
  return {
    name: "accelerator",
    async run(ctx) {
      if (o.accelerator !== "auto") {
        const missing = acceleratorMissing(o.accelerator);
        if (missing)
          throw qemuErrors.error(
            "KILN_QEMU_ACCEL",
            `accelerator ${o.accelerator}: ${missing}`,
            "Use accelerator: auto (KVM where it works, else tcg), kvm or tcg on this host.",
          );
        ctx.state.put(ACCEL, o.accelerator);
        return;
      }
      const r = await probeKvm(o.qemu_binary);
      ctx.state.put(ACCEL, r.usable ? "kvm" : "tcg");
      ctx.ui.say(
        r.usable
          ? `Accelerator: kvm (${r.reason})`
          : `Accelerator: tcg — KVM is not usable: ${r.reason}. Builds are much slower; set accelerator: tcg to skip this check.`,
      );
    },
  };
}
