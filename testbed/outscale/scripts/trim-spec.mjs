#!/usr/bin/env node
/**
 * Writes the contract the OUTSCALE double serves, from ../shared/specs (run from anywhere):
 *
 *  - spec/oapi.subset.json: for each action the double serves, its request and response schemas
 *    from outscale.yaml (OAPI 1.40.1) and the closure of their $refs, with descriptions and
 *    examples stripped, plus ErrorResponse; the source, commit and BSD-3-Clause notice kept.
 *  - spec/sigv4/vectors.json: the header-signing cases of the aws-c-auth SigV4 test suite
 *    (context, request, canonical request, string to sign, signature), with its LICENSE and NOTICE.
 *
 * Deterministic; do not edit the outputs by hand.
 */
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parse } from "yaml";

const here = path.dirname(fileURLToPath(import.meta.url));
const pkg = path.resolve(here, "..");
const specs = process.env.KILN_SHARED_SPECS ?? path.resolve(pkg, "../../../shared/specs");
const yamlFile = path.join(specs, "outscale/outscale.yaml");
const vectorsDir = path.join(specs, "sigv4");

/** The actions the double serves (RESEARCH.md §2.9), every one `POST /api/v1/<Action>`. */
export const SERVED = [
  "ReadVms",
  "ReadVmsState",
  "CreateVms",
  "StopVms",
  "StartVms",
  "DeleteVms",
  "ReadAdminPassword",
  "ReadAccounts",
  "ReadImages",
  "CreateImage",
  "DeleteImage",
  "UpdateImage",
  "ReadKeypairs",
  "CreateKeypair",
  "DeleteKeypair",
  "ReadSecurityGroups",
  "CreateSecurityGroup",
  "CreateSecurityGroupRule",
  "DeleteSecurityGroup",
  "DeleteSecurityGroupRule",
  "ReadPublicIps",
  "CreatePublicIp",
  "LinkPublicIp",
  "UnlinkPublicIp",
  "DeletePublicIp",
  "ReadNets",
  "ReadSubnets",
  "ReadSubregions",
  "ReadRegions",
  "ReadVolumes",
  "CreateVolume",
  "LinkVolume",
  "UnlinkVolume",
  "DeleteVolume",
  "ReadSnapshots",
  "CreateSnapshot",
  "DeleteSnapshot",
  "UpdateSnapshot",
  "CreateTags",
  "DeleteTags",
  "ReadTags",
];

const doc = parse(fs.readFileSync(yamlFile, "utf8"), { maxAliasCount: -1 });
const schemas = doc.components.schemas;
const keep = new Set(["ErrorResponse"]);
const refName = (ref) => ref.replace("#/components/schemas/", "");
const visit = (v) => {
  if (Array.isArray(v)) return v.forEach(visit);
  if (!v || typeof v !== "object") return;
  if (typeof v.$ref === "string") {
    const n = refName(v.$ref);
    if (!keep.has(n)) {
      if (!schemas[n]) throw new Error(`${v.$ref} is not in ${yamlFile}`);
      keep.add(n);
      visit(schemas[n]);
    }
  }
  for (const x of Object.values(v)) visit(x);
};
visit(schemas.ErrorResponse);

const actions = {};
for (const a of SERVED) {
  const op = doc.paths[`/${a}`]?.post;
  if (!op) throw new Error(`POST /${a} is not in ${yamlFile}`);
  const req = op.requestBody?.content?.["application/json"]?.schema?.$ref;
  const res = op.responses?.["200"]?.content?.["application/json"]?.schema?.$ref;
  if (!req || !res) throw new Error(`${a}: no JSON request or response schema`);
  const errors = Object.keys(op.responses).filter((s) => s !== "200");
  actions[a] = { request: refName(req), response: refName(res), errorStatuses: errors };
  visit({ $ref: req });
  visit({ $ref: res });
}

// Strip descriptions everywhere except inside `properties` maps (where keys are field names).
const cleanSchema = (s) => {
  if (Array.isArray(s)) return s.map(cleanSchema);
  if (!s || typeof s !== "object") return s;
  const o = {};
  for (const [k, x] of Object.entries(s)) {
    if (k === "description" || k === "example" || k === "examples") continue;
    if (k === "properties") o[k] = Object.fromEntries(Object.entries(x).map(([n, p]) => [n, cleanSchema(p)]));
    else o[k] = cleanSchema(x);
  }
  return o;
};

const subset = {
  source: {
    file: "outscale.yaml (../shared/specs/outscale/outscale.yaml)",
    repository: "https://github.com/outscale/osc-api",
    commit: "56e948e",
    apiVersion: doc.info.version,
    licence: "BSD-3-Clause, Copyright (c) 2019, Outscale SAS (see spec/LICENSE)",
    generator: "testbed/outscale/scripts/trim-spec.mjs",
  },
  servers: "POST https://api.{region}.outscale.com/api/v1/{Action}",
  actions,
  schemas: Object.fromEntries([...keep].sort().map((n) => [n, cleanSchema(schemas[n])])),
};

const out = path.join(pkg, "spec");
fs.mkdirSync(path.join(out, "sigv4"), { recursive: true });
const lines = [
  "{",
  `"source": ${JSON.stringify(subset.source)},`,
  `"servers": ${JSON.stringify(subset.servers)},`,
];
lines.push('"actions": {');
const an = Object.keys(actions);
for (const [i, a] of an.entries())
  lines.push(`${JSON.stringify(a)}: ${JSON.stringify(actions[a])}${i < an.length - 1 ? "," : ""}`);
lines.push("},", '"schemas": {');
const sn = Object.keys(subset.schemas);
for (const [i, n] of sn.entries())
  lines.push(`${JSON.stringify(n)}: ${JSON.stringify(subset.schemas[n])}${i < sn.length - 1 ? "," : ""}`);
lines.push("}", "}");
const text = `${lines.join("\n")}\n`;
JSON.parse(text);
fs.writeFileSync(path.join(out, "oapi.subset.json"), text);
const copy = (from, to) => {
  fs.rmSync(to, { force: true });
  fs.copyFileSync(from, to);
  fs.chmodSync(to, 0o644);
};
copy(path.join(specs, "outscale/LICENSE"), path.join(out, "LICENSE"));

// SigV4 vectors (header signing only: OAPI requests are never presigned).
const vectors = [];
for (const name of fs.readdirSync(vectorsDir).sort()) {
  const d = path.join(vectorsDir, name);
  if (!fs.statSync(d).isDirectory()) continue;
  const read = (f) => fs.readFileSync(path.join(d, f), "utf8");
  vectors.push({
    name,
    context: JSON.parse(read("context.json")),
    request: read("request.txt"),
    canonicalRequest: read("header-canonical-request.txt"),
    stringToSign: read("header-string-to-sign.txt"),
    signature: read("header-signature.txt").trim(),
    signedRequest: read("header-signed-request.txt"),
  });
}
fs.writeFileSync(
  path.join(out, "sigv4/vectors.json"),
  `${JSON.stringify(
    {
      source: {
        repository: "https://github.com/awslabs/aws-c-auth",
        commit: "495329c",
        path: "tests/aws-signing-test-suite/v4 (header-* files)",
        licence: "Apache-2.0 (see LICENSE and NOTICE beside this file)",
        generator: "testbed/outscale/scripts/trim-spec.mjs",
      },
      vectors,
    },
    null,
    1,
  )}\n`,
);
copy(path.join(vectorsDir, "LICENSE"), path.join(out, "sigv4/LICENSE"));
copy(path.join(vectorsDir, "NOTICE"), path.join(out, "sigv4/NOTICE"));
console.log(
  `wrote spec/oapi.subset.json (${fs.statSync(path.join(out, "oapi.subset.json")).size} bytes, ${an.length} actions, ${sn.length} schemas) and spec/sigv4/vectors.json (${vectors.length} vectors)`,
);
