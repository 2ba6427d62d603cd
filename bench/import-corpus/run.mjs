#!/usr/bin/env node
// bench/import-corpus: `kiln import --check` over a corpus of real Packer templates, read from
// their public repositories into a folder (never committed), and the share that imports and
// validates. Each unit is a template folder or file, with the variables files it is built with.
//   node bench/import-corpus/run.mjs <corpus-dir> [units.json] [--verbose]
// <corpus-dir>/<owner>+<repo>/… holds each repository's files; units.json (default: the one
// beside this script) lists { repo, path, varFiles? } with paths relative to the repository.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const repo = fileURLToPath(new URL("../../", import.meta.url));
const { importTemplates, ImportError } = await import(join(repo, "packages/import/dist/index.js"));
const { resolverOptions } = await import(join(repo, "packages/cli/dist/shared.js"));
const { parse } = await import(join(repo, "packages/import/node_modules/yaml/dist/index.js"));

/**
 * A value for a variable the template needs and the repository gives none for (credentials, a
 * host, a node): what its user would put in a variables file, guessed from its type and name.
 */
function guess(name, type, scratch) {
  const n = name.toLowerCase();
  if ((type === "string" || type === undefined) && /_file$|_path$|key_file|_key$/.test(n)) {
    // a file of the user's (a public key, a certificate): one that exists
    const f = join(scratch, `${name}.txt`);
    writeFileSync(f, "kiln\n");
    return f;
  }
  if (type === "bool") return false;
  if (type === "list") return [];
  if (type === "map") return {};
  const pick = (re) => re.test(n);
  if (type === "number") {
    if (pick(/id$/)) return 100;
    if (pick(/mem/)) return 2048;
    if (pick(/port/)) return 22;
    if (pick(/size/)) return 10240;
    return 1;
  }
  if (pick(/timeout|wait/)) return "10m";
  if (pick(/insecure|skip|enable|disable|^is_|_tls/)) return "false";
  if (pick(/checksum/)) return "none";
  if (pick(/url|endpoint|api/)) return "https://pve.example.invalid:8006/api2/json";
  if (pick(/password|token|secret|passwd/)) return "kiln-secret";
  if (pick(/disk_size|size/)) return "10240";
  if (pick(/mem/)) return "2048";
  if (pick(/cpu|core|socket/)) return "2";
  if (pick(/vm_?id|_id$/)) return "100";
  if (pick(/port/)) return "22";
  if (pick(/host|address|ip$/)) return "192.0.2.10";
  return "kiln";
}

const args = process.argv.slice(2).filter((a) => !a.startsWith("--"));
const verbose = process.argv.includes("--verbose");
const root = resolve(args[0] ?? "");
const units = JSON.parse(
  readFileSync(args[1] ?? fileURLToPath(new URL("units.json", import.meta.url)), "utf8"),
);

const rows = [];
for (const u of units) {
  const base = join(root, u.repo.replace("/", "+"));
  const started = process.hrtime.bigint();
  let row;
  const scratch = mkdtempSync(join(tmpdir(), "kiln-import-corpus-"));
  try {
    const run = (extra = []) =>
      importTemplates({
        paths: [join(base, u.path)],
        varFiles: [...(u.varFiles ?? []).map((v) => join(base, v)), ...extra],
        resolver: resolverOptions(base),
        // Beside the template, as by default: relative paths mean what they meant to Packer.
      });
    let r = await run();
    const strict = r.errors.length === 0;
    const missing = r.errors
      .filter((d) => d.code === "KILN_VAR_MISSING")
      .map((d) => d.path.replace(/^variables\./, ""));
    let guessed = 0;
    if (missing.length) {
      const decls = parse(r.text)?.variables ?? {};
      const f = join(scratch, "values.pkrvars.json");
      writeFileSync(
        f,
        JSON.stringify(Object.fromEntries(missing.map((m) => [m, guess(m, decls[m]?.type, scratch)]))),
      );
      guessed = missing.length;
      r = await run([f]);
    }
    const loaded = r.errors.length === 0;
    const runs = (r.text.match(/^builds:/m) ? 1 : 0) > 0;
    row = {
      unit: `${u.repo}:${u.path}`,
      strict,
      guessed,
      status: loaded ? "validates" : "invalid",
      runnable: loaded && runs,
      unsupported: r.report.filter((e) => e.kind === "unsupported").length,
      errors: r.errors.map((d) => `${d.code} ${d.path ?? ""} ${d.message}`.slice(0, 160)),
    };
  } catch (err) {
    if (!(err instanceof ImportError)) throw err;
    row = {
      unit: `${u.repo}:${u.path}`,
      status: "refused",
      runnable: false,
      unsupported: 0,
      errors: [err.message],
    };
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
  row.ms = Number((process.hrtime.bigint() - started) / 1000000n);
  rows.push(row);
  const mark =
    row.status === "validates" ? (row.runnable ? "ok " : "ok-") : row.status === "invalid" ? "BAD" : "REF";
  const g = row.guessed ? `, ${row.guessed} variable value${row.guessed === 1 ? "" : "s"} given` : "";
  console.log(`${mark} ${row.unit}  (${row.unsupported} unsupported${g}, ${row.ms} ms)`);
  if (row.status !== "validates" || verbose)
    for (const e of row.errors.slice(0, verbose ? 50 : 3)) console.log(`      ${e}`);
}
const n = rows.length;
const ok = rows.filter((r) => r.status === "validates").length;
const runnable = rows.filter((r) => r.runnable).length;
const strictOk = rows.filter((r) => r.strict).length;
const byRepo = new Map();
for (const r of rows) {
  const k = r.unit.split(":")[0];
  const e = byRepo.get(k) ?? { n: 0, ok: 0 };
  e.n++;
  if (r.status === "validates") e.ok++;
  byRepo.set(k, e);
}
console.log("");
for (const [k, e] of byRepo) console.log(`${String(e.ok).padStart(3)}/${String(e.n).padEnd(3)} ${k}`);
console.log(
  `\n${ok}/${n} units import and validate (${((100 * ok) / n).toFixed(1)} %), given values for the variables the repository leaves to its user; ${strictOk} without any; ${runnable} keep at least one build kiln can run`,
);
