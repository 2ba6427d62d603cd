/** What of the qemu options a checkpoint depends on (its key, its files) and what it cannot work with. */
import { applyDefaults, Deferred } from "@kiln/core";
import { describe, expect, it } from "vitest";
import { inputFiles, machineOptions, NOT_MACHINE, unsupported } from "./checkpoint-options.js";
import { type QemuOptions, qemuSchema } from "./schema.js";

const opts = (o: Partial<QemuOptions> = {}): QemuOptions =>
  applyDefaults(qemuSchema, { iso_url: "x.iso", ...o }) as QemuOptions;

describe("checkpoint keys of the qemu builder", () => {
  it("leave out what only names, places or compacts the output, or reaches the machine", () => {
    const a = machineOptions(
      opts({
        memory: 1024,
        output_directory: "a",
        vm_name: "a.qcow2",
        ssh_password: "x",
        host_port_min: 3000,
      }),
    );
    const b = machineOptions(
      opts({
        memory: 1024,
        output_directory: "b",
        vm_name: "b.qcow2",
        ssh_password: "y",
        host_port_min: 4000,
      }),
    );
    expect(a).toEqual(b);
    expect(a.memory).toBe(1024);
    expect(machineOptions(opts({ memory: 2048 }))).not.toEqual(a);
    // qemu-img's convert arguments only shape the output; create's shape the disk.
    const c = machineOptions(
      opts({ qemu_img_args: { convert: ["-o", "x"], create: ["-o", "cluster_size=2M"] } }),
    );
    expect(c.qemu_img_args).toEqual({ create: ["-o", "cluster_size=2M"] });
    // Everything left out is a real option.
    const known = new Set(Object.keys((qemuSchema as { properties: object }).properties));
    for (const k of NOT_MACHINE) expect(known.has(k), k).toBe(true);
    // What shapes the machine stays in: boot command, disk, network, qemuargs.
    for (const k of ["boot_command", "disk_size", "disk_interface", "net_device", "qemuargs", "cd_content"])
      expect(
        Object.keys(
          machineOptions(opts({ boot_command: ["x"], qemuargs: [["-a"]], cd_content: { a: "b" } })),
        ),
      ).toContain(k);
  });

  it("hash the files the machine is made from; a local ISO without checksum by size and time", () => {
    expect(
      inputFiles(
        opts({
          http_directory: "http",
          cd_files: ["seed/*.yaml", "drivers"],
          floppy_files: ["a.cfg"],
          iso_url: "images/x.iso",
          iso_checksum: "none",
        }),
      ),
    ).toEqual(["http", "seed", "drivers", "a.cfg", { path: "images/x.iso", stat: true }]);
    expect(inputFiles(opts({ iso_url: "https://example.org/x.iso", iso_checksum: "none" }))).toEqual([]);
    expect(inputFiles(opts({ iso_url: "x.iso", iso_checksum: "sha256:00" }))).toEqual([]);
    const deferred = Deferred.parse("${{ build.X }}") as unknown as string;
    expect(inputFiles(opts({ http_directory: deferred, iso_checksum: "sha256:00" }))).toBe(false);
  });

  it("are not used where the machine's state would not be whole", () => {
    expect(unsupported(opts())).toBeUndefined();
    expect(unsupported(opts({ vtpm: true }))).toMatch(/swtpm/);
    expect(unsupported(opts({ communicator: "none" }))).toMatch(/nothing to resume/);
    expect(unsupported(opts({ qemuargs: [["-loadvm", "x"]] }))).toMatch(/-loadvm/);
  });
});
