/**
 * The address kiln connects to: ssh_host if set, else what the QEMU guest agent reports
 * (vm_interface's, or the first usable one), waited for up to ssh_timeout; put in SSH_ADDRESS
 * for connectStep. A missing or stopped agent, or a stopped VM, is said plainly.
 */
import { abortableSleep, messageOf, type Step } from "@kiln/core";
import { DEFAULT_SSH_TIMEOUT, SSH_ADDRESS } from "@kiln/sdk";
import { type AgentInterface, pickAddress } from "../address.js";
import { errors } from "../errors.js";
import type { CommonOptions } from "../schema.js";
import { API, VM } from "../state.js";
import { vmPath } from "../vm.js";

export function addressStep(o: CommonOptions): Step {
  return {
    name: "guest address",
    async run(ctx) {
      if (o.communicator !== "ssh" || o.ssh_host) return; // connectStep uses ssh_host itself
      if (o.qemu_agent === false)
        throw errors.error(
          "KILN_PROXMOX_ADDRESS",
          "qemu_agent is false and no ssh_host is set: kiln cannot learn the VM's address",
          "Set ssh_host to the address the VM gets, or enable qemu_agent (and install qemu-guest-agent in the guest).",
        );
      const client = ctx.state.require(API);
      const { vmid } = ctx.state.require(VM);
      const timeout = o.ssh_timeout ?? o.ssh_wait_timeout ?? DEFAULT_SSH_TIMEOUT;
      const deadline = Date.now() + errors.duration("ssh_timeout", timeout);
      ctx.ui.say(`Waiting for the QEMU guest agent to report the VM's address (up to ${timeout})...`);
      let last = "";
      let seen: AgentInterface[] | undefined;
      let delay = 1000;
      for (;;) {
        try {
          const r = await client.get<{ result: AgentInterface[] }>(
            vmPath(o.node, vmid, "agent/network-get-interfaces"),
            undefined,
            ctx.signal,
          );
          seen = r.result;
          const ip = pickAddress(r.result, o.vm_interface);
          if (ip) {
            ctx.state.put(SSH_ADDRESS, { host: ip, port: o.ssh_port });
            ctx.ui.say(`The guest agent reports ${ip}${o.vm_interface ? ` on ${o.vm_interface}` : ""}.`);
            return;
          }
          last = o.vm_interface
            ? `the agent answers, but interface ${o.vm_interface} has no usable address (interfaces: ${r.result.map((i) => i.name).join(", ")})`
            : `the agent answers, but no interface has a usable address yet (${r.result.map((i) => i.name).join(", ")})`;
        } catch (e) {
          if (ctx.signal.aborted) throw e;
          const m = messageOf(e);
          if (/No QEMU guest agent configured/i.test(m))
            throw errors.error(
              "KILN_PROXMOX_ADDRESS",
              "the VM has no QEMU guest agent device",
              "Set qemu_agent: true (the default), or set ssh_host.",
              e,
            );
          if (/is not running/i.test(m) && !/agent/i.test(m))
            throw errors.error(
              "KILN_PROXMOX_ADDRESS",
              `VM ${vmid} stopped while kiln waited for its address`,
              "The guest powered off or crashed: look at its console in the Proxmox UI (did the installer finish and power off instead of rebooting?).",
              e,
            );
          last = /agent is not running/i.test(m)
            ? "the QEMU guest agent is not running in the guest"
            : m.replace(/^\[proxmox\] /, "");
        }
        if (Date.now() + delay > deadline) break;
        ctx.ui.message(`Waiting for the guest's address: ${last}`);
        await abortableSleep(delay, ctx.signal);
        delay = Math.min(5000, delay + 1000);
      }
      throw errors.error(
        "KILN_PROXMOX_ADDRESS",
        `no address for VM ${vmid} within ${timeout}: ${last}`,
        /not running/.test(last)
          ? "Install and enable qemu-guest-agent in the guest (in the install config, e.g. packages: [qemu-guest-agent]), or set ssh_host."
          : seen && o.vm_interface
            ? `Set vm_interface to one of: ${seen.map((i) => i.name).join(", ")}.`
            : "Check the guest's network (DHCP on the bridge), or set ssh_host.",
      );
    },
    async cleanup(ctx) {
      ctx.state.delete(SSH_ADDRESS);
    },
  };
}
