/**
 * Every option of both schemas is read somewhere — by proxmox's own code or by the SDK's shared
 * steps — and the nested ones (disks, network adapters, ISOs, EFI, VGA, ipconfig) too.
 */
import { fileURLToPath } from "node:url";
import { ensureDist, sdkDistDir, unreadOptions } from "@kiln/sdk/testing";
import { describe, expect, it } from "vitest";
import { ISO_OBJECT, proxmoxCloneSchema, proxmoxIsoSchema } from "./schema.js";

const PKG_DIR = fileURLToPath(new URL("..", import.meta.url));
ensureDist(PKG_DIR);
const dirs = [fileURLToPath(new URL("../dist", import.meta.url)), sdkDistDir()];

type Props = { properties?: Record<string, unknown> };
const prop = (s: Props, name: string) => s.properties?.[name] as Props & { items?: Props };

describe("no option is read nowhere", () => {
  it("the check finds an option no code reads", () => {
    expect(unreadOptions({ properties: { kiln_no_such_option: {} } }, { dirs })).toEqual([
      "kiln_no_such_option",
    ]);
  });

  it.each([
    ["proxmox-iso", proxmoxIsoSchema],
    ["proxmox-clone", proxmoxCloneSchema],
  ])("%s", (_type, schema) => {
    expect(unreadOptions(schema, { dirs })).toEqual([]);
  });

  it("nested options", () => {
    const nested = {
      disks: prop(proxmoxIsoSchema, "disks").items as Props,
      network_adapters: prop(proxmoxIsoSchema, "network_adapters").items as Props,
      iso: ISO_OBJECT,
      efi_config: prop(proxmoxIsoSchema, "efi_config"),
      vga: prop(proxmoxIsoSchema, "vga"),
      ipconfig: prop(proxmoxCloneSchema, "ipconfig").items as Props,
    };
    for (const [name, schema] of Object.entries(nested))
      expect([name, unreadOptions(schema, { dirs })]).toEqual([name, []]);
  });
});
