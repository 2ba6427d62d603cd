/**
 * The editor schema as an editor uses it: the real yaml-language-server over stdio, given the
 * schema.json that ships in @kiln/cli (built by scripts/gen-schema.mjs) through a file's
 * modeline. Every kind of mistake is flagged where it stands, valid files (expressions, the
 * examples, the README's build file) get no diagnostics, and qemu's options complete with docs.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { type AddressInfo, createServer } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type LspDiagnostic, startYamlLs, type YamlLs } from "./test-yaml-ls.js";
import { EDITOR_SCHEMA_URL } from "./url.js";

const REPO = fileURLToPath(new URL("../../../../", import.meta.url));
const SHIPPED = join(REPO, "packages/cli/schema.json");
const shippedUrl = pathToFileURL(SHIPPED).href;
const tmp = mkdtempSync(join(tmpdir(), "kiln-editor-"));
let ls: YamlLs;
let n = 0;

beforeAll(async () => {
  ls = await startYamlLs();
}, 30_000);
afterAll(async () => {
  await ls?.stop();
  rmSync(tmp, { recursive: true, force: true });
});

/** The text with a modeline naming `schema` in place of any it had. */
function withSchema(text: string, schema = shippedUrl): string {
  const body = text.replace(/^# yaml-language-server:.*\n/m, "");
  return `# yaml-language-server: $schema=${schema}\n${body}`;
}

/** Diagnostics for `body` (which gets the shipped schema's modeline as line 0), as "line: message" with 1-based body lines. */
async function check(body: string, schema?: string): Promise<string[]> {
  const uri = pathToFileURL(join(tmp, `doc-${++n}.kiln.yaml`)).href;
  const diags: LspDiagnostic[] = await ls.diagnostics(uri, withSchema(body, schema));
  return diags
    .map((d) => `${d.range.start.line}: ${d.message}`)
    .sort((a, b) => parseInt(a, 10) - parseInt(b, 10));
}

describe("the shipped schema in yaml-language-server", () => {
  it("is the file @kiln/cli publishes, under the URL the README gives", () => {
    const schema = JSON.parse(readFileSync(SHIPPED, "utf8"));
    expect(schema.$id).toBe(EDITOR_SCHEMA_URL);
    expect(readFileSync(join(REPO, "README.md"), "utf8")).toContain(`$schema=${EDITOR_SCHEMA_URL}`);
  });

  it("flags each of the seven kinds of mistakes, at any depth, and nothing else", async () => {
    const body = `kiln: 1
sourcse: {}
sources:
  a:
    type: qemu
    iso_url: x.iso
    memroy: 1024
    qemu_img_args: { convrt: [] }
    memory: lots
    headless: "yes"
    accelerator: kvmm
    boot_wait: 5 sec
  b:
    type: qemuu
  c:
    type: kamatera
builds:
  - sources: [a]
    provisioners:
      - type: shel
      - type: shell
        inlin: ["true"]
        max_retries: often
    post-processors:
      - - type: manifest
          outptu: m.json
`;
    const got = await check(body);
    const want: Array<[number, RegExp, string]> = [
      [2, /Property sourcse is not allowed/, "1. an unknown top-level key"],
      [7, /Property memroy is not allowed/, "2. an unknown option of a source"],
      [8, /Property convrt is not allowed/, "3. an unknown key in a nested option"],
      [22, /Property inlin is not allowed/, "3. an unknown option of a provisioner in a build"],
      [26, /Property outptu is not allowed/, "3. an unknown option of a post-processor in a chain"],
      [9, /expected a whole number, or a \$\{\{ … \}\} expression/, "4. a wrong type"],
      [10, /Incorrect type|expected true or false/, "4. a quoted boolean"],
      [23, /expected a whole number/, "4. a wrong type of a key every provisioner takes"],
      [14, /Value is not accepted\. Valid values: .*"qemu"/, "5. an unknown builder type"],
      [20, /Value is not accepted\. Valid values: .*"shell"/, "5. an unknown provisioner type"],
      [15, /Missing property "datacenter"/, "6. a missing required option"],
      [21, /Missing property "inline"/, "6. none of inline/script/scripts"],
      [
        11,
        /Value is not accepted\. Valid values: "auto", "kvm", "tcg", "none"/,
        "7. a value outside an enum",
      ],
      [12, /expected a duration such as 30s, 5m or 1h30m/, "7. a value not of its form"],
    ];
    for (const [line, re, what] of want) {
      expect(
        got.some((g) => g.startsWith(`${line}: `) && re.test(g)),
        `${what}: line ${line}\n${got.join("\n")}`,
      ).toBe(true);
    }
    expect(got.filter((g) => !want.some(([line]) => g.startsWith(`${line}: `)))).toEqual([]);
  });

  it("accepts a ${{ … }} expression wherever a typed value may stand", async () => {
    const body = `kiln: 1
variables:
  mem: { type: number, default: 1024 }
  on: { type: bool, default: true }
  accel: { type: string, default: tcg }
  cmds: { type: list, default: [] }
locals:
  args: { convert: [] }
sources:
  a:
    type: qemu
    iso_url: https://example.test/\${{ var.mem }}.iso
    memory: \${{ var.mem }}
    cpus: "\${{ var.mem / 512 }}"
    headless: \${{ var.on }}
    accelerator: \${{ var.accel }}
    boot_wait: \${{ var.mem }}s
    ssh_timeout: \${{ local.t }}
    boot_command: \${{ var.cmds }}
    qemu_img_args: \${{ local.args }}
    disk_size: \${{ var.mem * 10 }}
builds:
  - sources: [a]
    provisioners:
      - type: shell
        inline: \${{ var.cmds }}
        max_retries: \${{ var.mem }}
        pause_before: \${{ local.t }}
        only: \${{ var.cmds }}
        override:
          a:
            inline: ["\${{ var.mem }}"]
    post-processors:
      - type: checksum
        checksum_types: \${{ var.cmds }}
        keep_input_artifact: \${{ var.on }}
`;
    expect(await check(body)).toEqual([]);
  });

  it("gives no diagnostics for the examples and the README's build file", async () => {
    const files = [
      "examples/appliance.yaml",
      "examples/exoscale/debian.yaml",
      "examples/proxmox/ubuntu.yaml",
    ];
    for (const f of files) {
      const text = readFileSync(join(REPO, f), "utf8");
      expect(await check(text), f).toEqual([]);
    }
    const readme = readFileSync(join(REPO, "README.md"), "utf8");
    const block = /```yaml\n(# yaml-language-server[^\n]*\nkiln: 1\n[\s\S]*?)```/.exec(readme)?.[1];
    expect(block).toBeTruthy();
    expect(await check(block as string)).toEqual([]);
  });

  it("a file composed with its third-party plugins (`kiln schema FILE`) gets none either", async () => {
    const fixture = join(REPO, "packages/core/test/fixtures/plugins/valid.yaml");
    const r = spawnSync(process.execPath, [join(REPO, "packages/cli/bin.js"), "schema", fixture], {
      encoding: "utf8",
    });
    expect(r.status, r.stderr).toBe(0);
    const composed = join(tmp, "composed.json");
    writeFileSync(composed, r.stdout);
    const text = readFileSync(fixture, "utf8");
    expect(await check(text, pathToFileURL(composed).href)).toEqual([]);
    // while the shipped schema, which knows only the standard set, flags the third-party type
    expect((await check(text)).join("\n")).toMatch(/Value is not accepted/);
  });

  it("completes qemu's options with their docs, and the known types", async () => {
    const uri = pathToFileURL(join(tmp, "complete.kiln.yaml")).href;
    const text = withSchema("kiln: 1\nsources:\n  a:\n    type: qemu\n    \n  b:\n    type: \n");
    await ls.diagnostics(uri, text);
    const items = await ls.completion(uri, 5, 4);
    const byLabel = new Map(items.map((i) => [i.label, i]));
    for (const o of ["iso_url", "iso_checksum", "memory", "accelerator", "boot_command", "ssh_username"])
      expect(byLabel.has(o), `${o} in ${[...byLabel.keys()].join(", ")}`).toBe(true);
    const doc = (l: string) => {
      const d = byLabel.get(l)?.documentation;
      return typeof d === "string" ? d : (d?.value ?? "");
    };
    expect(doc("memory")).toContain("Memory in MiB");
    expect(byLabel.has("type")).toBe(false); // already there
    const types = (await ls.completion(uri, 7, 10)).map((i) => i.label);
    // YAML reads a bare null as no value: the completion quotes it
    expect(types).toEqual(expect.arrayContaining(["qemu", '"null"', "proxmox-iso"]));
  });

  it("the SchemaStore catalog entry matches *.kiln.yaml: such a file is checked without a modeline", async () => {
    const catalog = JSON.parse(readFileSync(join(REPO, "schemas/catalog.json"), "utf8"));
    const [entry] = catalog.schemas;
    expect(entry.url).toBe(EDITOR_SCHEMA_URL);
    expect(entry.fileMatch).toContain("*.kiln.yaml");
    // SchemaStore and the CDN on loopback: the catalog, and the built schema at the CDN's path.
    const cdnPath = new URL(EDITOR_SCHEMA_URL).pathname;
    const server = createServer((req, res) => {
      const body =
        req.url === "/api/json/catalog.json"
          ? JSON.stringify({ ...catalog, schemas: [{ ...entry, url: `${base}${cdnPath}` }] })
          : req.url === cdnPath
            ? readFileSync(SHIPPED, "utf8")
            : undefined;
      res.writeHead(body === undefined ? 404 : 200, { "content-type": "application/json" });
      res.end(body ?? "{}");
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const other = await startYamlLs({ schemaStore: { enable: true, url: `${base}/api/json/catalog.json` } });
    try {
      const body = "kiln: 1\nsources:\n  a:\n    type: qemu\n    iso_url: x\n    memroy: 1\n";
      const diags = await other.diagnostics(pathToFileURL(join(tmp, "image.kiln.yaml")).href, body);
      expect(diags.map((d) => d.message)).toContain("Property memroy is not allowed.");
      const plain = await other.diagnostics(pathToFileURL(join(tmp, "other.yaml")).href, body);
      expect(plain).toEqual([]);
    } finally {
      await other.stop();
      await new Promise((r) => server.close(r));
    }
  });
});
