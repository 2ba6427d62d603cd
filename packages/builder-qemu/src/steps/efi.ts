/** The EFI step (efi_boot): find OVMF and copy its variables template into the staging folder. */
import { copyFile } from "node:fs/promises";
import { join } from "node:path";
import type { Step } from "@kiln/core";
import { OUTPUT_DIR } from "@kiln/sdk";
import { findOvmf } from "../efi.js";
import { qemuErrors } from "../errors.js";
import type { QemuOptions } from "../schema.js";
import { EFI } from "../state.js";

export function efiStep(o: QemuOptions): Step {
  return {
    name: "efi",
    async run(ctx) {
      if (!o.efi_boot) return;
      const fw = findOvmf(o.efi_firmware_code, o.efi_firmware_vars);
      if (!fw)
        throw qemuErrors.error(
          "KILN_QEMU_EFI",
          "efi_boot is set but no OVMF firmware was found",
          "Install it (Debian/Ubuntu: apt-get install ovmf), or set efi_firmware_code and efi_firmware_vars.",
        );
      const vars = join(ctx.state.require(OUTPUT_DIR).staging, "efivars.fd");
      await copyFile(fw.vars, vars);
      ctx.state.put(EFI, { code: fw.code, vars });
    },
  };
}
