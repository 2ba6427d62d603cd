import { createHmac, randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { hostKeyAllowed, pinsFromHostKeys, pinsFromKnownHosts } from "./hostkeys.js";
import { generateTemporaryKeyPair, publicKeyBlob } from "./keys.js";

const a = generateTemporaryKeyPair();
const b = generateTemporaryKeyPair();
const blobA = publicKeyBlob(a.publicKey);
const blobB = publicKeyBlob(b.publicKey);
const keyPart = (line: string) => line.split(" ").slice(0, 2).join(" ");

describe("host key pins", () => {
  it("accepts pinned public key lines and SHA256 fingerprints only", () => {
    expect(hostKeyAllowed(pinsFromHostKeys(a.publicKey), blobA)).toBe(true);
    expect(hostKeyAllowed(pinsFromHostKeys(a.publicKey), blobB)).toBe(false);
    expect(hostKeyAllowed(pinsFromHostKeys([b.fingerprint]), blobB)).toBe(true);
    expect(hostKeyAllowed(pinsFromHostKeys([b.fingerprint]), blobA)).toBe(false);
    expect(() => pinsFromHostKeys("")).toThrow(/empty/);
    expect(() => pinsFromHostKeys("not a key")).toThrow(/OpenSSH public key/);
  });

  it("reads known_hosts: plain, [host]:port, wildcard, negation, hashed, revoked", () => {
    const salt = randomBytes(20);
    const hashed = `|1|${salt.toString("base64")}|${createHmac("sha1", salt).update("[10.0.0.9]:2222").digest("base64")}`;
    const text = [
      "# comment",
      `example.com,192.0.2.1 ${keyPart(a.publicKey)}`,
      `[192.0.2.1]:2222 ${keyPart(b.publicKey)}`,
      `*.lab.test,!bad.lab.test ${keyPart(b.publicKey)}`,
      `${hashed} ${keyPart(a.publicKey)}`,
      `@revoked revoked.test ${keyPart(a.publicKey)}`,
      `revoked.test ${keyPart(a.publicKey)}`,
    ].join("\n");
    const allowed = (host: string, port: number, blob: Buffer) =>
      hostKeyAllowed(pinsFromKnownHosts(text, host, port, "kh"), blob);
    expect(allowed("example.com", 22, blobA)).toBe(true);
    expect(allowed("example.com", 22, blobB)).toBe(false);
    expect(allowed("192.0.2.1", 2222, blobB)).toBe(true);
    expect(allowed("192.0.2.1", 2222, blobA)).toBe(false); // port 2222 needs its own entry
    expect(allowed("vm1.lab.test", 22, blobB)).toBe(true);
    expect(allowed("bad.lab.test", 22, blobB)).toBe(false);
    expect(allowed("10.0.0.9", 2222, blobA)).toBe(true);
    expect(allowed("10.0.0.9", 22, blobA)).toBe(false);
    expect(allowed("revoked.test", 22, blobA)).toBe(false);
    expect(allowed("unknown.test", 22, blobA)).toBe(false);
  });
});
