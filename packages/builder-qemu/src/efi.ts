/** Finding OVMF (UEFI firmware for x86_64) where Debian and Ubuntu install it. */
import { existsSync } from "node:fs";

/** Code/vars pairs, preferred first (4M variants are what current Debian/Ubuntu ship). */
export const OVMF_PAIRS: ReadonlyArray<{ code: string; vars: string }> = [
  { code: "/usr/share/OVMF/OVMF_CODE_4M.fd", vars: "/usr/share/OVMF/OVMF_VARS_4M.fd" },
  { code: "/usr/share/OVMF/OVMF_CODE.fd", vars: "/usr/share/OVMF/OVMF_VARS.fd" },
  { code: "/usr/share/OVMF/OVMF_CODE_4M.secboot.fd", vars: "/usr/share/OVMF/OVMF_VARS_4M.fd" },
  { code: "/usr/share/OVMF/OVMF_CODE.secboot.fd", vars: "/usr/share/OVMF/OVMF_VARS.fd" },
  { code: "/usr/share/qemu/OVMF_CODE.fd", vars: "/usr/share/qemu/OVMF_VARS.fd" },
  { code: "/usr/share/edk2/ovmf/OVMF_CODE.fd", vars: "/usr/share/edk2/ovmf/OVMF_VARS.fd" },
  { code: "/usr/share/edk2-ovmf/x64/OVMF_CODE.fd", vars: "/usr/share/edk2-ovmf/x64/OVMF_VARS.fd" },
];

export function findOvmf(
  code?: string,
  vars?: string,
  exists: (p: string) => boolean = existsSync,
): { code: string; vars: string } | undefined {
  if (code && vars) return { code, vars };
  for (const pair of OVMF_PAIRS) {
    if (code && pair.code !== code) continue;
    if (exists(pair.code) && exists(vars ?? pair.vars)) return { code: pair.code, vars: vars ?? pair.vars };
  }
  return undefined;
}
