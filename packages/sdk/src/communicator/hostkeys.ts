import { createHmac } from "node:crypto";
import { CommunicatorError } from "./errors.js";
import { publicKeyBlob, publicKeyFingerprint } from "./keys.js";

/** A set of accepted host keys: raw key blobs and/or `SHA256:` fingerprints. */
export interface HostKeyPins {
  blobs: Buffer[];
  fingerprints: Set<string>;
  /** Where the pins came from, for error messages. */
  sources: string[];
}

/** Pins from `ssh_host_key`: OpenSSH public key lines (`ssh-ed25519 AAAA…`) or `SHA256:…` fingerprints. */
export function pinsFromHostKeys(keys: string | string[]): HostKeyPins {
  const pins: HostKeyPins = { blobs: [], fingerprints: new Set(), sources: ["ssh_host_key"] };
  for (const raw of Array.isArray(keys) ? keys : [keys]) {
    const k = raw.trim();
    if (k === "") continue;
    if (k.startsWith("SHA256:")) pins.fingerprints.add(k.replace(/=+$/, ""));
    else pins.blobs.push(publicKeyBlob(k));
  }
  if (pins.blobs.length === 0 && pins.fingerprints.size === 0) {
    throw new CommunicatorError(
      "KILN_SSH_CONFIG",
      "ssh_host_key is empty: give an OpenSSH public key line or a SHA256: fingerprint",
    );
  }
  return pins;
}

function globToRegExp(glob: string): RegExp {
  const re = glob
    .replace(/[.+^${}()|[\]\\]/g, "\\$&")
    .replace(/\*/g, ".*")
    .replace(/\?/g, ".");
  return new RegExp(`^${re}$`, "i");
}

function hostMatches(pattern: string, names: string[]): boolean {
  if (pattern.startsWith("|1|")) {
    const [, , salt, hash] = pattern.split("|");
    if (salt === undefined || hash === undefined) return false;
    const key = Buffer.from(salt, "base64");
    return names.some((n) => createHmac("sha1", key).update(n).digest("base64") === hash);
  }
  let matched = false;
  for (const p of pattern.split(",")) {
    const negated = p.startsWith("!");
    const re = globToRegExp(negated ? p.slice(1) : p);
    if (names.some((n) => re.test(n))) {
      if (negated) return false;
      matched = true;
    }
  }
  return matched;
}

/** Pins for `host:port` from the text of an OpenSSH known_hosts file (plain, wildcard and hashed entries). */
export function pinsFromKnownHosts(text: string, host: string, port: number, source: string): HostKeyPins {
  const names = port === 22 ? [host, `[${host}]:22`] : [`[${host}]:${port}`];
  const pins: HostKeyPins = { blobs: [], fingerprints: new Set(), sources: [source] };
  const revoked: Buffer[] = [];
  for (const line of text.split(/\r?\n/)) {
    const t = line.trim();
    if (t === "" || t.startsWith("#")) continue;
    const fields = t.split(/\s+/);
    let marker: string | undefined;
    if (fields[0]?.startsWith("@")) marker = fields.shift();
    const [patterns, type, b64] = fields;
    if (patterns === undefined || type === undefined || b64 === undefined) continue;
    if (marker === "@cert-authority") continue;
    if (!hostMatches(patterns, names)) continue;
    const blob = Buffer.from(b64, "base64");
    if (marker === "@revoked") revoked.push(blob);
    else pins.blobs.push(blob);
  }
  pins.blobs = pins.blobs.filter((b) => !revoked.some((r) => r.equals(b)));
  return pins;
}

export function hostKeyAllowed(pins: HostKeyPins, key: Buffer): boolean {
  if (pins.blobs.some((b) => b.equals(key))) return true;
  return pins.fingerprints.has(publicKeyFingerprint(key));
}
