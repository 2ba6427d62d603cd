/**
 * One Packer template of the QEMU builder imported and really built: `kiln import` of a .pkr.hcl
 * for kiln's test appliance, then `kiln build` of the result under TCG (one boot): the boot
 * command (from a variable default with `{{ .HTTPIP }}`, computed by a local at build time) is
 * typed, the install config is served, SSH, provisioners, qcow2 and manifest written; nothing left.
 */
import { spawnSync } from "node:child_process";
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { ensureAppliance } from "../../../testbed/appliance/src/appliance.js";

const TOOLS = ["qemu-system-x86_64", "qemu-img", "xorriso"];
const missing = TOOLS.filter(
  (t) => spawnSync("sh", ["-c", `command -v ${t}`], { stdio: "ignore" }).status !== 0,
);
const skip = missing.length > 0 && process.env.CI !== "true";

const bin = fileURLToPath(new URL("../bin.js", import.meta.url));
const fixtures = fileURLToPath(new URL("../../import/test/fixtures/", import.meta.url));

describe.skipIf(skip)(
  `kiln import of a qemu template, built${skip ? ` (skipped: missing ${missing.join(", ")})` : ""}`,
  () => {
    const dir = mkdtempSync(join(fixtures, "tmp-qemu-"));
    afterAll(() => rmSync(dir, { recursive: true, force: true }));

    it("imports, validates and builds the appliance from its installer ISO", async () => {
      const appliance = await ensureAppliance();
      copyFileSync(join(fixtures, "qemu/appliance.pkr.hcl"), join(dir, "appliance.pkr.hcl"));
      writeFileSync(join(dir, "local.pkrvars.hcl"), `iso = ${JSON.stringify(appliance.installerIso)}\n`);
      const kiln = (args: string[], timeout = 60_000) =>
        spawnSync(process.execPath, [bin, ...args], {
          cwd: dir,
          encoding: "utf8",
          env: { ...process.env, NO_COLOR: "1" },
          timeout,
        });

      const imported = kiln(["import", "--var-file", "local.pkrvars.hcl", "appliance.pkr.hcl"]);
      expect(imported.status, imported.stderr + imported.stdout).toBe(0);
      const out = join(dir, "appliance.kiln.yaml");
      const text = readFileSync(out, "utf8");
      expect(text).toContain("boot_command:\n      - ${{ local.boot_line }}");
      expect(kiln(["fmt", "--check", out]).status).toBe(0);

      const built = kiln(["build", "--var-file", "local.vars.yaml", out], 600_000);
      const log = built.stdout + built.stderr;
      expect(built.status, log).toBe(0);
      expect(log).toMatch(/proof: imported by [0-9a-f-]{36} on kiln-import/);
      expect(log).not.toContain("kiln-Import-Pw-93");
      expect(existsSync(join(dir, "output-appliance/appliance.qcow2"))).toBe(true);
      const manifest = JSON.parse(readFileSync(join(dir, "manifest.json"), "utf8"));
      expect(manifest.builds[0]).toMatchObject({ name: "appliance", builder_type: "qemu" });
      const left = spawnSync("pgrep", ["-f", dir], { encoding: "utf8" }).stdout.trim();
      expect(left, "no QEMU left running").toBe("");
    }, 900_000);
  },
);
