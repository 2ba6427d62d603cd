/** The ISOs of a build: the boot ISO and Packer's older names, checks, where each comes from. */
import { applyDefaults } from "@kiln/core";
import { describe, expect, it } from "vitest";
import { bootIso, cdromsOf, checkIso, isoFileVolume, isoList, isoSource } from "./isos.js";
import { cdromPlace } from "./params.js";
import { ISO_OBJECT, type IsoOptions } from "./schema.js";

const base = { node: "pve" };

describe("ISOs", () => {
  it("boot_iso, or Packer's deprecated top-level names, never both", () => {
    expect(bootIso({ ...base, iso_file: "local:iso/a.iso", unmount_iso: true })).toEqual({
      iso_file: "local:iso/a.iso",
      unmount: true,
    });
    expect(() => bootIso({ ...base, boot_iso: { iso_file: "local:iso/a.iso" }, iso_url: "x" })).toThrow(
      /boot_iso and the top-level iso_url are both set/,
    );
  });
});

describe("the ISO list and the CD-ROMs", () => {
  it("the boot ISO from Packer's top-level names gets boot_iso's defaults; additional ISOs follow", () => {
    const list = isoList(
      { additional_iso_files: [applyDefaults(ISO_OBJECT, { cd_content: { a: "1" } }) as IsoOptions] },
      bootIso({ iso_file: "local:a.iso" }),
    );
    expect(list.map((l) => l.boot)).toEqual([true, false]);
    expect(list[0]?.iso).toMatchObject({
      iso_file: "local:a.iso",
      iso_storage_pool: "local",
      unmount: false,
    });
    expect(isoSource(list[0]?.iso ?? {})).toBe("file");
    expect(isoSource(list[1]?.iso ?? {})).toBe("cd");
    expect(isoFileVolume("local:a.iso")).toBe("local:iso/a.iso");
    expect(isoFileVolume("local:iso/a.iso")).toBe("local:iso/a.iso");
  });
  it("the boot ISO without type or index goes to ide2; with a type, to the first free slot", () => {
    expect(cdromPlace({}, true)).toEqual({ bus: "ide", index: 2 });
    expect(cdromPlace({ type: "ide" }, true)).toEqual({ bus: "ide" });
    expect(cdromPlace({}, false)).toEqual({ bus: "ide" });
    expect(cdromPlace({ type: "sata", index: 1 }, false)).toEqual({ bus: "sata", index: 1 });
    const list = isoList({}, { iso_file: "local:iso/b.iso", unmount: true, keep_cdrom_device: true });
    expect(cdromsOf(list, ["local:iso/b.iso"])).toEqual([
      { bus: "ide", index: 2, boot: true, volid: "local:iso/b.iso", unmount: true, keepDevice: true },
    ]);
  });
  it.each([
    [{}, /boot_iso: an ISO is required/],
    [{ iso_file: "a.iso" }, /is not a Proxmox volume/],
    [{ iso_url: "https://x/a.iso" }, /iso_checksum is required with iso_url/],
    [
      { iso_file: "local:iso/a.iso", cd_content: { a: "1" } },
      /set only one of .* \(found iso_file, cd_files\/cd_content\)/,
    ],
    [{ iso_file: "local:iso/a.iso", type: "ide", index: 4 }, /ide4 does not exist/],
    [{ iso_file: "local:iso/a.iso", iso_download_pve: true }, /iso_download_pve needs iso_url/],
  ])("%j is refused: %s", (iso, message) => {
    expect(() => checkIso(iso as Partial<IsoOptions>, "boot_iso", true)).toThrow(message);
  });
  it("a complete ISO passes", () => {
    expect(() =>
      checkIso({ iso_url: "https://x/a.iso", iso_checksum: "none" }, "boot_iso", true),
    ).not.toThrow();
    expect(() => checkIso({}, "additional_iso_files[0]", false)).not.toThrow();
  });
});
