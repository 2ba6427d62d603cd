import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import {
  findSumsEntry,
  formatChecksum,
  hashTypeForLength,
  parseChecksum,
  parseSumsFile,
} from "./checksum.js";

const data = "kiln";
const hex = (t: string) => createHash(t).update(data).digest("hex");

describe("parseChecksum", () => {
  it.each(["md5", "sha1", "sha256", "sha384", "sha512"])("reads %s:<hex> and the bare hex", (type) => {
    expect(parseChecksum(`${type}:${hex(type)}`)).toEqual({ type, value: hex(type) });
    expect(parseChecksum(`${type.toUpperCase()}:${hex(type).toUpperCase()}`)).toEqual({
      type,
      value: hex(type),
    });
    expect(parseChecksum(` ${hex(type)} `)).toEqual({ type, value: hex(type) });
  });

  it("reads none and file:", () => {
    expect(parseChecksum("none")).toEqual({ type: "none", value: "" });
    expect(parseChecksum("NONE")).toEqual({ type: "none", value: "" });
    expect(parseChecksum("file:https://example.com/SHA256SUMS")).toEqual({
      type: "file",
      source: "https://example.com/SHA256SUMS",
    });
    expect(parseChecksum("file:./SHA256SUMS")).toEqual({ type: "file", source: "./SHA256SUMS" });
    expect(formatChecksum({ type: "sha256", value: "ab" })).toBe("sha256:ab");
    expect(formatChecksum({ type: "none", value: "" })).toBe("none");
  });

  it.each([
    ["", /empty/],
    ["file:", /file: needs/],
    ["sha256:xyz", /not hexadecimal/],
    [`sha256:${hex("md5")}`, /sha256 checksum has 64 hex digits, this one has 32/],
    [`crc32:${hex("md5")}`, /unknown hash type "crc32"/],
    ["a".repeat(50), /cannot infer the hash type from a 50-character value/],
    ["ubuntu.iso", /not hexadecimal/],
  ])("rejects %j", (spec, msg) => {
    expect(() => parseChecksum(spec)).toThrow(msg);
    try {
      parseChecksum(spec);
    } catch (err) {
      expect((err as { code: string }).code).toBe("KILN_CHECKSUM_INVALID");
      expect((err as { hint: string }).hint).toMatch(/sha256:<hex>/);
    }
  });

  it("infers types from lengths", () => {
    expect([32, 40, 64, 96, 128, 50].map(hashTypeForLength)).toEqual([
      "md5",
      "sha1",
      "sha256",
      "sha384",
      "sha512",
      undefined,
    ]);
  });
});

describe("parseSumsFile", () => {
  const a = hex("sha256");
  const b = hex("sha512");
  const m = hex("md5");
  const text = [
    "-----BEGIN PGP SIGNED MESSAGE-----",
    "Hash: SHA256",
    "",
    "# comment",
    `${a} *ubuntu-24.04-live-server-amd64.iso`,
    `${a}  ./plain.iso`,
    `${m}  space name.iso`,
    `SHA512 (bsd.iso) = ${b}`,
    `SHA256 (Fedora-Server-41.iso) = ${a}`,
    `\\${a}  back\\\\slash.iso`,
    "garbage line",
    "-----BEGIN PGP SIGNATURE-----",
    "iQIzBAEBCAAdFiEE",
  ].join("\r\n");
  const entries = parseSumsFile(text);

  it("reads GNU, binary-marked, ./ and BSD lines, skipping the rest", () => {
    expect(entries.map((e) => [e.name, e.type])).toEqual([
      ["ubuntu-24.04-live-server-amd64.iso", "sha256"],
      ["./plain.iso", "sha256"],
      ["space name.iso", "md5"],
      ["bsd.iso", "sha512"],
      ["Fedora-Server-41.iso", "sha256"],
      ["back\\slash.iso", "sha256"],
    ]);
  });

  it("finds entries by name, ./name and relative path", () => {
    expect(findSumsEntry(entries, ["ubuntu-24.04-live-server-amd64.iso"])?.value).toBe(a);
    expect(findSumsEntry(entries, ["plain.iso"])?.line).toBe(6);
    expect(findSumsEntry(entries, ["./bsd.iso"])?.type).toBe("sha512");
    expect(findSumsEntry(entries, ["space name.iso"])?.type).toBe("md5");
    expect(findSumsEntry(entries, ["missing.iso"])).toBeUndefined();
    const nested = parseSumsFile(`${a}  ./x86_64/boot.iso\n${m}  boot.iso.old\n`);
    expect(findSumsEntry(nested, ["boot.iso", "x86_64/boot.iso"])?.value).toBe(a);
  });

  it("uses a file holding only the digest", () => {
    const only = parseSumsFile(`${a}\n`);
    expect(findSumsEntry(only, ["anything.iso"])).toMatchObject({
      name: undefined,
      type: "sha256",
      value: a,
    });
  });
});
