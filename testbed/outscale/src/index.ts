export { loadSigV4Vectors, type SigV4Vector, VECTORS_PATH } from "./sigv4-vectors.js";
