// biome-ignore-all lint/suspicious/noTemplateCurlyInString: `${{ … }}` in plain strings is what is tested.
/** What a template moved over from Packer needs of the loader: conversions, zero values, placeholders, source reuse. */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { isKilnError, type KilnError } from "../errors.js";
import { coreVersion } from "../plugins/version.js";
import { type LoadOptions, loadBuildFile } from "./index.js";

const fixtures = fileURLToPath(new URL("../../test/fixtures/plugins/", import.meta.url));
const scratch = mkdtempSync(join(fixtures, "tmp-parity-"));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));
let n = 0;
function write(body: string, name = `f-${++n}.yaml`): string {
  const f = join(scratch, name);
  writeFileSync(f, body);
  return f;
}
const standard = { provisioner: { shell: "@kiln/provisioners" } };
const load = (body: string, o: Partial<LoadOptions> = {}) =>
  loadBuildFile({ file: write(body), env: {}, resolver: { standard }, ...o });
function fail(body: string, o: Partial<LoadOptions> = {}): KilnError {
  try {
    load(body, o);
  } catch (err) {
    if (isKilnError(err)) return err;
    throw err;
  }
  throw new Error("expected a KilnError");
}
const where = (e: KilnError) => e.diagnostics.map((d) => `${d.code} ${d.pos?.line}:${d.pos?.column}`);
const SRC = (opts: string) =>
  `kiln: 1\nsources:\n  a:\n    type: demo\n    iso_url: x\n${opts}builds:\n  - sources: [a]\n`;

describe("conversions and zero values, as Packer's", () => {
  it("a string that is a number or a bool converts where the schema wants one", () => {
    const l = load(
      `kiln: 1\nvariables:\n  mem: { type: string, default: "2048" }\n${SRC('    memory: ${{ var.mem }}\n    cpus: "2"\n    headless: "false"\n').slice(8)}`,
    );
    expect(l.sources.a?.options).toMatchObject({ memory: 2048, cpus: 2, headless: false });
  });

  it("anything else stays an error at its position", () => {
    const e = fail(SRC('    memory: "2 GiB"\n    headless: "no"\n'));
    expect(where(e)).toEqual(["KILN_SCHEMA_TYPE 6:13", "KILN_SCHEMA_TYPE 7:15"]);
  });

  it("null unsets an option; an empty string unsets an optional string option", () => {
    const l = load(
      `kiln: 1\nvariables:\n  name: { type: string, default: null }\n${SRC('    vm_name: ${{ var.name }}\n    memory: null\n    ssh_password: ""\n    format: ""\n').slice(8)}`,
    );
    expect(l.variables.name?.value).toBe(null);
    expect(l.sources.a?.options).toEqual({ type: "demo", iso_url: x() });
    function x() {
      return "x";
    }
  });

  it("null or an empty string for a required option is still missing / wrong", () => {
    const e = fail("kiln: 1\nsources:\n  a:\n    type: demo\n    iso_url: null\nbuilds:\n  - sources: [a]\n");
    expect(e.diagnostics[0]?.code).toBe("KILN_SCHEMA_TYPE");
  });
});

describe("list-valued expressions in place of a list of blocks (Packer's dynamic blocks)", () => {
  it("a for expression gives the list, checked against the schema", () => {
    const l = load(
      `kiln: 1\nvariables:\n  keys: { type: list, default: [a, b] }\n${SRC(`    boot_command: "\${{ [for k in var.keys: format('<%s>', k) if k != 'b'] }}"\n`).slice(8)}`,
    );
    expect(l.sources.a?.options.boot_command).toEqual(["<a>"]);
    const e = fail(`kiln: 1\n${SRC(`    boot_command: "\${{ [for k in [1]: k] }}"\n`).slice(8)}`);
    expect(e.diagnostics[0]?.code).toBe("KILN_SCHEMA_TYPE");
    // unquoted, the ": " of the for ends the YAML value: the hint says to quote it
    const y = fail(`kiln: 1\n${SRC("    boot_command: ${{ [for k in [1]: k] }}\n").slice(8)}`);
    expect(y.diagnostics[0]?.hint).toMatch(/must be quoted in YAML/);
  });
});

describe("Packer placeholders are errors, with the kiln spelling", () => {
  it("in options, at the placeholder's column", () => {
    const e = fail(
      SRC(
        '    boot_command:\n      - "<esc> url=http://{{ .HTTPIP }}:{{ .HTTPPort }}/ks.cfg<enter>"\n    vm_name: "{{ user `name` }}-{{isotime \\"2006\\"}}"\n',
      ),
    );
    expect(e.diagnostics.map((d) => `${d.code} ${d.pos?.line}:${d.pos?.column} ${d.hint}`)).toEqual([
      "KILN_PACKER_TEMPLATE 7:27 Write ${{ http.ip }}.",
      "KILN_PACKER_TEMPLATE 7:41 Write ${{ http.port }}.",
      "KILN_PACKER_TEMPLATE 8:15 Write ${{ var.name }}.",
      expect.stringMatching(/^KILN_PACKER_TEMPLATE 8:33 Write \$\{\{ formatdate/),
    ]);
  });

  it("in block scalars, variable defaults and variables files", () => {
    const vf = write('extra: "{{ .Name }}"\n', "vars-1.yaml");
    const e = fail(
      `kiln: 1\nvariables:\n  d: { default: "x {{ env \`HOME\` }}" }\n  extra: { default: "" }\nlocals:\n  l: |\n    line\n    {{ template_dir }}/x\n${SRC("").slice(8)}`,
      { varFiles: [vf] },
    );
    expect(
      e.diagnostics.map(
        (d) =>
          `${d.pos?.file.endsWith("vars-1.yaml") ? "vf" : "bf"} ${d.pos?.line}:${d.pos?.column} ${d.hint}`,
      ),
    ).toEqual([
      'bf 3:20 Write ${{ env("HOME") }}.',
      "bf 8:5 Write ${{ path.root }}.",
      expect.stringMatching(/^vf 1:9 Write the VM's name/),
    ]);
  });

  it("kiln's own {{.Field}} templates (execute_command, checksum output) and $${{ are left alone", () => {
    const l = load(
      `${SRC("")}    provisioners:\n      - type: shell\n        inline: ["echo {{.Path}} {{ .Vars }}", "echo $\${{ not }}"]\n`,
    );
    expect(l.builds[0]?.provisioners[0]?.options.inline).toEqual([
      "echo {{.Path}} {{ .Vars }}",
      "echo ${{ not }}",
    ]);
  });
});

describe("variables files, env() and kiln.version", () => {
  it("a variables file that sets an undeclared variable is a warning, as in Packer", () => {
    const vf = write("nope: 1\nx: b\n", "vars-2.yaml");
    const l = load("kiln: 1\nvariables:\n  x: { default: a }\n", { varFiles: [vf] });
    expect(l.variables.x?.value).toBe("b");
    expect(l.warnings.map((w) => `${w.code} ${w.pos?.line}:${w.pos?.column}`)).toEqual([
      "KILN_VAR_UNDEFINED 1:1",
    ]);
  });

  it('env("X") is "" when X is unset; env.X is an error with the env() hint; kiln.version', () => {
    const l = load(
      'kiln: 1\nlocals:\n  a: ${{ env("NOPE") }}-${{ env("SET") }}\n  v: ${{ kiln.version }}\n',
      {
        env: { SET: "1" },
      },
    );
    expect(l.locals).toEqual({ a: "-1", v: coreVersion() });
    const e = fail("kiln: 1\nlocals:\n  a: ${{ env.NOPE }}\n");
    expect(e.diagnostics[0]?.hint).toMatch(/env\("NOPE"\)/);
  });
});

describe("variable defaults from the environment, as Packer's", () => {
  it('default: ${{ env("X") }} reads the environment; a default over var.* is still an error', () => {
    const l = load(
      'kiln: 1\nvariables:\n  proxy: { default: "${{ env(\\"HTTP_PROXY\\") }}" }\n  none: { default: "${{ env(\\"NOPE\\") }}" }\n',
      {
        env: { HTTP_PROXY: "http://p:3128" },
      },
    );
    expect(l.variables.proxy?.value).toBe("http://p:3128");
    expect(l.variables.none?.value).toBe("");
    const e = fail('kiln: 1\nvariables:\n  a: { default: x }\n  b: { default: "${{ var.a }}" }\n');
    expect(e.diagnostics[0]?.message).toMatch(/reads more than the environment/);
  });
});

describe("source reuse", () => {
  it("YAML merge keys, with anchors under an x- key", () => {
    const l = load(
      "kiln: 1\nx-base: &base\n  type: demo\n  iso_url: x\n  memory: 512\nsources:\n  a:\n    <<: *base\n    memory: 1024\n  b: *base\nbuilds:\n  - sources: [a, b]\n",
    );
    expect(l.sources.a?.options).toEqual({ type: "demo", iso_url: "x", memory: 1024 });
    expect(l.sources.b?.options.memory).toBe(512);
  });

  it("an error in a merged-in value points where it is written", () => {
    const e = fail(
      "kiln: 1\nx-base: &base\n  type: demo\n  iso_url: x\n  cpus: 0\nsources:\n  a:\n    <<: *base\nbuilds:\n  - sources: [a]\n",
    );
    expect(where(e)).toEqual(["KILN_SCHEMA_RANGE 5:9"]);
  });

  it("a build may override a source's options for itself (Packer's source block in build)", () => {
    const l = load(
      "kiln: 1\nsources:\n  base:\n    type: demo\n    memory: 512\nbuilds:\n  - name: desk.top\n    sources:\n      - source: base\n        name: small\n        iso_url: small.iso\n      - { source: base, name: big, iso_url: big.iso, memory: 4096 }\n",
    );
    const b = l.builds[0];
    expect(b?.name).toBe("desk.top");
    expect(b?.sources).toEqual(["small", "big"]);
    expect(b?.variants?.small?.options).toEqual({ type: "demo", memory: 512, iso_url: "small.iso" });
    expect(b?.variants?.big?.options).toEqual({ type: "demo", memory: 4096, iso_url: "big.iso" });
    // the source alone lacks iso_url: not an error, since it is only built through its variants
  });

  it("a variant's mistakes are reported at the variant, a missing option at it too", () => {
    const e = fail(
      "kiln: 1\nsources:\n  base:\n    type: demo\nbuilds:\n  - sources:\n      - source: base\n        memroy: 1\n      - source: bsae\n",
    );
    expect(e.diagnostics.map((d) => `${d.code} ${d.pos?.line}:${d.pos?.column}`)).toEqual([
      "KILN_SCHEMA_REQUIRED 7:9",
      "KILN_SCHEMA_UNKNOWN_KEY 8:9",
      "KILN_REF_UNKNOWN_SOURCE 9:17",
    ]);
  });

  it("sources, only and except may be expressions", () => {
    const l = load(
      "kiln: 1\nvariables:\n  which: { type: list, default: [a] }\n  skip: { type: list, default: [b] }\nsources:\n  a: { type: demo, iso_url: x }\n  b: { type: demo, iso_url: y }\nbuilds:\n  - sources: ${{ concat(var.which, ['b']) }}\n    provisioners:\n      - type: shell\n        except: ${{ var.skip }}\n        inline: [x]\n",
    );
    expect(l.builds[0]?.sources).toEqual(["a", "b"]);
    expect(l.builds[0]?.provisioners[0]?.options.except).toEqual(["b"]);
  });

  it("a rejected except: expression is reported once", () => {
    const e = fail(
      "kiln: 1\nsources:\n  a: { type: demo, iso_url: x }\nbuilds:\n  - sources: [a]\n    provisioners:\n      - type: shell\n        except: ${{ 1 }}\n        inline: [x]\n",
    );
    expect(e.diagnostics).toHaveLength(1);
    expect(where(e)).toEqual(["KILN_SCHEMA_TYPE 8:17"]);
  });
});

describe("a sensitive value that is also a word kiln writes", () => {
  it('"password" is redacted where it is the value, not inside ssh_password in hints and paths', async () => {
    const { formatDiagnostics } = await import("../report.js");
    const { redactorFor, redactWords } = await import("./redact.js");
    const e = fail(
      `kiln: 1\nvariables:\n  pw: { sensitive: true, default: password }\n${SRC("    ssh_pasword: ${{ var.pw }}\n    memory: ${{ var.pw }}\n").slice(8)}`,
    );
    const hints = e.diagnostics.map((d) => `${d.path} | ${d.hint}`);
    expect(hints).toContain('sources.a.ssh_pasword | Did you mean "ssh_password"?');
    expect(e.diagnostics.map((d) => d.message).join("\n")).not.toMatch(/"password"/);
    const r = redactorFor(e.secrets);
    const text = formatDiagnostics(e.diagnostics, {
      redact: r,
      redactWords: (t) => redactWords(t, r, e.secrets),
    });
    expect(text).toContain('Did you mean "ssh_password"?');
    expect(text).not.toMatch(/[^_]password/);
  });
});
