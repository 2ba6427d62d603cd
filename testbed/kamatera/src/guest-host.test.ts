/** The first-boot data a real guest gets, read the way the appliance reads it (its own awk reader) and run as it runs it. */
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { scriptCommand, seedUserData } from "./guest-host.js";
import type { MachineSpec } from "./machine.js";

const AWK = fileURLToPath(new URL("../../appliance/guest/kiln-config.awk", import.meta.url));
const KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIG5uPjG8tb2n3S6vQe1bA1V2QWd1n5qkXo1Hc3JvZm9vYmFy kiln";
const SCRIPT = '#!/bin/sh\necho \'it ran\' > "$OUT"\nfor i in 1 2; do echo line $i >> "$OUT"; done\n';
const spec = (seed: MachineSpec["seed"]): MachineSpec => ({
  id: "0f0e0d0c-aaaa",
  name: "kiln-x",
  cpus: 1,
  ramMiB: 512,
  disks: [],
  seed,
});

describe("the seed of a real guest", () => {
  it("the appliance's reader gets hostname, root password, key and one runcmd line", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "kamatera-seed-"));
    try {
      const ud = path.join(dir, "user-data");
      fs.writeFileSync(
        ud,
        seedUserData(
          spec({ hostname: "kiln-x", sshKeys: [KEY], password: "abcdefgHIJKLMN1234#$", script: SCRIPT }),
        ),
      );
      const r = spawnSync("awk", ["-f", AWK, ud], { encoding: "utf8" });
      expect(r.status).toBe(0);
      const lines = r.stdout.trim().split("\n");
      expect(lines).toContain("hostname\tkiln-x");
      expect(lines).toContain("password\tabcdefgHIJKLMN1234#$");
      expect(lines).toContain(`authorized_key\t${KEY}`);
      expect(lines.filter((l) => l.startsWith("runcmd\t"))).toHaveLength(1);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it("cloud-init (Debian) gets the key for root too, and keeps root login open", () => {
    const doc = parse(seedUserData(spec({ hostname: "h", sshKeys: [KEY] })));
    expect(doc.disable_root).toBe(false);
    expect(doc.users).toEqual(["default", { name: "root", ssh_authorized_keys: [KEY] }]);
  });

  it("the script runs whole (several lines, quotes), from one command line", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "kamatera-script-"));
    try {
      const out = path.join(dir, "out");
      const cmd = scriptCommand(SCRIPT, path.join(dir, "script"));
      expect(cmd).not.toContain("\n");
      const r = spawnSync("sh", ["-c", cmd], { encoding: "utf8", env: { ...process.env, OUT: out } });
      expect(r.status, r.stderr).toBe(0);
      expect(fs.readFileSync(out, "utf8")).toBe("it ran\nline 1\nline 2\n");
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
