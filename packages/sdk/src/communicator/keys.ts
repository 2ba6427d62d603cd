import { createHash } from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import ssh2 from "ssh2";
import { CommunicatorError } from "./errors.js";

export type TemporaryKeyType = "ed25519" | "rsa";

export interface TemporaryKeyPair {
  type: TemporaryKeyType;
  /** The OpenSSH public key line, `ssh-ed25519 AAAA… comment`, ready for authorized_keys. */
  publicKey: string;
  /** The private key in OpenSSH format (unencrypted). Treat as a secret. */
  privateKey: string;
  /** `SHA256:…`, as `ssh-keygen -l` prints it. */
  fingerprint: string;
}

/** The smallest RSA size accepted for a temporary key. */
export const MIN_RSA_BITS = 3072;

/** Generate a key pair for one build (Packer's temporary key pair). ed25519 by default; RSA needs at least 3072 bits. */
export function generateTemporaryKeyPair(
  type: TemporaryKeyType = "ed25519",
  bits?: number,
  comment = "kiln-temporary-key",
): TemporaryKeyPair {
  let pair: { public: string; private: string };
  if (type === "rsa") {
    const b = bits ?? MIN_RSA_BITS;
    if (!Number.isInteger(b) || b < MIN_RSA_BITS) {
      throw new CommunicatorError(
        "KILN_SSH_KEY",
        `temporary RSA key size ${String(b)} is too small: use at least ${MIN_RSA_BITS} bits`,
      );
    }
    pair = ssh2.utils.generateKeyPairSync("rsa", { bits: b, comment });
  } else if (type === "ed25519") {
    if (bits !== undefined && bits !== 256) {
      throw new CommunicatorError(
        "KILN_SSH_KEY",
        `ed25519 keys have a fixed size; do not pass bits (got ${String(bits)})`,
      );
    }
    // ssh2 drops a leading zero byte of the public key (about 1 key in 200: a 31-byte key that
    // OpenSSH and ssh2 itself refuse as malformed); such a pair is made again
    for (let attempt = 0; ; attempt++) {
      pair = ssh2.utils.generateKeyPairSync("ed25519", { comment });
      const ok = [pair.public, pair.private].every((k) => !(ssh2.utils.parseKey(k) instanceof Error));
      if (ok || attempt >= 20) break;
    }
  } else {
    throw new CommunicatorError(
      "KILN_SSH_KEY",
      `unknown temporary key type "${String(type)}": use "ed25519" or "rsa"`,
    );
  }
  const publicKey = pair.public.trim();
  return { type, publicKey, privateKey: pair.private, fingerprint: publicKeyFingerprint(publicKey) };
}

/** The SHA256 fingerprint (`SHA256:base64`, no padding) of an OpenSSH public key line or raw key blob. */
export function publicKeyFingerprint(key: string | Buffer): string {
  const blob = typeof key === "string" ? publicKeyBlob(key) : key;
  return `SHA256:${createHash("sha256").update(blob).digest("base64").replace(/=+$/, "")}`;
}

/** The raw key blob of an OpenSSH public key line (`type base64 [comment]`). */
export function publicKeyBlob(line: string): Buffer {
  const parts = line.trim().split(/\s+/);
  const b64 = parts[1];
  const bad = (): CommunicatorError =>
    new CommunicatorError(
      "KILN_SSH_KEY",
      'not an OpenSSH public key line (expected "<type> <base64> [comment]")',
    );
  if (parts.length < 2 || b64 === undefined || !/^[A-Za-z0-9+/]+=*$/.test(b64)) throw bad();
  const blob = Buffer.from(b64, "base64");
  // the blob starts with its own type name: uint32 length, then e.g. "ssh-ed25519"
  if (blob.length < 4) throw bad();
  const len = blob.readUInt32BE(0);
  if (len + 4 > blob.length || blob.subarray(4, 4 + len).toString("latin1") !== parts[0]) throw bad();
  return blob;
}

export interface TemporaryKeyFile {
  /** Absolute path of the private key file (mode 0600, in a private 0700 directory). */
  path: string;
  /** Delete the file and its directory. Safe to call more than once. */
  dispose(): Promise<void>;
}

/** Write a private key to a fresh temporary file with mode 0600; `dispose()` deletes it. */
export async function writeTemporaryPrivateKey(
  privateKey: string | Buffer,
  name = "id_kiln",
): Promise<TemporaryKeyFile> {
  const dir = await mkdtemp(join(tmpdir(), "kiln-key-"));
  const path = join(dir, name);
  try {
    await writeFile(path, privateKey, { mode: 0o600, flag: "wx" });
  } catch (err) {
    await rm(dir, { recursive: true, force: true });
    throw new CommunicatorError("KILN_SSH_KEY", `could not write the temporary private key file in ${dir}`, {
      cause: err,
    });
  }
  let disposed = false;
  return {
    path,
    async dispose() {
      if (disposed) return;
      disposed = true;
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/**
 * The OpenSSH public key line (`type base64`) of an unencrypted private key (OpenSSH or PEM),
 * e.g. to install ssh_private_key_file's key through cloud-init. Errors never show key material.
 */
export function publicKeyOf(privateKey: string | Buffer): string {
  const parsed = ssh2.utils.parseKey(privateKey);
  const first = parsed instanceof Error ? undefined : Array.isArray(parsed) ? parsed[0] : parsed;
  if (!first || parsed instanceof Error || !first.isPrivateKey())
    throw new CommunicatorError(
      "KILN_SSH_KEY",
      `not a usable private key${parsed instanceof Error ? `: ${parsed.message}` : ""}`,
      { hint: "Use an unencrypted OpenSSH or PEM private key." },
    );
  return `${first.type} ${first.getPublicSSH().toString("base64")}`;
}
