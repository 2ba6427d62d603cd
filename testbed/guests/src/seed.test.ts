import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, test } from "vitest";
import { parse } from "yaml";
import { cloudConfig, metaData, seedFiles } from "./seed.js";

const AWK = fileURLToPath(new URL("../../appliance/guest/kiln-config.awk", import.meta.url));

const cfg = cloudConfig({
  hostname: "web-1",
  password: 'pa"ss\\word',
  sshAuthorizedKeys: ["ssh-ed25519 AAAAC3Nza key one", "ssh-ed25519 AAAAC3Nzb key-two "],
  runcmd: ["echo hi > /root/hi", ["sh", "-c", "touch /root/ran"]],
});

describe("cloudConfig", () => {
  test("is #cloud-config YAML cloud-init reads", () => {
    expect(cfg.startsWith("#cloud-config\n")).toBe(true);
    expect(parse(cfg)).toEqual({
      hostname: "web-1",
      password: 'pa"ss\\word',
      chpasswd: { expire: false },
      ssh_authorized_keys: ["ssh-ed25519 AAAAC3Nza key one", "ssh-ed25519 AAAAC3Nzb key-two"],
      runcmd: ["echo hi > /root/hi", ["sh", "-c", "touch /root/ran"]],
    });
  });
  test.skipIf(spawnSync("awk", ["BEGIN{}"]).status !== 0)(
    "and the appliance's reader gets the same values",
    () => {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), "seed-"));
      try {
        fs.writeFileSync(path.join(dir, "user-data"), cfg);
        const r = spawnSync("awk", ["-f", AWK, path.join(dir, "user-data")], { encoding: "utf8" });
        expect(r.status).toBe(0);
        expect(r.stdout.trim().split("\n")).toEqual([
          "hostname\tweb-1",
          'password\tpa"ss\\word',
          "authorized_key\tssh-ed25519 AAAAC3Nza key one",
          "authorized_key\tssh-ed25519 AAAAC3Nzb key-two",
          "runcmd\techo hi > /root/hi",
          "runcmd\t'sh' '-c' 'touch /root/ran'",
        ]);
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
    },
  );
});

describe("seed files", () => {
  test("default meta-data names the instance and host; optional files only when given", () => {
    expect(seedFiles({ userData: "#cloud-config\n" }, { instanceId: "i-1", hostname: "h" })).toEqual({
      "user-data": "#cloud-config\n",
      "meta-data": 'instance-id: "i-1"\nlocal-hostname: "h"\n',
    });
    expect(
      Object.keys(
        seedFiles(
          { userData: "", networkConfig: "version: 2\n", metaData: metaData("x") },
          { instanceId: "y" },
        ),
      ),
    ).toEqual(["user-data", "meta-data", "network-config"]);
    expect(parse(metaData("i-2", "box"))).toEqual({ "instance-id": "i-2", "local-hostname": "box" });
  });
});
