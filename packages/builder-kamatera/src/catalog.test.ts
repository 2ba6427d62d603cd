import { describe, expect, it } from "vitest";
import {
  checkCapabilities,
  checkDatacenter,
  checkImage,
  checkLibraryNames,
  resolveImage,
} from "./catalog.js";

const images = [
  { id: "EU:6000C29a", description: "ubuntu_server_24.04_64-bit", sizeGB: 10 },
  { id: "EU:6000C29b", description: "ubuntu_server_22.04_64-bit", sizeGB: 10 },
  { id: "EU:6000C29c", description: "debian_server_12_64-bit", sizeGB: 10 },
  { id: "EU:77", description: "my-golden", sizeGB: 20 },
];
const opts = { datacenters: { EU: "EU: Amsterdam", IL: "IL: Rosh Haayin" }, diskImages: { EU: images } };
const disk = (sizeGB: number, index = 0) => ({ index, sizeGB, imageName: `img${index}` });

describe("image resolution, as the API does it", () => {
  it("by description (also library images), by ID, by the bare hex part", () => {
    expect(resolveImage(images, "debian_server_12_64-bit", "EU")?.id).toBe("EU:6000C29c");
    expect(resolveImage(images, "my-golden", "EU")?.id).toBe("EU:77");
    expect(resolveImage(images, "EU:6000C29b", "EU")?.description).toBe("ubuntu_server_22.04_64-bit");
    expect(resolveImage(images, "6000C29a", "EU")?.description).toBe("ubuntu_server_24.04_64-bit");
  });
  it("an ID of another datacenter, and an unknown name listing the near ones first", () => {
    expect(() => resolveImage(images, "IL:6000C29a", "EU")).toThrow(/image of datacenter IL, not of EU/);
    expect(() => checkImage(opts, "ubuntu_server_18.04_64-bit", "EU")).toThrow(
      /not available in datacenter EU/,
    );
    try {
      checkImage(opts, "ubuntu_server_18.04_64-bit", "EU");
    } catch (e) {
      expect((e as { hint: string }).hint).toBe(
        "Images in EU: ubuntu_server_22.04_64-bit, ubuntu_server_24.04_64-bit, debian_server_12_64-bit, my-golden.",
      );
    }
  });
});

describe("datacenter, capabilities, library names", () => {
  it("an unknown datacenter lists the known ones", () => {
    expect(() => checkDatacenter(opts, "XX")).toThrow(/datacenter "XX" does not exist/);
    expect(() => checkDatacenter(opts, "EU")).not.toThrow();
  });
  const caps = {
    diskSizeGB: [5, 10, 20, 50],
    cpuTypes: [
      { id: "A", name: "Type A", cpuCores: [1, 2, 4], ramMB: [256, 512, 1024, 2048] },
      { id: "B", name: "Type B", cpuCores: [1, 2], ramMB: [1024] },
    ],
  };
  it("CPU type, cores, memory and disk sizes", () => {
    expect(() => checkCapabilities(caps, "1A", 1024, [disk(10)], "EU")).not.toThrow();
    expect(() => checkCapabilities(caps, "1D", 1024, [disk(10)], "EU")).toThrow(/no CPU type D/);
    expect(() => checkCapabilities(caps, "8A", 1024, [disk(10)], "EU")).toThrow(/1, 2, 4 cores, not 8/);
    expect(() => checkCapabilities(caps, "1B", 2048, [disk(10)], "EU")).toThrow(/takes 1024 MiB/);
    expect(() => checkCapabilities(caps, "1A", 1024, [disk(10), disk(30, 1)], "EU")).toThrow(
      /disk 1: 30 GiB/,
    );
    expect(() => checkCapabilities({}, "1Z", 7, [disk(3)], "EU")).not.toThrow(); // nothing to check against
  });
  it("a library name that is taken", () => {
    expect(() => checkLibraryNames(opts, "EU", [{ index: 0, sizeGB: 10, imageName: "my-golden" }])).toThrow(
      /already has an image named my-golden/,
    );
    expect(() => checkLibraryNames(opts, "EU", [disk(10)])).not.toThrow();
  });
});
