#!/usr/bin/env node
// A stand-in for npm in unit tests (KILN_NPM=this file): installs packages by copying them from
// $FAKE_NPM_SOURCE/<name>, writes a package-lock.json with made-up integrity hashes, records each
// call in $FAKE_NPM_LOG, fails `ci` with EINTEGRITY for $FAKE_NPM_TAMPER, and runs a package's
// `postinstall` script (with /bin/sh, in the package's folder) unless --ignore-scripts is given.
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";

const src = process.env.FAKE_NPM_SOURCE;
fs.appendFileSync(process.env.FAKE_NPM_LOG, `${JSON.stringify(process.argv.slice(2))}\n`);
const [cmd, ...rest] = process.argv.slice(2).filter((a) => !a.startsWith("--"));
const cwd = process.cwd();
const pjFile = path.join(cwd, "package.json");
const lockFile = path.join(cwd, "package-lock.json");
const readJ = (f) => JSON.parse(fs.readFileSync(f, "utf8"));
const integrity = (name, v) =>
  `sha512-${Buffer.from(`${name}@${v}${process.env.FAKE_NPM_TAMPER === name ? "-tampered" : ""}`).toString("base64")}`;
function fail(code, msg) {
  process.stderr.write(`npm error code ${code}\nnpm error ${msg}\n`);
  process.exit(1);
}
function versionOf(name) {
  const f = path.join(src, name, "package.json");
  if (!fs.existsSync(f)) fail("E404", `404 Not Found - GET https://registry.example/${name} - Not found`);
  return readJ(f).version;
}
const ignoreScripts = process.argv.includes("--ignore-scripts");
function installPkg(name) {
  const v = versionOf(name);
  const dest = path.join(cwd, "node_modules", name);
  fs.cpSync(path.join(src, name), dest, { recursive: true });
  const script = readJ(path.join(dest, "package.json")).scripts?.postinstall;
  if (script && !ignoreScripts) execFileSync("/bin/sh", ["-c", script], { cwd: dest, stdio: "ignore" });
  return v;
}
function writeLock(pj) {
  const packages = { "": { name: pj.name, dependencies: pj.dependencies } };
  for (const n of Object.keys(pj.dependencies)) {
    const f = path.join(cwd, "node_modules", n, "package.json");
    if (!fs.existsSync(f)) continue;
    const v = readJ(f).version;
    packages[`node_modules/${n}`] = { version: v, integrity: integrity(n, v) };
  }
  fs.writeFileSync(
    lockFile,
    JSON.stringify({ name: pj.name, lockfileVersion: 3, requires: true, packages }, null, 2),
  );
}
const split = (spec) => {
  const at = spec.indexOf("@", 1);
  return at > 0 ? [spec.slice(0, at), spec.slice(at + 1)] : [spec, undefined];
};
switch (cmd) {
  case "view":
    console.log(versionOf(rest[0]));
    break;
  case "install": {
    const pj = readJ(pjFile);
    for (const spec of rest) {
      const [name, range] = split(spec);
      const v = installPkg(name);
      pj.dependencies[name] = range ?? `^${v}`;
    }
    fs.writeFileSync(pjFile, JSON.stringify(pj, null, 2));
    writeLock(pj);
    break;
  }
  case "uninstall": {
    const pj = readJ(pjFile);
    for (const n of rest) {
      delete pj.dependencies[n];
      fs.rmSync(path.join(cwd, "node_modules", n), { recursive: true, force: true });
    }
    fs.writeFileSync(pjFile, JSON.stringify(pj, null, 2));
    writeLock(pj);
    break;
  }
  case "ci": {
    const lock = readJ(lockFile);
    fs.rmSync(path.join(cwd, "node_modules"), { recursive: true, force: true });
    const entries = Object.entries(lock.packages).filter(([k]) => k);
    for (const [k, e] of entries) {
      const n = k.slice("node_modules/".length);
      const got = integrity(n, versionOf(n));
      if (got !== e.integrity)
        fail(
          "EINTEGRITY",
          `${e.integrity} integrity checksum failed when using sha512: wanted ${e.integrity} but got ${got}. (123 bytes)`,
        );
    }
    for (const [k] of entries) installPkg(k.slice("node_modules/".length));
    break;
  }
  case "update":
    break;
  default:
    fail("EUSAGE", `fake npm does not know ${cmd}`);
}
