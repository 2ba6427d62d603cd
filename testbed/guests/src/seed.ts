/**
 * NoCloud seeds: user-data / meta-data / network-config on a volume labelled `cidata`. Both
 * test images read the same seed: the Debian image with cloud-init, the appliance with its own
 * reader (testbed/appliance/guest/cidata.sh: hostname, root password, SSH keys, runcmd).
 */
import { mkdtemp, rm } from "node:fs/promises";
import path from "node:path";
import { makeIso } from "@kiln/sdk";

export interface NoCloudSeed {
  /** `#cloud-config …` (see cloudConfig) or a script. */
  userData: string;
  /** Default: `instance-id` unique per seed, `local-hostname` the guest's name. */
  metaData?: string;
  /** network-config (v1/v2); the appliance ignores it. */
  networkConfig?: string;
  vendorData?: string;
  /** Volume label; default `cidata`. */
  label?: string;
}

export interface CloudConfigOptions {
  hostname?: string;
  /** Keys for the default user (`debian` on the Debian image; root on the appliance). */
  sshAuthorizedKeys?: string[];
  /** Password of the default user (root on the appliance); enables password SSH on neither image's sshd. */
  password?: string;
  /** Commands run once at first boot, as the appliance and cloud-init both run them. */
  runcmd?: (string | string[])[];
  /** Extra top-level cloud-config YAML appended as is (cloud-init only; the appliance ignores it). */
  extra?: string;
}

/** A YAML double-quoted scalar (JSON's escapes are YAML's). */
const q = (s: string) => JSON.stringify(s);

/**
 * A `#cloud-config` user-data both images understand: only the keys the appliance's reader
 * knows, strings double-quoted, lists in block style.
 */
export function cloudConfig(o: CloudConfigOptions): string {
  const lines = ["#cloud-config"];
  if (o.hostname !== undefined) lines.push(`hostname: ${q(o.hostname)}`);
  if (o.password !== undefined) lines.push(`password: ${q(o.password)}`, "chpasswd: { expire: false }");
  if (o.sshAuthorizedKeys?.length) {
    lines.push("ssh_authorized_keys:");
    for (const k of o.sshAuthorizedKeys) lines.push(`  - ${q(k.trim())}`);
  }
  if (o.runcmd?.length) {
    lines.push("runcmd:");
    for (const c of o.runcmd) lines.push(`  - ${Array.isArray(c) ? `[${c.map(q).join(", ")}]` : q(c)}`);
  }
  if (o.extra) lines.push(o.extra.trimEnd());
  return `${lines.join("\n")}\n`;
}

/** meta-data with an instance id (a new one makes cloud-init treat the boot as a first boot). */
export function metaData(instanceId: string, hostname?: string): string {
  return `instance-id: ${q(instanceId)}\n${hostname ? `local-hostname: ${q(hostname)}\n` : ""}`;
}

/** The files of a seed, as they go on the volume. */
export function seedFiles(seed: NoCloudSeed, defaults: { instanceId: string; hostname?: string }) {
  const files: Record<string, string> = {
    "user-data": seed.userData,
    "meta-data": seed.metaData ?? metaData(defaults.instanceId, defaults.hostname),
  };
  if (seed.networkConfig !== undefined) files["network-config"] = seed.networkConfig;
  if (seed.vendorData !== undefined) files["vendor-data"] = seed.vendorData;
  return files;
}

/** Writes the seed as an ISO 9660 image labelled `cidata` (xorriso/mkisofs/genisoimage via @kiln/sdk). */
export async function writeSeedIso(
  seed: NoCloudSeed,
  output: string,
  defaults: { instanceId: string; hostname?: string } = { instanceId: `kiln-${Date.now()}` },
): Promise<string> {
  const staging = await mkdtemp(path.join(path.dirname(path.resolve(output)), ".seed-"));
  try {
    const r = await makeIso({
      content: seedFiles(seed, defaults),
      label: seed.label ?? "cidata",
      output: path.resolve(output),
      baseDir: staging,
    });
    return r.output;
  } finally {
    await rm(staging, { recursive: true, force: true });
  }
}
