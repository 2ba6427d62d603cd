/**
 * Packer's Go-template placeholders (`{{ .HTTPIP }}`, `{{ user `x` }}`, `{{ isotime }}` …) in a
 * build file are mistakes, not text: kiln would type them into the VM as they are and the build
 * would wait for SSH until it times out. Each is reported where it stands with what kiln writes
 * instead. The `{{.Field}}` templates kiln's own options take (execute_command's `{{.Path}}`,
 * checksum's `{{.BuildName}}` …) are not among these names and are left alone.
 */
import { type Diagnostic, diagnostic } from "../errors.js";
import { formatPath, type PathSegment, positionInScalar, type SourceFile } from "./parse.js";

/** Placeholder name → what kiln writes instead. */
const FIELDS: Record<string, string> = {
  HTTPIP: "${{ http.ip }}",
  HTTPPort: "${{ http.port }}",
  HTTPAddr: "${{ http.addr }}",
  Name: "the VM's name as text (vm_name; the qemu default is packer-${{ source.name }})",
  SSHPublicKey: "${{ build.SSHPublicKey }}",
  SSHPrivateKey: "${{ build.SSHPrivateKey }}",
  Host: "${{ build.Host }}",
  Port: "${{ build.Port }}",
  User: "${{ build.User }}",
  Password: "${{ build.Password }}",
  ID: "${{ build.ID }}",
  PackerHTTPAddr: "${{ http.addr }}",
  HTTPDir: "the http_directory as text",
  OutputDir: "the output_directory as text",
  SSHHostPort:
    "nothing: kiln forwards the SSH port itself (host_port_min/host_port_max); drop the hostfwd from qemuargs",
  VMName: "the vm_name as text",
  PackerHTTPIP: "${{ http.ip }}",
  PackerHTTPPort: "${{ http.port }}",
};

const FUNCTIONS: Record<string, (arg: string | undefined) => string> = {
  user: (a) => `\${{ var.${a ?? "name"} }}`,
  env: (a) => `\${{ env("${a ?? "NAME"}") }}`,
  isotime: (a) =>
    a
      ? `\${{ formatdate("…", timestamp()) }} (formatdate takes fields such as YYYY-MM-DD, not Go's layout "${a}")`
      : "${{ timestamp() }}",
  timestamp: () => '${{ formatdate("YYYYMMDDhhmmss", timestamp()) }} (Packer\'s timestamp was Unix seconds)',
  uuid: () => "${{ uuid() }}",
  build_name: () => "${{ build.BuildName }}",
  build_type: () => "${{ build.BuilderType }}",
  template_dir: () => "${{ path.root }}",
  pwd: () => "${{ path.cwd }}",
  packer_version: () => "${{ kiln.version }}",
  clean_resource_name: () => '${{ regex_replace(lower(…), "[^a-z0-9-]", "-") }}',
  lower: () => "${{ lower(…) }}",
  upper: () => "${{ upper(…) }}",
  split: () => "${{ split(sep, …) }}",
  replace: () => "${{ replace(…) }}",
  replace_all: () => "${{ replace(…) }}",
  consul_key: () => "a variable set from your environment (consul_key is not supported)",
  vault: () => "a sensitive variable set from your environment (vault is not supported)",
};

export interface Placeholder {
  offset: number;
  length: number;
  text: string;
  instead: string;
}

const OPEN = /\{\{-?\s*/g;

/** The Packer placeholders in `text`, in order. */
export function findPlaceholders(text: string): Placeholder[] {
  if (!text.includes("{{")) return [];
  const out: Placeholder[] = [];
  OPEN.lastIndex = 0;
  for (let m = OPEN.exec(text); m !== null; m = OPEN.exec(text)) {
    const at = m.index;
    if (text[at - 1] === "$") continue; // a kiln expression
    const close = text.indexOf("}}", at + 2);
    if (close < 0) break;
    const inner = text
      .slice(at + 2, close)
      .replace(/^-/, "")
      .replace(/-$/, "")
      .trim();
    let instead: string | undefined;
    const field = /^\.([A-Za-z_]\w*)$/.exec(inner);
    if (field) {
      const f = field[1] as string;
      instead = Object.hasOwn(FIELDS, f) ? FIELDS[f] : undefined;
    } else {
      const fn = /^([a-z_]+)(?:\s+[`"]([^`"]*)[`"])?/.exec(inner);
      const name = fn?.[1];
      if (name !== undefined && Object.hasOwn(FUNCTIONS, name))
        instead = (FUNCTIONS[name] as (a?: string) => string)(fn?.[2]);
    }
    if (instead !== undefined)
      out.push({ offset: at, length: close + 2 - at, text: text.slice(at, close + 2), instead });
    OPEN.lastIndex = close + 2;
  }
  return out;
}

/** A diagnostic for each Packer placeholder in the string at `path` of `src`. */
export function placeholderDiagnostics(
  text: string,
  src: SourceFile,
  path: readonly PathSegment[],
): Diagnostic[] {
  return findPlaceholders(text).map((p) =>
    diagnostic(
      "KILN_PACKER_TEMPLATE",
      `${p.text} is a Packer template placeholder; kiln does not expand it`,
      {
        path: formatPath(path),
        // Found in the source by its start (escapes inside quotes differ from the value).
        pos: positionInScalar(src, path, p.offset, p.text.split(/["'\\\n`]/)[0]),
        hint: `Write ${p.instead}.`,
      },
    ),
  );
}

/** placeholderDiagnostics for every string in a tree of values (variable defaults, var files). */
export function scanPlaceholders(
  value: unknown,
  src: SourceFile,
  path: readonly PathSegment[],
  diags: Diagnostic[],
  depth = 0,
): void {
  if (depth > 64) return;
  if (typeof value === "string") diags.push(...placeholderDiagnostics(value, src, path));
  else if (Array.isArray(value))
    value.forEach((v, i) => {
      scanPlaceholders(v, src, [...path, i], diags, depth + 1);
    });
  else if (value !== null && typeof value === "object")
    for (const [k, v] of Object.entries(value)) scanPlaceholders(v, src, [...path, k], diags, depth + 1);
}
