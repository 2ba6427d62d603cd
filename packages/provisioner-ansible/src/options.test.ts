/** Every option is read somewhere, and the simple defaults sit in the schema. */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { ensureDist, sdkDistDir, unreadOptions } from "@kiln/sdk/testing";
import { describe, expect, it } from "vitest";
import plugin from "./index.js";
import { ansibleLocalSchema, ansibleSchema } from "./schema.js";

const PKG_DIR = join(import.meta.dirname, "..");

describe("the ansible provisioners' options", () => {
  it.each([
    ["ansible", ansibleSchema],
    ["ansible-local", ansibleLocalSchema],
  ] as const)("of %s are all read", (_type, schema) => {
    ensureDist(PKG_DIR);
    expect(unreadOptions(schema, { dirs: [join(PKG_DIR, "dist"), sdkDistDir()] })).toEqual([]);
  });

  it("carry Packer's defaults (and kiln's clean staging directory)", () => {
    const a = ansibleSchema.properties;
    expect(a.command.default).toBe("ansible-playbook");
    expect(a.host_alias.default).toBe("default");
    expect(a.use_proxy.default).toBe(true);
    expect(a.galaxy_command.default).toBe("ansible-galaxy");
    expect(a.ansible_ssh_extra_args.default).toEqual(["-o IdentitiesOnly=yes"]);
    expect(ansibleSchema.required).toEqual(["playbook_file"]);
    const l = ansibleLocalSchema.properties;
    expect(l.clean_staging_directory.default).toBe(true);
    expect(l.command.default).toBe("PYTHONUNBUFFERED=1 ansible-playbook");
  });

  it("provides ansible and ansible-local as package.json declares, loading each only when created", async () => {
    const pkg = JSON.parse(readFileSync(join(PKG_DIR, "package.json"), "utf8")) as {
      kiln: { provisioners: string[] };
    };
    expect(plugin.provisioners.map((p) => p.type)).toEqual(pkg.kiln.provisioners);
    const source = readFileSync(join(PKG_DIR, "src", "index.ts"), "utf8");
    expect(source).not.toMatch(/^import .* from "\.\/(ansible|ansible-local|relay)\.js"/m);
    for (const p of plugin.provisioners) {
      const runtime = (await p.create()) as { provision?: unknown };
      expect(typeof runtime.provision, p.type).toBe("function");
    }
  });
});
