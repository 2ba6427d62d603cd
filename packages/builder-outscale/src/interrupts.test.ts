/**
 * Ctrl-C at every step of outscale-bsuvolume and outscale-bsusurrogate (against the OAPI double,
 * in-memory machines, communicator none): each interrupted build fails, stops within seconds, and
 * leaves no VM, volume, snapshot, image, key pair, security group or public IP behind.
 */
import { buildFile } from "@kiln/sdk/testing";
import { InMemoryMachines, NOTHING_LEFT } from "@kiln-testbed/outscale";
import { describe, expect, it } from "vitest";
import { useDouble } from "./test-double.js";

const RESOLVER = {
  standard: {
    builder: {
      "outscale-bsuvolume": "@kiln/builder-outscale",
      "outscale-bsusurrogate": "@kiln/builder-outscale",
    },
  },
};
let n = 0;

const t = useDouble("interrupts", () => ({
  machines: new InMemoryMachines({ shutdownMs: 30 }),
  durations: { vmStart: 60, vmTerminate: 30, image: 60, snapshot: 60 },
}));

const common = () => `${t.accessYaml}
    vm_type: tinav5.c1r1p2
    source_omi: ${t.osc.baseImageId}
    subnet_id: ${t.osc.subnetId}
    associate_public_ip_address: true
    communicator: none
    vm_ready_timeout: 20s
    image_timeout: 20s`;

const YAML: Record<string, () => string> = {
  "outscale-bsuvolume": () => `kiln: 1
sources:
  vm:
    type: outscale-bsuvolume
${common()}
    bsu_volumes:
      - { device_name: /dev/xvdf, volume_size: 1, tags: { Name: a } }
      - { device_name: /dev/xvdg, volume_size: 2 }
builds:
  - sources: [vm]
`,
  "outscale-bsusurrogate": () => `kiln: 1
sources:
  vm:
    type: outscale-bsusurrogate
${common()}
    omi_name: kiln-interrupt-${++n}
    launch_block_device_mappings:
      - { device_name: /dev/xvdf, volume_size: 1, delete_on_vm_deletion: true }
      - { device_name: /dev/xvdg, volume_size: 1 }
    omi_root_device: { source_device_name: /dev/xvdf, device_name: /dev/sda1 }
builds:
  - sources: [vm]
`,
};

const build = (yaml: string, opts: Parameters<typeof buildFile>[3] = {}) =>
  buildFile(t.dir, `b-${++n}.yaml`, yaml, { resolver: RESOLVER, ...opts });

for (const type of Object.keys(YAML)) {
  describe(type, () => {
    let steps: string[] = [];
    it("a whole run: its steps, and (destroying the artifact) nothing left", async () => {
      const r = await build((YAML[type] as () => string)());
      expect(r.result.ok, r.log).toBe(true);
      steps = r.events.flatMap((e) => (e.type === "step-start" ? [e.step] : []));
      expect(steps.length).toBeGreaterThan(8);
      await r.result.runs[0]?.artifacts[0]?.destroy?.();
      expect(t.osc.leftovers()).toEqual(NOTHING_LEFT);
    });

    it("Ctrl-C at every step, at its start and while it runs, leaves nothing", async () => {
      expect(steps.length).toBeGreaterThan(0);
      for (const step of steps)
        for (const delay of [0, 40]) {
          const ctl = new AbortController();
          const t0 = Date.now();
          const r = await build((YAML[type] as () => string)(), {
            signal: ctl.signal,
            onEvent: (e) => {
              if (e.type === "step-start" && e.step === step)
                setTimeout(() => ctl.abort(new Error("interrupt")), delay);
            },
          });
          const where = `${step} +${delay}ms`;
          // A step that ends before the abort lands may let the build finish: then its artifact is destroyed.
          if (r.result.ok) await r.result.runs[0]?.artifacts[0]?.destroy?.();
          expect(Date.now() - t0, where).toBeLessThan(15_000);
          expect([where, t.osc.leftovers()]).toEqual([where, NOTHING_LEFT]);
        }
    }, 300_000);
  });
}
