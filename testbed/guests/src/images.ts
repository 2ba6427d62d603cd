/**
 * The two test images as base images for guests, built on demand into ~/.cache/kiln by their
 * packages (testbed/appliance: busybox + dropbear, seconds to boot; testbed/debian: Debian 12
 * with cloud-init and qemu-guest-agent, ~60 s to SSH under TCG).
 */
import { missingHostTools as applianceMissing, ensureAppliance } from "@kiln-testbed/appliance";
import {
  DEFAULT_USER,
  missingHostTools as debianMissing,
  ensureDebianImage,
  installHint,
} from "@kiln-testbed/debian";

export type ImageKind = "appliance" | "debian";

export interface BaseImage {
  kind: ImageKind;
  /** The cached image: boot it with `overlay: true` (or a copy), never in place. */
  file: string;
  format: "qcow2";
  /** Whether qemu-guest-agent runs in it. */
  agent: boolean;
  /** The SSH user the seed's keys go to. */
  user: string;
  /** Memory it is happy with under TCG. */
  memoryMiB: number;
  /** A console line that says the guest has booted (SSH may still take a moment). */
  ready: RegExp;
}

export async function ensureImage(kind: ImageKind): Promise<BaseImage> {
  if (kind === "appliance") {
    const a = await ensureAppliance();
    return {
      kind,
      file: a.disk,
      format: "qcow2",
      agent: false,
      user: "root",
      memoryMiB: 512,
      ready: /KILN-READY/,
    };
  }
  const d = await ensureDebianImage();
  return {
    kind,
    file: d.disk,
    format: "qcow2",
    agent: true,
    user: DEFAULT_USER,
    memoryMiB: 768,
    ready: /login: |Cloud-init .* finished/,
  };
}

/** Why the image cannot be built or booted here ("" when it can): the host tools its build needs. */
export function imageUnavailable(kind: ImageKind): string {
  if (kind === "appliance") {
    const m = applianceMissing();
    return m.length ? `missing ${m.join(", ")} (apt-get install qemu-system-x86 qemu-utils xorriso)` : "";
  }
  const m = debianMissing();
  return m.length ? `missing ${m.join(", ")} (${installHint(m)})` : "";
}
