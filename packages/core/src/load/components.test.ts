import { describe, expect, it } from "vitest";
import { walkComponents } from "./components.js";
import { parseYaml } from "./parse.js";
import type { RawFile } from "./structure.js";

const raw = parseYaml(
  `kiln: 1
data:
  img: { type: osc-omi }
  bad: [not, a, map]
sources:
  a: { type: qemu }
  b: { name: no-type }
builds:
  - sources: [a]
    provisioners: [{ type: shell }, oops, { type: file }]
    error-cleanup-provisioner: { type: shell-local }
    post-processors:
      - { type: manifest }
      - [{ type: compress }, 3, { type: checksum }]
  - not a build
  - post-processors: [{ type: shell-local }]
`,
  "walk.yaml",
).value as RawFile;

describe("walkComponents", () => {
  const all = [...walkComponents(raw)];
  it("yields every component map in file order with kind, type and path; skips what is not a map", () => {
    expect(all.map((c) => [c.kind, c.type, c.path.join("/")])).toEqual([
      ["datasource", "osc-omi", "data/img"],
      ["builder", "qemu", "sources/a"],
      ["builder", undefined, "sources/b"],
      ["provisioner", "shell", "builds/0/provisioners/0"],
      ["provisioner", "file", "builds/0/provisioners/2"],
      ["provisioner", "shell-local", "builds/0/error-cleanup-provisioner"],
      ["post-processor", "manifest", "builds/0/post-processors/0"],
      ["post-processor", "compress", "builds/0/post-processors/1/0"],
      ["post-processor", "checksum", "builds/0/post-processors/1/2"],
      ["post-processor", "shell-local", "builds/2/post-processors/0"],
    ]);
  });
  it("gives each component's node and slot", () => {
    expect(all[2]?.node).toEqual({ name: "no-type" });
    expect(all[7]?.slot).toEqual({ in: "post-processors", build: 0, chain: 1, index: 0, chained: true });
    expect(all[6]?.slot).toEqual({ in: "post-processors", build: 0, chain: 0, index: 0, chained: false });
    expect(all[5]?.slot).toEqual({ in: "error-cleanup-provisioner", build: 0 });
  });
  it("yields nothing for a file without components", () => {
    expect([...walkComponents({ kiln: 1 })]).toEqual([]);
  });
});
