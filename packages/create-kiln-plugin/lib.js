// create-kiln-plugin: scaffold a third-party kiln builder package. No dependencies, plain ESM.
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { basename, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";

const self = JSON.parse(readFileSync(new URL("./package.json", import.meta.url), "utf8"));
/** The generated package's files, with __NAME__, __TYPE__, __CORE_RANGE__ and __SDK_RANGE__ in them. */
const TEMPLATE = fileURLToPath(new URL("./template/", import.meta.url));
const RANGES = self.kilnTemplate ?? { core: "^0.1.0", sdk: "^0.1.0" };

/** `kiln-builder-foo` / `@acme/kiln-builder-foo` / `@kiln/builder-foo` → `foo`. */
export function typeFromName(name) {
  const last = name.split("/").pop() ?? name;
  return last
    .replace(/^kiln-builder-/, "")
    .replace(/^builder-/, "")
    .replace(/^kiln-/, "");
}

const TYPE_RE = /^[a-z][a-z0-9]*(-[a-z0-9]+)*$/;
const NAME_RE = /^(@[a-z0-9][a-z0-9._~-]*\/)?[a-z0-9][a-z0-9._~-]*$/;

/**
 * Template files stored under another name: npm leaves .gitignore files out of a published
 * package, and a package.json inside this package would be taken for a nested package.
 */
const RENAMED = { gitignore: ".gitignore", "_package.json": "package.json" };
const STORED = Object.fromEntries(Object.entries(RENAMED).map(([stored, written]) => [written, stored]));

/** The template's files as paths in the generated package, package.json first. */
function templateFiles() {
  const out = [];
  const walk = (d) => {
    for (const e of readdirSync(d, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
      if (e.name === "node_modules" || e.name === "dist") continue;
      const full = join(d, e.name);
      if (e.isDirectory()) walk(full);
      else out.push(relative(TEMPLATE, full).split("\\").join("/"));
    }
  };
  walk(TEMPLATE);
  return out
    .map((f) => RENAMED[f] ?? f)
    .sort((a, b) => (a === "package.json" ? -1 : b === "package.json" ? 1 : 0));
}

/** Write the package into opts.dir. Returns what it wrote. */
export function scaffold(opts) {
  const dir = resolve(opts.dir);
  const base = basename(dir);
  const name = opts.name ?? (base.startsWith("kiln-builder-") ? base : `kiln-builder-${base}`);
  const type = opts.type ?? typeFromName(name);
  if (!NAME_RE.test(name)) throw new Error(`"${name}" is not a valid npm package name`);
  if (!TYPE_RE.test(type))
    throw new Error(`"${type}" is not a valid builder type: lower-case words joined by -, e.g. my-cloud`);
  if (existsSync(dir) && readdirSync(dir).length > 0) throw new Error(`${dir} is not empty`);
  const values = { __NAME__: name, __TYPE__: type, __CORE_RANGE__: RANGES.core, __SDK_RANGE__: RANGES.sdk };
  const files = templateFiles();
  for (const rel of files) {
    const text = readFileSync(join(TEMPLATE, STORED[rel] ?? rel), "utf8");
    const file = join(dir, rel);
    mkdirSync(join(file, ".."), { recursive: true });
    writeFileSync(
      file,
      text.replace(/__(NAME|TYPE|CORE_RANGE|SDK_RANGE)__/g, (m) => values[m]),
    );
  }
  return { dir, name, type, files };
}

const USAGE = "Usage: npm create kiln-plugin <dir> [-- --name <package> --type <builder type>]";

export async function main(argv) {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: { name: { type: "string" }, type: { type: "string" }, help: { type: "boolean", short: "h" } },
    });
  } catch (err) {
    process.stderr.write(`create-kiln-plugin: ${err.message}\n${USAGE}\n`);
    return 2;
  }
  if (parsed.values.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const [dir] = parsed.positionals;
  if (!dir) {
    process.stderr.write(`create-kiln-plugin: name the folder to create\n${USAGE}\n`);
    return 2;
  }
  try {
    const r = scaffold({
      dir,
      ...(parsed.values.name ? { name: parsed.values.name } : {}),
      ...(parsed.values.type ? { type: parsed.values.type } : {}),
    });
    process.stdout.write(
      `Created ${r.name} (builder "${r.type}") in ${r.dir}:\n${r.files.map((f) => `  ${f}`).join("\n")}\n\nNext:\n  cd ${dir}\n  npm install\n  npm run build\n  npm test\n`,
    );
    return 0;
  } catch (err) {
    process.stderr.write(`create-kiln-plugin: ${err.message}\n`);
    return 2;
  }
}
