import { rmSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { isKilnError, type KilnError } from "./errors.js";
import { isDeferred } from "./expr/deferred.js";
import { type LoadOptions, loadBuildFile } from "./load/index.js";

const fixtures = fileURLToPath(new URL("../test/fixtures/plugins/", import.meta.url));
const file = `${fixtures}valid.yaml`;
const standard = { provisioner: { shell: "@kiln/provisioners", file: "@kiln/provisioners" } };
const load = (o: Partial<LoadOptions> = {}) => loadBuildFile({ file, env: {}, resolver: { standard }, ...o });

function errorOf(fn: () => unknown): KilnError {
  try {
    fn();
  } catch (err) {
    if (isKilnError(err)) return err;
    throw err;
  }
  throw new Error("expected a KilnError");
}

describe("loadBuildFile on a valid file", () => {
  const loaded = load();
  it("binds variables with their types and defaults", () => {
    expect(loaded.variables.memory?.value).toBe(1024);
    expect(loaded.variables.debug?.value).toBe(false);
    expect(loaded.variables.packages?.value).toEqual(["curl", "vim"]);
    expect(loaded.variables.tags?.value).toEqual({ team: "infra" });
    expect(loaded.variables.version?.origin).toBe("default");
  });
  it("evaluates locals in dependency order", () => {
    expect(loaded.locals).toEqual({ short: "2404", name: "ubuntu-2404", pkgs: "curl vim" });
  });
  it("evaluates source options, keeping the raw type of whole-string expressions", () => {
    const o = loaded.sources.ubuntu?.options ?? {};
    expect(o.memory).toBe(1024);
    expect(o.iso_url).toBe("https://example.invalid/ubuntu-24.04.iso");
    expect(o.vm_name).toBe("ubuntu-2404-ubuntu");
  });
  it("keeps build-time expressions as written", () => {
    const o = loaded.sources.ubuntu?.options ?? {};
    const boot = (o.boot_command as unknown[])[0];
    expect(isDeferred(boot)).toBe(true);
    expect(String(boot)).toContain("${{ http.ip }}");
    expect(loaded.sources.ubuntu?.deferred).toEqual([["boot_command", 0]]);
    const shell = loaded.builds[0]?.provisioners[0];
    const inline = shell?.options.inline as unknown[] | undefined;
    expect(inline?.[0]).toBe("apt-get install -y curl vim");
    expect(isDeferred(inline?.[1])).toBe(true);
    expect(String(inline?.[1])).toBe("echo ${{ build.ID }}");
  });
  it("resolves each type through plugins:, the standard set and conventions", () => {
    const via = Object.fromEntries(
      loaded.plugins.map((p) => [`${p.kind}:${p.type}`, `${p.pkg.name}@${p.pkg.version} ${p.via}`]),
    );
    expect(via).toEqual({
      "builder:demo": "kiln-builder-demo@1.2.3 convention",
      "provisioner:shell": "@kiln/provisioners@0.1.0 standard",
      "provisioner:file": "@kiln/provisioners@0.1.0 standard",
      "provisioner:acme-run": "@acme/kiln-tools@2.0.0 plugins",
      "post-processor:acme-upload": "@acme/kiln-tools@2.0.0 plugins",
    });
  });
  it("loads post-processor chains", () => {
    expect(loaded.builds[0]?.postProcessors.map((c) => c.map((p) => p.options.bucket))).toEqual([
      ["images"],
      ["a", "b"],
    ]);
  });
  it("collects sensitive values for redaction", () => {
    expect(loaded.secrets).toContain("hunter2-secret");
  });
});

describe("variable values", () => {
  it("follow default < env binding < PKR_VAR_ < KILN_VAR_ < --var-file < --var", () => {
    expect(load({ env: { DEMO_PASSWORD: "from-env" } }).variables.password?.value).toBe("from-env");
    expect(load({ env: { DEMO_PASSWORD: "e", KILN_VAR_password: "kv" } }).variables.password?.value).toBe(
      "kv",
    );
    // Packer's PKR_VAR_<name> is read too, above the env binding and below KILN_VAR_<name>.
    expect(load({ env: { DEMO_PASSWORD: "e", PKR_VAR_password: "pkr" } }).variables.password).toMatchObject({
      value: "pkr",
      origin: "PKR_VAR",
      from: "$PKR_VAR_password",
    });
    expect(
      load({ env: { PKR_VAR_password: "pkr", KILN_VAR_password: "kv" } }).variables.password?.value,
    ).toBe("kv");
    expect(load({ env: { PKR_VAR_memory: "3072" } }).variables.memory?.value).toBe(3072);
    const l = load({
      env: { KILN_VAR_version: "20.04" },
      vars: ["version=22.04", "memory=2048", "debug=true", "packages=[git]"],
    });
    expect(l.variables.version?.value).toBe("22.04");
    expect(l.variables.memory?.value).toBe(2048);
    expect(l.variables.debug?.value).toBe(true);
    expect(l.variables.packages?.value).toEqual(["git"]);
    expect(l.locals.short).toBe("2204");
  });
  it("apply var files in order, then --var", () => {
    const l = load({ varFiles: [`${fixtures}vars-a.yaml`, `${fixtures}vars-b.json`] });
    expect(l.variables.version?.value).toBe("18.04");
    expect(l.variables.memory?.value).toBe(4096);
    expect(
      load({ varFiles: [`${fixtures}vars-a.yaml`], vars: ["version=16.04"] }).variables.version?.value,
    ).toBe("16.04");
  });
  it("reject wrong types, unknown names and failed validations, all at once", () => {
    const err = errorOf(() => load({ vars: ["memory=lots", "nope=1", "region=us-east-1", "broken"] }));
    const codes = err.diagnostics.map((d) => d.code).sort();
    expect(codes).toEqual(["KILN_VAR_ARG", "KILN_VAR_TYPE", "KILN_VAR_UNDEFINED", "KILN_VAR_VALIDATION"]);
    const validation = err.diagnostics.find((d) => d.code === "KILN_VAR_VALIDATION");
    expect(validation?.message).toContain("only EU regions are allowed.");
    expect(validation?.pos?.line).toBeGreaterThan(1);
  });
  it("never put a sensitive value in a message", () => {
    const err = errorOf(() => load({ vars: ["memory=x"], env: { KILN_VAR_password: "s3cr3t-value" } }));
    expect(JSON.stringify(err.diagnostics)).not.toContain("s3cr3t-value");
    expect(err.secrets).toContain("s3cr3t-value");
    const pkr = errorOf(() => load({ vars: ["memory=x"], env: { PKR_VAR_password: "pkr-s3cr3t" } }));
    expect(JSON.stringify(pkr.diagnostics)).not.toContain("pkr-s3cr3t");
    expect(pkr.secrets).toContain("pkr-s3cr3t");
  });
});

describe("plugin problems", () => {
  const tmp = (body: string) => {
    const f = `${fixtures}tmp-${Math.random().toString(36).slice(2)}.yaml`;
    writeFileSync(f, body);
    return f;
  };
  it.each([
    ["old", "KILN_PLUGIN_INCOMPATIBLE", /plugin API 0/],
    ["future", "KILN_PLUGIN_INCOMPATIBLE", /needs @kiln\/core \^5\.0\.0/],
    ["notaplugin", "KILN_PLUGIN_MALFORMED", /no "kiln" field/],
    ["nosuch", "KILN_PLUGIN_NOT_FOUND", /kiln-builder-nosuch/],
  ])("type %s → %s", (type, code, message) => {
    const f = tmp(`kiln: 1\nsources:\n  a:\n    type: ${type}\n`);
    try {
      const err = errorOf(() => loadBuildFile({ file: f, env: {} }));
      expect(err.diagnostics[0]?.code).toBe(code);
      expect(err.diagnostics[0]?.message).toMatch(message);
      expect(err.diagnostics[0]?.pos).toMatchObject({ line: 4, column: 11 });
      expect(err.diagnostics[0]?.hint).toBeTruthy();
    } finally {
      rmSync(f);
    }
  });
  it("a standard type whose package is missing gets the install hint, not a 'did you mean' of itself", () => {
    const f = tmp("kiln: 1\nsources:\n  a:\n    type: proxmox-iso\n");
    try {
      const err = errorOf(() =>
        loadBuildFile({
          file: f,
          env: {},
          resolver: { standard: { builder: { "proxmox-iso": "@kiln/no-such-proxmox-package" } } },
        }),
      );
      expect(err.diagnostics[0]?.code).toBe("KILN_PLUGIN_NOT_FOUND");
      expect(err.diagnostics[0]?.hint).not.toMatch(/Did you mean "proxmox-iso"/);
      expect(err.diagnostics[0]?.hint).toMatch(/@kiln\/no-such-proxmox-package/);
    } finally {
      rmSync(f);
    }
  });
});

describe("a variable without a value", () => {
  it("is reported once, not again wherever it is used", () => {
    const f = `${fixtures}tmp-missing-${process.pid}.yaml`;
    writeFileSync(
      f,
      "kiln: 1\nvariables:\n  mem: { type: number }\nlocals:\n  double: ${{ var.mem * 2 }}\nsources:\n  a:\n    type: demo\n    iso_url: x\n    memory: ${{ local.double }}\n",
    );
    try {
      const err = errorOf(() => loadBuildFile({ file: f, env: {} }));
      expect(err.diagnostics.map((d) => d.code)).toEqual(["KILN_VAR_MISSING"]);
    } finally {
      rmSync(f);
    }
  });
});
