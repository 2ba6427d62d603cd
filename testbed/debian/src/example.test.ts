/** examples/exoscale/debian.yaml passes `kiln validate`, with its defaults and with a key of one's own. */
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { EXAMPLE, KILN_BIN, REPO } from "./repo.js";

function kiln(args: string[]) {
  const r = spawnSync(process.execPath, [KILN_BIN, ...args], {
    encoding: "utf8",
    cwd: REPO,
    env: { ...process.env, NO_COLOR: "1" },
    timeout: 20_000,
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe("examples/exoscale/debian.yaml", () => {
  it("is valid as it stands", () => {
    const r = kiln(["validate", EXAMPLE]);
    expect(r.stderr).toBe("");
    expect(r.stdout).toMatch(/valid \(1 source, 1 build, 1 run\)/);
    expect(r.code).toBe(0);
  });
  const mine = mkdtempSync(join(tmpdir(), "kiln-example-"));
  afterAll(() => rmSync(mine, { recursive: true, force: true }));
  it("is valid with an image and key of one's own, and refuses a bad accelerator", () => {
    // validate checks that the files exist (as the build would): an image and a key of one's own
    writeFileSync(join(mine, "debian.qcow2"), "");
    writeFileSync(join(mine, "id_ed25519"), "");
    const own = kiln([
      "validate",
      EXAMPLE,
      "--var",
      `image_url=${join(mine, "debian.qcow2")}`,
      "--var",
      "image_checksum=none",
      "--var",
      `ssh_private_key_file=${join(mine, "id_ed25519")}`,
      "--var",
      "ssh_public_key=ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIExample me@host",
    ]);
    expect(own.stderr).toBe("");
    expect(own.code).toBe(0);
    const bad = kiln(["validate", EXAMPLE, "--var", "accelerator=hvf"]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain("accelerator must be auto, kvm or tcg.");
    // a key file that is not there is found now, at its option, not when the build connects
    const missing = kiln(["validate", EXAMPLE, "--var", "ssh_private_key_file=/nonexistent/id_ed25519"]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/error KILN_CONFIG sources\.\S+\.ssh_private_key_file: .*does not exist/);
  });
});
