export { makeCa, makeLeaf, makeSelfSigned, type Pem } from "./cert.js";
export { type FaultSpec, hitsRequest } from "./request-faults.js";
