#!/usr/bin/env node
// Produces spec/pve-api.subset.json from the full Proxmox VE API schema in ../shared.
//
//   node testbed/pve/scripts/trim-spec.mjs [path/to/apidata.json]
//
// Keeps only the paths and methods the double serves, with their parameters (types, enums,
// formats, patterns, limits, optional/required), permissions and return schemas; drops the
// documentation text (description, verbose_description, typetext, format_description, links)
// so the committed file stays small. The output is deterministic (keys sorted).
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const pkgDir = path.dirname(here);
const repoRoot = path.resolve(pkgDir, "../..");
const defaultSource = path.resolve(repoRoot, "../shared/specs/proxmox/apidata.json");
const source = process.argv[2] ? path.resolve(process.argv[2]) : defaultSource;
const out = path.join(pkgDir, "spec", "pve-api.subset.json");
/** The guest agent commands the double serves (src/routes/qemu-agent.ts reads the same file). */
const agent = JSON.parse(fs.readFileSync(path.join(pkgDir, "src/routes/agent-commands.json"), "utf8"));

/** The paths and methods the double serves. Keep in sync with src/server.ts. */
export const SERVED = {
  "/version": ["GET"],
  "/access/ticket": ["POST"],
  "/cluster/nextid": ["GET"],
  "/cluster/resources": ["GET"],
  "/nodes": ["GET"],
  "/nodes/{node}/qemu": ["GET", "POST"],
  "/nodes/{node}/qemu/{vmid}": ["DELETE"],
  "/nodes/{node}/qemu/{vmid}/config": ["GET", "POST", "PUT"],
  "/nodes/{node}/qemu/{vmid}/status/current": ["GET"],
  "/nodes/{node}/qemu/{vmid}/status/start": ["POST"],
  "/nodes/{node}/qemu/{vmid}/status/stop": ["POST"],
  "/nodes/{node}/qemu/{vmid}/status/shutdown": ["POST"],
  "/nodes/{node}/qemu/{vmid}/sendkey": ["PUT"],
  "/nodes/{node}/qemu/{vmid}/template": ["POST"],
  "/nodes/{node}/qemu/{vmid}/clone": ["POST"],
  "/nodes/{node}/qemu/{vmid}/agent": ["GET", "POST"],
  ...Object.fromEntries(agent.get.map((c) => [`/nodes/{node}/qemu/{vmid}/agent/${c}`, ["GET"]])),
  ...Object.fromEntries(agent.post.map((c) => [`/nodes/{node}/qemu/{vmid}/agent/${c}`, ["POST"]])),
  "/nodes/{node}/qemu/{vmid}/cloudinit/dump": ["GET"],
  "/nodes/{node}/tasks/{upid}/status": ["GET"],
  "/nodes/{node}/storage/{storage}/upload": ["POST"],
  "/nodes/{node}/storage/{storage}/download-url": ["POST"],
  "/nodes/{node}/storage": ["GET"],
  "/nodes/{node}/storage/{storage}/content": ["GET", "POST"],
  "/nodes/{node}/storage/{storage}/content/{volume}": ["DELETE"],
};

const DROP = new Set([
  "description",
  "verbose_description",
  "typetext",
  "format_description",
  "links",
  "renderer",
  "print_width",
]);

// Indexed parameters ("scsi[n]") stand for scsi0..scsiN. The highest N is only written in the
// description ("n is 0 to 30"), which is dropped, so it is kept as "x-n-max". Where the
// description does not say, the limits are qemu-server's constants (MAX_NETS 32, MAX_NUMA 8,
// MAX_HOSTPCI_DEVICES 16, MAX_UNUSED_DISKS 256, virtiofs 10).
const N_MAX_FALLBACK = { hostpci: 15, ipconfig: 31, net: 31, numa: 7, unused: 255, virtiofs: 9 };

// `properties` and object-valued `format` are maps from names to schemas: their keys are
// parameter names (a parameter may well be called "description"), so nothing is dropped there.
function strip(v, key) {
  if (Array.isArray(v)) return v.map((x) => strip(x));
  if (v && typeof v === "object") {
    const isMap = key === "properties" || key === "format";
    const o = {};
    for (const k of Object.keys(v).sort()) {
      if (!isMap && DROP.has(k)) continue;
      o[k] = isMap ? stripSchema(v[k], k) : strip(v[k], k);
    }
    return o;
  }
  return v;
}

function stripSchema(v, name) {
  const o = strip(v);
  if (name.endsWith("[n]") && o && typeof o === "object") {
    const text = `${v.description ?? ""} ${v.verbose_description ?? ""}`;
    const m = text.match(/n is 0 to (\d+)/);
    const max = m ? Number(m[1]) : N_MAX_FALLBACK[name.slice(0, -3)];
    if (max === undefined) throw new Error(`no index range for ${name}`);
    o["x-n-max"] = max;
  }
  return o;
}

const data = JSON.parse(fs.readFileSync(source, "utf8"));
const byPath = new Map();
(function walk(nodes) {
  for (const n of nodes) {
    byPath.set(n.path, n);
    if (n.children) walk(n.children);
  }
})(data);

// Property-string formats (drive, net, ... sub-schemas) repeat across methods and the config
// return schema: store each once under "formats" and refer to it as { "$ref": "<name>" }.
const formats = {};
const formatNames = new Map();
const SCHEMA_KEYS = new Set(["parameters", "returns", "items", "additionalProperties"]);
function dedupeFormats(v, name, role = "other") {
  if (Array.isArray(v)) return v.map((x) => dedupeFormats(x, name, role === "schema" ? "other" : role));
  if (!v || typeof v !== "object") return v;
  const o = {};
  for (const [k, x] of Object.entries(v)) {
    if (role === "map") o[k] = dedupeFormats(x, k, "schema");
    else if (role === "schema" && k === "format" && x && typeof x === "object") {
      // a property-string format: a map of sub-schemas, stored once under "formats"
      const json = JSON.stringify(x);
      let ref = formatNames.get(json);
      if (!ref) {
        const base = (name ?? "format").replace(/\[n\]$|\d+$/, "");
        ref = base;
        for (let i = 2; formats[ref]; i++) ref = `${base}-${i}`;
        formats[ref] = dedupeFormats(x, ref, "map");
        formatNames.set(json, ref);
      }
      o[k] = { $ref: ref };
    } else if (role === "schema" && k === "properties") o[k] = dedupeFormats(x, k, "map");
    else if (SCHEMA_KEYS.has(k) && x && typeof x === "object") o[k] = dedupeFormats(x, name, "schema");
    else o[k] = x;
  }
  return o;
}

const paths = {};
for (const [p, methods] of Object.entries(SERVED)) {
  const node = byPath.get(p);
  if (!node) throw new Error(`path ${p} is not in ${source}`);
  paths[p] = {};
  for (const m of methods) {
    const info = node.info?.[m];
    if (!info) throw new Error(`${m} ${p} is not in ${source}`);
    const { parameters, returns, permissions, protected: prot, allowtoken, proxyto, name } = info;
    paths[p][m] = dedupeFormats(
      strip({
        name,
        allowtoken,
        protected: prot,
        proxyto,
        permissions,
        parameters,
        returns,
      }),
    );
  }
}

const subset = {
  source: {
    file: "api-viewer/apidata.js (converted to JSON as ../shared/specs/proxmox/apidata.json)",
    repository: "https://git.proxmox.com/?p=pve-docs.git (mirror: github.com/proxmox/pve-docs)",
    commit: "e5010dc",
    pveVersion: "9.1",
    licence: "AGPL-3.0-or-later, Copyright Proxmox Server Solutions GmbH",
    generator: "testbed/pve/scripts/trim-spec.mjs",
  },
  formats: Object.fromEntries(
    Object.keys(formats)
      .sort()
      .map((k) => [k, formats[k]]),
  ),
  paths,
};
fs.mkdirSync(path.dirname(out), { recursive: true });
// One line per method and per format: small, yet diffs stay readable.
const lines = ["{", `"source": ${JSON.stringify(subset.source)},`, '"formats": {'];
const fk = Object.keys(subset.formats);
for (const [i, k] of fk.entries()) {
  lines.push(`${JSON.stringify(k)}: ${JSON.stringify(subset.formats[k])}${i < fk.length - 1 ? "," : ""}`);
}
lines.push("},", '"paths": {');
const pk = Object.keys(paths);
for (const [i, p] of pk.entries()) {
  lines.push(`${JSON.stringify(p)}: {`);
  const mk = Object.keys(paths[p]);
  for (const [j, m] of mk.entries()) {
    lines.push(`${JSON.stringify(m)}: ${JSON.stringify(paths[p][m])}${j < mk.length - 1 ? "," : ""}`);
  }
  lines.push(`}${i < pk.length - 1 ? "," : ""}`);
}
lines.push("}", "}");
const text = `${lines.join("\n")}\n`;
JSON.parse(text); // sanity
fs.writeFileSync(out, text);
console.log(
  `wrote ${path.relative(process.cwd(), out)} (${fs.statSync(out).size} bytes, ${Object.keys(paths).length} paths)`,
);
