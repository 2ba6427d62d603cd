/** The address step on its own, with a stand-in API client: what it leaves for connectStep. */
import { createRunContext, EventBus, type RunContext } from "@kiln/core";
import { SSH_ADDRESS } from "@kiln/sdk";
import { afterEach, describe, expect, it } from "vitest";
import type { PveClient } from "../client.js";
import type { ProxmoxIsoOptions } from "../schema.js";
import { API, VM } from "../state.js";
import { addressStep } from "./address.js";

const disposers: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const d of disposers.splice(0)) await d();
});

function context(answer: () => unknown): { ctx: RunContext; asked: string[] } {
  const bus = new EventBus();
  const { ctx, dispose } = createRunContext({
    run: { name: "b.proxmox-iso.box", build: "b", source: "box", type: "proxmox-iso", runUuid: "u" },
    ui: bus.ui("b.proxmox-iso.box"),
    baseDir: process.cwd(),
  });
  disposers.push(dispose);
  const asked: string[] = [];
  const client = {
    async get(path: string) {
      asked.push(path);
      return answer();
    },
  };
  ctx.state.put(API, client as unknown as PveClient);
  ctx.state.put(VM, { vmid: 120, created: true, owned: true, nonce: "n" });
  return { ctx, asked };
}

const options = (o: Partial<ProxmoxIsoOptions>) =>
  ({ node: "pve", communicator: "ssh", ssh_port: 2222, ...o }) as ProxmoxIsoOptions;

describe("the guest address step", () => {
  it("puts the agent's address with ssh_port into SSH_ADDRESS", async () => {
    const { ctx, asked } = context(() => ({
      result: [{ name: "eth0", "ip-addresses": [{ "ip-address": "10.1.2.3", "ip-address-type": "ipv4" }] }],
    }));
    await addressStep(options({})).run(ctx);
    expect(ctx.state.get(SSH_ADDRESS)).toEqual({ host: "10.1.2.3", port: 2222 });
    expect(asked).toEqual(["/nodes/pve/qemu/120/agent/network-get-interfaces"]);
  });

  it("asks nothing with ssh_host (connectStep uses it) or communicator none", async () => {
    for (const o of [{ ssh_host: "192.0.2.9" }, { communicator: "none" as const }]) {
      const { ctx, asked } = context(() => ({ result: [] }));
      await addressStep(options(o)).run(ctx);
      expect(ctx.state.get(SSH_ADDRESS)).toBeUndefined();
      expect(asked).toEqual([]);
    }
  });

  it("qemu_agent: false without ssh_host is an error that says what to set", async () => {
    const { ctx } = context(() => ({ result: [] }));
    await expect(addressStep(options({ qemu_agent: false })).run(ctx)).rejects.toThrow(
      /qemu_agent is false and no ssh_host is set/,
    );
  });
});
