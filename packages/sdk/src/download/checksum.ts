/**
 * `iso_checksum` in the forms Packer accepts:
 *
 * - `sha256:<hex>`, `sha1:<hex>`, `md5:<hex>`, `sha512:<hex>` (also `sha384:`), type case-insensitive;
 * - a bare hex value, the type inferred from its length (32 md5, 40 sha1, 64 sha256, 96 sha384, 128 sha512);
 * - `file:<url or path>` of a checksum file (SHA256SUMS, `*.sha256`, BSD `SHA256 (name) = hex` lines),
 *   the entry found by the artifact's file name, the type taken from the BSD line or inferred from the length;
 * - `none`: no verification (allowed, but warned about).
 */
import { createHash, type Hash } from "node:crypto";
import { createReadStream } from "node:fs";
import { KilnError } from "@kiln/core";

export type HashType = "md5" | "sha1" | "sha256" | "sha384" | "sha512";

/** A resolved checksum: what a file must hash to, or `none`. */
export type Checksum = { type: HashType; value: string } | { type: "none"; value: "" };

/** `iso_checksum` parsed, before any checksum file is fetched. */
export type ChecksumSpec = Checksum | { type: "file"; source: string };

export const HASH_TYPES: readonly HashType[] = ["md5", "sha1", "sha256", "sha384", "sha512"];

const HEX_LENGTH: Record<HashType, number> = { md5: 32, sha1: 40, sha256: 64, sha384: 96, sha512: 128 };

/** The hash type whose hex digest has this many characters, if any. */
export function hashTypeForLength(length: number): HashType | undefined {
  return HASH_TYPES.find((t) => HEX_LENGTH[t] === length);
}

export function isHashType(s: string): s is HashType {
  return (HASH_TYPES as readonly string[]).includes(s);
}

const HINT =
  'Write iso_checksum as "sha256:<hex>" (or md5:, sha1:, sha512:), a bare hex value, "file:<url of a SHA256SUMS file>", or "none".';

function invalid(spec: string, why: string): KilnError {
  return new KilnError("KILN_CHECKSUM_INVALID", `invalid checksum ${JSON.stringify(spec)}: ${why}`, {
    hint: HINT,
  });
}

/** Check a hex digest against a type (or infer the type) and normalise it to lower case. */
export function checksumOf(
  type: HashType | undefined,
  hex: string,
  spec = hex,
): Checksum & { type: HashType } {
  const value = hex.trim().toLowerCase();
  if (!/^[0-9a-f]+$/.test(value)) throw invalid(spec, "the value is not hexadecimal");
  const t = type ?? hashTypeForLength(value.length);
  if (!t) {
    throw invalid(
      spec,
      `cannot infer the hash type from a ${value.length}-character value (md5 has 32, sha1 40, sha256 64, sha512 128)`,
    );
  }
  if (value.length !== HEX_LENGTH[t]) {
    throw invalid(spec, `a ${t} checksum has ${HEX_LENGTH[t]} hex digits, this one has ${value.length}`);
  }
  return { type: t, value };
}

/** Parse `iso_checksum`. Throws `KILN_CHECKSUM_INVALID` with a hint for malformed values. */
export function parseChecksum(spec: string): ChecksumSpec {
  const s = spec.trim();
  if (s === "")
    throw invalid(spec, 'it is empty (use "none" to skip verification, which is not recommended)');
  if (s.toLowerCase() === "none") return { type: "none", value: "" };
  const colon = s.indexOf(":");
  if (colon < 0) return checksumOf(undefined, s, spec);
  const prefix = s.slice(0, colon).toLowerCase();
  const rest = s.slice(colon + 1).trim();
  if (prefix === "file") {
    if (rest === "") throw invalid(spec, "file: needs the URL or path of a checksum file");
    return { type: "file", source: rest };
  }
  if (!isHashType(prefix)) throw invalid(spec, `unknown hash type "${prefix}"`);
  return checksumOf(prefix, rest, spec);
}

/** `sha256:abc…` or `none`. */
export function formatChecksum(c: Checksum): string {
  return c.type === "none" ? "none" : `${c.type}:${c.value}`;
}

/** One line of a checksum file. `name` is undefined for a line holding only a digest. */
export interface SumsEntry {
  name: string | undefined;
  type: HashType;
  value: string;
  line: number;
}

/**
 * Parse a checksum file: GNU coreutils lines (`<hex>  name`, `<hex> *name`, escaped `\<hex>  na\\me`),
 * BSD/`--tag` lines (`SHA256 (name) = <hex>`), and lines holding only a digest (`foo.iso.sha256`).
 * Comments, blank lines, PGP armour and anything unrecognised are skipped.
 */
export function parseSumsFile(text: string): SumsEntry[] {
  const entries: SumsEntry[] = [];
  const lines = text.replace(/^\uFEFF/, "").split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const line = (lines[i] as string).trim();
    if (line === "" || line.startsWith("#")) continue;
    const bsd =
      /^(MD5|SHA1|SHA224|SHA256|SHA384|SHA512|SHA2-256|SHA2-512)\s*\((.*)\)\s*=\s*([0-9a-fA-F]+)$/i.exec(
        line,
      );
    if (bsd) {
      const raw = (bsd[1] as string).toLowerCase().replace("sha2-", "sha");
      if (!isHashType(raw)) continue;
      const value = (bsd[3] as string).toLowerCase();
      if (value.length !== HEX_LENGTH[raw]) continue;
      entries.push({ name: bsd[2] as string, type: raw, value, line: i + 1 });
      continue;
    }
    const escaped = line.startsWith("\\");
    const gnu = /^([0-9a-fA-F]+)(?:\s+\*?(.*))?$/.exec(escaped ? line.slice(1) : line);
    if (!gnu) continue;
    const value = (gnu[1] as string).toLowerCase();
    const type = hashTypeForLength(value.length);
    if (!type) continue;
    let name = gnu[2] === undefined || gnu[2] === "" ? undefined : gnu[2];
    if (name !== undefined && escaped)
      name = name.replace(/\\(\\|n|r)/g, (_, c: string) => (c === "n" ? "\n" : c === "r" ? "\r" : "\\"));
    entries.push({ name, type, value, line: i + 1 });
  }
  return entries;
}

function stripDotSlash(name: string): string {
  let n = name.replace(/\\/g, "/");
  while (n.startsWith("./")) n = n.slice(2);
  return n;
}

/**
 * Find the entry for an artifact among `candidates` (its file name, its path relative to the
 * checksum file, its absolute path). `./name` and `*name` entries match `name`. When no named entry
 * matches, the first entry without a name (a file holding just a digest) is used.
 */
export function findSumsEntry(entries: SumsEntry[], candidates: string[]): SumsEntry | undefined {
  const wanted = new Set(candidates.filter((c) => c !== "").map(stripDotSlash));
  for (const e of entries) {
    if (e.name !== undefined && wanted.has(stripDotSlash(e.name))) return e;
  }
  return entries.find((e) => e.name === undefined);
}

/** A streaming hasher for a checksum type. */
export function createHasher(type: HashType): Hash {
  return createHash(type);
}

/** Hash a file, reporting progress and honouring `signal`. */
export async function hashFile(
  path: string,
  type: HashType,
  opts: { signal?: AbortSignal; onChunk?: (bytes: number) => void } = {},
): Promise<string> {
  const hash = createHasher(type);
  const stream = createReadStream(path, { highWaterMark: 1 << 20 });
  try {
    for await (const chunk of stream) {
      opts.signal?.throwIfAborted();
      hash.update(chunk as Buffer);
      opts.onChunk?.((chunk as Buffer).length);
    }
  } finally {
    stream.destroy();
  }
  return hash.digest("hex");
}
