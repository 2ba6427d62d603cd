// biome-ignore-all lint/suspicious/noTemplateCurlyInString: `${{ … }}` in plain strings is what is asserted.
/**
 * Whole imports over the corpus in test/fixtures (every construct, HCL2 folder, legacy JSON,
 * .pkr.json): what the output holds, what is commented and why, the report's positions, and that
 * the output validates and is already in `kiln fmt` form.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { formatDocument, parseYaml } from "@kiln/core";
import { afterAll, describe, expect, it } from "vitest";
import { parse } from "yaml";
import { STANDARD_PLUGINS } from "../../cli/src/standard.js";
import { type ImportOptions, importTemplates } from "./import.js";
import { ImportError } from "./report.js";

const fixtures = fileURLToPath(new URL("../test/fixtures/", import.meta.url));
const repoRoot = fileURLToPath(new URL("../../../", import.meta.url));
const resolver = { searchDirs: [join(repoRoot, "packages/cli")], standard: STANDARD_PLUGINS };
const scratch = mkdtempSync(join(fixtures, "tmp-import-"));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

const run = (paths: string[], o: Partial<ImportOptions> = {}) =>
  importTemplates({ paths, resolver, cwd: fixtures, env: {}, ...o });

/** The output's text is what `kiln fmt` writes. */
function formatted(text: string): boolean {
  return formatDocument(parseYaml(text, "x.yaml").doc) === text;
}

async function refused(paths: string[], o: Partial<ImportOptions> = {}): Promise<ImportError> {
  try {
    await run(paths, o);
  } catch (err) {
    if (err instanceof ImportError) return err;
    throw err;
  }
  throw new Error("expected an ImportError");
}

describe("an HCL2 folder with every construct", async () => {
  const r = await run(["hcl/every-construct"], {
    varFiles: ["hcl/every-construct/dev.pkrvars.hcl"],
    env: { KILN_VAR_vault_secret_data_packer_token: "a-long-vault-token" },
  });
  const data = parse(r.text);
  const where = (what: string) => r.report.find((e) => e.what === what);

  it("reads every *.pkr.hcl of the folder, in order, and validates", () => {
    expect(r.inputs.map((f) => f.split("/").pop())).toEqual([
      "build.pkr.hcl",
      "locals.pkr.hcl",
      "plugins.pkr.hcl",
      "sources.pkr.hcl",
      "variables.pkr.hcl",
    ]);
    expect(r.errors).toEqual([]);
    expect(r.out).toBe(join(fixtures, "hcl/every-construct/kiln.yaml"));
    expect(formatted(r.text)).toBe(true);
  });

  it("required_plugins → plugins: for what kiln serves; the others commented", () => {
    expect(data.plugins).toEqual({ qemu: expect.stringMatching(/^@kiln\/builder-qemu@\^/) });
    expect(r.text).toMatch(
      /# kiln import: no kiln plugin serves Packer's virtualbox plugin .*plugins\.pkr\.hcl:10:5\)\n\s+# virtualbox = \{/,
    );
    expect(where("packer.required_version")?.pos).toMatchObject({ line: 3, column: 3 });
  });

  it("variables: types, defaults, description, sensitive, validation, env(), auto var files", () => {
    expect(data.variables.version).toEqual({
      type: "string",
      description: "Ubuntu release",
      default: "24.04",
      validation: {
        condition: '${{ can(regex("^[0-9]+\\\\.[0-9]+$", var.version)) }}',
        error_message: "The version is YY.MM.",
      },
    });
    expect(data.variables.password).toEqual({
      type: "string",
      default: "",
      sensitive: true,
      env: "KILN_TEST_PASSWORD",
    });
    expect(data.variables.cpus).toEqual({ type: "number", default: 4 }); // from x.auto.pkrvars.hcl
    expect(data.variables.disks.type).toBe("list");
    expect(data.variables.tags).toEqual({ type: "map", default: { team: "images" } });
    expect(data.variables.anything).toEqual({ type: "list", default: ["a", "b"] });
    expect(data.variables.required).toEqual({ type: "string" });
    expect(where('variable "cpus"')?.kind).toBe("changed");
  });

  it("a default with a placeholder: null, and a local computes it; uses go through the local", () => {
    expect(data.variables.mirror).toEqual({ type: "string", default: null });
    expect(data.locals.mirror).toBe(
      '${{ var.mirror != null ? var.mirror : format("http://%s:%s/mirror", http.ip, http.port) }}',
    );
  });

  it("locals: templates, for, splat, legacy index, heredoc with directives, escapes, try() fallback", () => {
    expect(data.locals.iso_name).toBe("ubuntu-${{ var.version }}-live-server-amd64.iso");
    expect(data.locals.names).toBe(
      '${{ [for i, d in var.disks: format("disk-%s-%s", i, d.size) if d.size != ""] }}',
    );
    expect(data.locals.by_name).toBe("${{ {for d in var.disks: d.size => d...} }}");
    expect(data.locals.sizes).toBe("${{ [for item in var.disks: item.size] }}");
    expect(data.locals.first).toBe("${{ var.disks[0].size }}");
    expect(data.locals.iso_time).toBe('${{ formatdate("YYYY-MM-DD", timestamp()) }}');
    expect(data.locals.script).toBe(
      '#!/bin/sh\necho "release ${{ var.version }}"\n${{ var.headless ? "echo headless" : "echo gui" }}\n${{ join("", [for t in keys(var.tags): format("echo %s\\n", t)]) }}\n',
    );
    expect(data.locals.escaped).toBe('literal ${not} and %{not} and "quotes" é');
    expect(data.locals.secret).toBe("${{ var.vault_secret_data_packer_token }}");
    expect(data.variables.vault_secret_data_packer_token).toMatchObject({ type: "string", sensitive: true });
    expect(data.locals.from_try).toBe("unknown");
    expect(data.locals.user_data).toBe(
      '${{ templatefile(format("%s/tpl/user-data.pkrtpl.hcl", path.root), {hostname = "kiln", packages = ["curl"]}) }}',
    );
    expect(where('local "token"')?.message).toMatch(/no sensitive locals/);
    expect(where('local "hashed"')).toBeUndefined(); // computed from a sensitive variable: redacted anyway
  });

  it("comments are carried over above keys and after values", () => {
    expect(r.text).toContain("  # the ISO's name\n  iso_name:");
    expect(r.text).toContain("upper: ${{ upper(var.version) }} # trailing comment");
    expect(r.text).toContain("  # The QEMU source:\n  #   one ISO install.\n  qemu-ubuntu:");
    expect(r.text).toContain(
      "      # A variant of the proxmox source, just for this build\n      - source: proxmox-iso-ubuntu",
    );
  });

  it("sources: one name per type when two share one; placeholders; nested and dynamic blocks", () => {
    const q = data.sources["qemu-ubuntu"];
    expect(q).toMatchObject({
      type: "qemu",
      cpus: "${{ var.cpus }}",
      memory: "2048",
      http_content: { "/user-data": "${{ local.user_data }}", "/meta-data": "" },
      boot_command: [
        "<esc><wait>linux /casper/vmlinuz autoinstall ds=nocloud-net;s=http://${{ http.ip }}:${{ http.port }}/ ---<enter>",
      ],
      qemuargs: [["-drive", 'file=output/${{ format("ubuntu-%s.qcow2", var.version) }},if=virtio']],
      winrm_password: null,
    });
    expect(q.made_up_option).toBeUndefined();
    expect(r.text).toMatch(
      /# kiln import: unknown qemu option "made_up_option" \(sources\.pkr\.hcl:22:3\)\n\s+# made_up_option\s+= "x"/,
    );
    const p = data.sources["proxmox-iso-ubuntu"];
    expect(p.network_adapters).toEqual([{ model: "virtio", bridge: "vmbr0" }]);
    expect(p.efi_config).toEqual({ efi_storage_pool: "local-lvm" }); // one block where the schema takes a map
    expect(p.disks).toBe(
      '${{ [for disk_key, disk in var.disks: {disk_size = disk.size, storage_pool = "local-lvm", type = "scsi"}] }}',
    );
    expect(data.sources["virtualbox-iso"]).toBeUndefined();
    expect(where('source "virtualbox-iso" "ubuntu"')).toMatchObject({
      kind: "unsupported",
      pos: { line: 51, column: 1 },
    });
  });

  it("the build: sources, a per-build variant, provisioners in order with the unsupported ones in place", () => {
    const b = data.builds[0];
    expect(b.name).toBe("ubuntu.base");
    expect(b.sources).toEqual([
      "qemu-ubuntu",
      { source: "proxmox-iso-ubuntu", name: "small", vm_name: "small", memory: 1024 },
    ]);
    expect(b.provisioners.map((p: { type: string }) => p.type)).toEqual(["shell", "shell", "shell-local"]);
    // the commented ones stand where they were, between the ones kiln runs
    const section = r.text.slice(
      r.text.indexOf("    provisioners:"),
      r.text.indexOf("    error-cleanup-provisioner:"),
    );
    const order = [...section.matchAll(/^ {6}(?:- type: (\S+)|# provisioner "([^"]+)")/gm)].map(
      (m) => m[1] ?? `#${m[2]}`,
    );
    expect(order).toEqual(["shell", "#powershell", "#windows-restart", "shell", "#shell", "shell-local"]);
    expect(b.provisioners[0].only).toEqual(["qemu.qemu-ubuntu"]);
    expect(b.provisioners[1]).toMatchObject({
      scripts: ["${{ path.root }}/scripts/setup.sh"],
      execute_command: "sudo -E sh '{{ .Path }}'",
      pause_before: "5s",
      max_retries: 2,
      timeout: "10m",
      override: { "qemu-ubuntu": { inline: ["echo qemu"] } },
    });
    expect(b.provisioners[1].except).toBeUndefined(); // it named only a source kiln does not import
    expect(b["error-cleanup-provisioner"]).toEqual({ type: "shell-local", inline: ["echo cleaning up"] });
    expect(b["post-processors"]).toEqual([
      { type: "manifest", output: "manifest.json" },
      [{ type: "checksum", checksum_types: ["sha256"] }],
    ]);
    expect(r.text).toContain("# kiln import: kiln does not publish to HCP Packer's registry");
    expect(where('provisioner "shell"')?.message).toMatch(/names no source kiln imports/);
  });

  it("the variables file: YAML beside the output; a value with a placeholder commented, with the reason", () => {
    const [vf] = r.varFiles;
    expect(vf?.out).toBe(join(fixtures, "hcl/every-construct/dev.vars.yaml"));
    expect(parse(vf?.text ?? "")).toEqual({ required: "given", tags: { team: "dev", owner: "kiln" } });
    expect(vf?.text).toMatch(
      /# kiln import: a variable's value is plain data in kiln.*dev\.pkrvars\.hcl:3:1\)\n# boot_line = /,
    );
  });

  it("every unsupported entry of the report has its file:line:col", () => {
    for (const e of r.report.filter((x) => x.kind === "unsupported")) {
      expect(e.pos, e.what).toBeDefined();
      expect(e.pos?.line).toBeGreaterThan(0);
    }
  });
});

describe("a legacy JSON template", async () => {
  const r = await run(["json/legacy.json"], { varFiles: ["json/legacy-vars.json"] });
  const data = parse(r.text);

  it("validates, in fmt form", () => {
    expect(r.errors).toEqual([]);
    expect(formatted(r.text)).toBe(true);
  });

  it("variables: null is required, {{env}} an env binding, sensitive-variables; a templated default via a local", () => {
    expect(data.variables.required_thing).toEqual({ type: "string" });
    expect(data.variables.mirror).toEqual({ type: "string", default: "", env: "DEBIAN_MIRROR" });
    expect(data.variables.password.sensitive).toBe(true);
    expect(data.variables.cpus).toEqual({ type: "number", default: 2 });
    expect(data.variables.motd).toEqual({ type: "string", default: 'built on ${{ env("HOSTNAME") }}' });
    expect(data.locals.box_name).toBe(
      '${{ var.box_name != null ? var.box_name : format("debian-%s", var.version) }}',
    );
  });

  it("builders → sources by name; Go templates → expressions", () => {
    expect(data.sources.debian).toMatchObject({
      type: "qemu",
      iso_url: "https://cdimage.debian.org/debian-cd/${{ var.version }}/debian.iso",
      cpus: "${{ var.cpus }}",
      // "" is Packer's zero value for a number: unset
      memory: '${{ var.mem == "" ? null : var.mem }}',
      boot_command: ["<esc><wait>auto url=http://${{ http.ip }}:${{ http.port }}/preseed.cfg<enter>"],
      output_directory: 'output-${{ source.name }}-${{ formatdate("YYYY-MM-DD", timestamp()) }}',
      shutdown_command: "echo '${{ var.password }}' | sudo -S poweroff",
    });
    expect(data.sources.debian.vm_name).toBe(
      'debian-${{ var.version }}-${{ formatdate("YYYYMMDDhhmmss", timestamp()) }}.qcow2',
    );
    expect(r.text).toContain("    # The QEMU machine\n    iso_url:");
    expect(
      r.report.some((e) => e.kind === "changed" && /\{\{timestamp\}\} was Unix seconds/.test(e.message)),
    ).toBe(true);
  });

  it("provisioners and post-processors in order: only/except/override by source name; strings, objects and chains", () => {
    const b = data.builds[0];
    expect(b.sources).toEqual(["debian"]);
    expect(b.provisioners).toEqual([
      {
        type: "shell",
        only: ["debian"],
        inline: [
          "echo ${{ upper(local.box_name) }}",
          "echo ${{ uuidv4() }}",
          'echo ${{ split("-", "a-b-c")[1] }}',
        ],
        pause_before: "5s",
        max_retries: 1,
      },
      {
        type: "shell-local",
        inline: ["echo ${{ path.root }}"],
        override: { debian: { inline: ['echo debian ${{ env("HOME") }}'] } },
      },
    ]);
    expect(r.text).toMatch(
      /# kiln import: kiln has no provisioner "puppet-masterless".*legacy\.json:50:5\)\n\s+# \{\n\s+# {3}"type": "puppet-masterless"/,
    );
    expect(b["post-processors"]).toEqual([
      { type: "manifest" },
      { type: "checksum", checksum_types: ["sha256"] },
      [{ type: "compress", output: "debian.tar.gz" }],
    ]);
    expect(r.report.find((e) => e.what === "min_packer_version")?.message).toMatch(/version/);
  });

  it("a JSON variables file → YAML", () => {
    expect(parse(r.varFiles[0]?.text ?? "")).toEqual({ version: "11", required_thing: "set" });
  });
});

describe("HCL2 in JSON (.pkr.json)", async () => {
  const r = await run(["json/hcl2.pkr.json"]);
  const data = parse(r.text);
  it("blocks by their label keys, strings as templates, validates", () => {
    expect(r.errors).toEqual([]);
    expect(data.locals).toEqual({
      iso: "alpine-virt-${{ var.version }}.0-x86_64.iso",
      count: "${{ length(var.disks) }}",
    });
    expect(data.variables.disks).toEqual({ type: "list", default: ["1G", "2G"] });
    expect(data.sources.alpine.boot_command[1]).toBe(
      "setup-alpine -f http://${{ http.ip }}:${{ http.port }}/answers<enter>",
    );
    expect(data.builds[0].provisioners).toEqual([
      { type: "shell", inline: ["echo ${{ var.version }}", "echo ${HOME}"] },
      { type: "file", source: "motd", destination: "/etc/motd" },
    ]);
  });
});

describe("a data source kiln has through a plugin", async () => {
  const r = await run(["hcl/data-source"]);
  const data = parse(r.text);
  it("data.T.N is data.N; found by the naming convention, so pinned in plugins:", () => {
    expect(r.errors).toEqual([]);
    expect(data.plugins).toEqual({ sshkey: "kiln-datasource-sshkey@^1.0.0" });
    expect(data.data).toEqual({ install: { type: "sshkey", name: "packer" } });
    expect(data.builds[0].provisioners[0].inline).toEqual(["echo ${{ data.install.public_key }}"]);
    // an option called type has no place beside kiln's type:
    expect(r.text).toMatch(
      /# kiln import: an option named type: .*\(template\.pkr\.hcl:4:3\)\n\s+# type = "ed25519"/,
    );
  });
});

describe("what Packer itself would refuse", () => {
  it("a block with the wrong number of labels is commented; an undefined source is an error of the output", async () => {
    const dir = mkdtempSync(join(scratch, "labels-"));
    writeFileSync(
      join(dir, "t.pkr.hcl"),
      'source "qemu" {}\nvariable {}\nx = 1\nbuild {\n  sources = ["source.nope.x"]\n}\n',
    );
    const r = await run([dir]);
    expect(r.report.map((e) => `${e.kind} ${e.pos?.line}:${e.pos?.column} ${e.message}`)).toEqual(
      expect.arrayContaining([
        "unsupported 1:1 a source block takes two labels, its type and its name; this one has 1",
        "unsupported 2:1 a variable block takes one label, its name; this one has 0",
        'unsupported 3:1 kiln has no top-level attribute "x"',
        'invalid 5:14 "source.nope.x" names no source of this template',
      ]),
    );
    expect(r.errors.map((d) => d.code)).toEqual(["KILN_REF_UNKNOWN_SOURCE"]);
    expect(r.text).toContain("# x = 1");
  });
});

describe("bad input", () => {
  it("a syntax error: file:line:col, nothing else done", async () => {
    const dir = mkdtempSync(join(scratch, "syntax-"));
    writeFileSync(join(dir, "a.pkr.hcl"), 'source "qemu" "a" {\n  memory = [1, 2\n}\n');
    const e = await refused([dir]);
    expect(e.message).toMatch(/a\.pkr\.hcl:\d+:\d+: syntax error/);
  });

  it("invalid JSON, a variables file given as a template, a folder without templates, a missing path", async () => {
    const dir = mkdtempSync(join(scratch, "bad-"));
    writeFileSync(join(dir, "t.json"), '{ "builders": [ { "type": "qemu", } ] }');
    expect((await refused([join(dir, "t.json")])).message).toMatch(/t\.json:1:\d+: not valid JSON/);
    writeFileSync(join(dir, "x.pkrvars.hcl"), 'a = "b"\n');
    expect((await refused([join(dir, "x.pkrvars.hcl")])).extra.hint).toMatch(/--var-file/);
    expect((await refused([dirname(join(dir, "t.json"))])).message).toMatch(/no \*\.pkr\.hcl/);
    expect((await refused([join(dir, "nope.pkr.hcl")])).message).toMatch(/no such file/);
  });

  it("an output that does not validate says why, at its position", async () => {
    const dir = mkdtempSync(join(scratch, "invalid-"));
    writeFileSync(
      join(dir, "t.pkr.hcl"),
      'source "qemu" "a" {\n  memory = "lots"\n}\nbuild { sources = ["source.qemu.a"] }\n',
    );
    const r = await run([dir]);
    expect(r.errors.map((d) => d.code)).toContain("KILN_SCHEMA_TYPE");
    expect(r.errors.find((d) => d.code === "KILN_SCHEMA_TYPE")?.path).toBe("sources.a.memory");
  });
});
