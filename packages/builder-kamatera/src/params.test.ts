import { describe, expect, it } from "vitest";
import {
  createBody,
  defaultImageName,
  diskPlan,
  GENERATE,
  NAME_RE,
  serverName,
  serverPasswordProblem,
  waitsForPowerOff,
} from "./params.js";

describe("serverName", () => {
  it("is kiln-<source>-<nonce>, a valid Kamatera name of at most 40 characters with no regex characters", () => {
    expect(serverName("ubuntu", "a1b2c3d4")).toBe("kiln-ubuntu-a1b2c3d4");
    const long = serverName("a very long source name with spaces and ünïcode that goes on", "deadbeef");
    expect(long.length).toBeLessThanOrEqual(40);
    expect(long.endsWith("-deadbeef")).toBe(true);
    expect(long).toMatch(NAME_RE);
    expect(long).not.toMatch(/[()^$.*+?[\]{}|\\]/);
    expect(serverName("!!!", "00000000")).toBe("kiln-00000000");
  });
});

describe("diskPlan", () => {
  it("one disk of 10 GiB by default, named kiln-<source>-<UTC time>-<nonce>", () => {
    const name = defaultImageName("web server", 1_764_590_400_123, "3f9a");
    expect(name).toBe("kiln-web-server-20251201T120000Z-3f9a");
    expect(diskPlan({}, name)).toEqual([{ index: 0, sizeGB: 10, imageName: name }]);
  });
  it("disk as a string (Packer templates) and image_name", () => {
    expect(diskPlan({ disk: "20", image_name: "web" })).toEqual([{ index: 0, sizeGB: 20, imageName: "web" }]);
  });
  it("disks: one image per disk, named after image_name unless they say", () => {
    expect(
      diskPlan({ image_name: "db", disks: [{ size: 20 }, { size: "50" }, { size: 5, image_name: "logs" }] }),
    ).toEqual([
      { index: 0, sizeGB: 20, imageName: "db" },
      { index: 1, sizeGB: 50, imageName: "db-disk1" },
      { index: 2, sizeGB: 5, imageName: "logs" },
    ]);
  });
  it("refuses disk with disks, and two disks saved under one name", () => {
    expect(() => diskPlan({ disk: 10, disks: [{ size: 10 }] })).toThrow(
      /\[kamatera\] set disk or disks, not both/,
    );
    expect(() => diskPlan({ image_name: "x", disks: [{ size: 1 }, { size: 2, image_name: "x" }] })).toThrow(
      /same image x/,
    );
  });
});

describe("createBody", () => {
  const o = {
    datacenter: "EU",
    image: "ubuntu_server_24.04_64-bit",
    cpu: "2b",
    ram: 2048,
    script: undefined,
  };
  const disks = diskPlan({ disks: [{ size: 20 }, { size: 50 }], image_name: "i" });
  it("has the Packer plugin's fixed fields, the key, the disks as an item list, and asks for a generated password", () => {
    const b = createBody(o, { name: "kiln-x-1", publicKey: "ssh-ed25519 AAAA k\n", disks });
    expect(b).toEqual({
      name: "kiln-x-1",
      password: GENERATE,
      passwordValidate: GENERATE,
      "ssh-key": "ssh-ed25519 AAAA k",
      datacenter: "EU",
      image: "ubuntu_server_24.04_64-bit",
      cpu: "2B",
      ram: "2048",
      disk: "id=0,size=20 id=1,size=50",
      dailybackup: "no",
      managed: "no",
      network: "id=0,name=wan,ip=auto",
      quantity: "1",
      billingcycle: "hourly",
      monthlypackage: "",
      poweronaftercreate: "yes",
    });
  });
  it("sends script as script-file, and a given password as is", () => {
    const b = createBody(
      { ...o, script: "echo hi" },
      { name: "n", publicKey: "", password: "Abcdefgh12", disks },
    );
    expect(b["script-file"]).toBe("echo hi");
    expect(b.password).toBe("Abcdefgh12");
    expect(b["ssh-key"]).toBe("");
  });
});

describe("serverPasswordProblem", () => {
  it("follows Kamatera's rule", () => {
    expect(serverPasswordProblem("Abcdefgh12")).toBeUndefined();
    expect(serverPasswordProblem("Abc12")).toMatch(/10 to 20/);
    expect(serverPasswordProblem("Abcdefgh12 ")).toMatch(/only hold/);
    expect(serverPasswordProblem("abcdefgh12")).toMatch(/capital/);
  });
});

describe("waitsForPowerOff", () => {
  it("is on with disable_ssh and a script, unless turned off; never over SSH", () => {
    expect(waitsForPowerOff({ disable_ssh: true, script: "x" })).toBe(true);
    expect(waitsForPowerOff({ disable_ssh: true, script: "x", wait_for_power_off: false })).toBe(false);
    expect(waitsForPowerOff({ disable_ssh: true })).toBe(false);
    expect(waitsForPowerOff({ disable_ssh: false, script: "x" })).toBe(false);
  });
});
