import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { readFile, stat, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import ssh2 from "ssh2";
import { describe, expect, it } from "vitest";
import {
  generateTemporaryKeyPair,
  MIN_RSA_BITS,
  publicKeyBlob,
  publicKeyFingerprint,
  writeTemporaryPrivateKey,
} from "./keys.js";

const hasKeygen = existsSync("/usr/bin/ssh-keygen");

describe("generateTemporaryKeyPair", () => {
  it("makes an ed25519 pair by default, in OpenSSH formats", () => {
    const k = generateTemporaryKeyPair();
    expect(k.type).toBe("ed25519");
    expect(k.publicKey).toMatch(/^ssh-ed25519 AAAA[A-Za-z0-9+/]+=* kiln-temporary-key$/);
    expect(k.privateKey).toContain("BEGIN OPENSSH PRIVATE KEY");
    const parsed = ssh2.utils.parseKey(k.privateKey);
    expect(parsed).not.toBeInstanceOf(Error);
    expect(k.fingerprint).toMatch(/^SHA256:[A-Za-z0-9+/]{43}$/);
    expect(generateTemporaryKeyPair().publicKey).not.toBe(k.publicKey);
  });

  it("never gives a malformed ed25519 pair (ssh2 drops a leading zero byte about once in 200)", () => {
    for (let i = 0; i < 2000; i++) {
      const k = generateTemporaryKeyPair();
      const blob = publicKeyBlob(k.publicKey);
      // uint32 11, "ssh-ed25519", uint32 32, the 32 key bytes
      expect(blob.length, k.publicKey).toBe(4 + 11 + 4 + 32);
      expect(ssh2.utils.parseKey(k.publicKey), k.publicKey).not.toBeInstanceOf(Error);
    }
  });

  it("makes RSA keys of at least 3072 bits and refuses smaller ones", () => {
    const k = generateTemporaryKeyPair("rsa");
    expect(k.publicKey).toMatch(/^ssh-rsa AAAA/);
    expect(() => generateTemporaryKeyPair("rsa", 2048)).toThrow(/at least 3072/);
    expect(MIN_RSA_BITS).toBe(3072);
    expect(() => generateTemporaryKeyPair("ed25519", 4096)).toThrow(/fixed size/);
    expect(() => generateTemporaryKeyPair("dsa" as "rsa")).toThrow(/unknown temporary key type/);
  });

  it.skipIf(!hasKeygen)("has the fingerprint ssh-keygen computes", async () => {
    const k = generateTemporaryKeyPair();
    const f = await writeTemporaryPrivateKey(k.privateKey);
    try {
      const pub = join(dirname(f.path), "key.pub");
      await writeFile(pub, `${k.publicKey}\n`);
      const out = execFileSync("/usr/bin/ssh-keygen", ["-l", "-f", pub], { encoding: "utf8" });
      expect(out.split(" ")[1]).toBe(k.fingerprint);
      // and ssh-keygen accepts the private key, deriving the same public key
      const derived = execFileSync("/usr/bin/ssh-keygen", ["-y", "-f", f.path], { encoding: "utf8" });
      expect(derived.split(" ").slice(0, 2).join(" ")).toBe(k.publicKey.split(" ").slice(0, 2).join(" "));
      expect(publicKeyFingerprint(k.publicKey)).toBe(k.fingerprint);
    } finally {
      await f.dispose();
    }
  });
});

describe("writeTemporaryPrivateKey", () => {
  it("writes the key with mode 0600 in a private directory and deletes it on dispose", async () => {
    const k = generateTemporaryKeyPair();
    const f = await writeTemporaryPrivateKey(k.privateKey);
    expect((await stat(f.path)).mode & 0o777).toBe(0o600);
    expect((await stat(dirname(f.path))).mode & 0o777).toBe(0o700);
    expect(await readFile(f.path, "utf8")).toBe(k.privateKey);
    await f.dispose();
    expect(existsSync(f.path)).toBe(false);
    expect(existsSync(dirname(f.path))).toBe(false);
    await f.dispose(); // idempotent
  });
});

describe("publicKeyOf", () => {
  it("gives the public key line of a private key, and refuses what is not one", async () => {
    const { publicKeyOf, generateTemporaryKeyPair } = await import("./keys.js");
    for (const type of ["ed25519", "rsa"] as const) {
      const pair = generateTemporaryKeyPair(type);
      expect(publicKeyOf(pair.privateKey)).toBe(pair.publicKey.split(/\s+/).slice(0, 2).join(" "));
    }
    expect(() => publicKeyOf("not a key")).toThrow(/not a usable private key/);
  });
});
