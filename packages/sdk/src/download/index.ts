export {
  type Checksum,
  type ChecksumSpec,
  findSumsEntry,
  formatChecksum,
  HASH_TYPES,
  type HashType,
  hashFile,
  hashTypeForLength,
  parseChecksum,
  parseSumsFile,
  type SumsEntry,
} from "./checksum.js";
export {
  cacheKey,
  defaultDownloadCacheDir,
  type FetchArtifactOptions,
  type FetchArtifactResult,
  fetchArtifact,
  resolveChecksum,
} from "./fetch.js";
