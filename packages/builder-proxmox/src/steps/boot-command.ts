/**
 * The boot command, typed by the SDK's bootCommandStep through Proxmox's sendkey API (one
 * request per key, held modifiers pressed along). A refused sendkey names the privilege it needs.
 */
import { messageOf, type Step } from "@kiln/core";
import { bootCommandStep } from "@kiln/sdk";
import { PveApiError } from "../client.js";
import { errors } from "../errors.js";
import type { CommonOptions } from "../schema.js";
import { createSendkeyDriver } from "../sendkey.js";
import { API, VM } from "../state.js";
import { vmPath } from "../vm.js";

export function proxmoxBootCommandStep(o: CommonOptions): Step {
  return bootCommandStep(o, {
    async keyboard(ctx, signal) {
      const client = ctx.state.require(API);
      const path = vmPath(o.node, ctx.state.require(VM).vmid, "sendkey");
      return {
        driver: createSendkeyDriver(async (key) => {
          await client.put(path, { key }, signal);
        }),
        via: "through the Proxmox API",
      };
    },
    failure: (e) =>
      errors.error(
        "KILN_PROXMOX_BOOT_COMMAND",
        `typing the boot command failed: ${messageOf(e)}`,
        e instanceof PveApiError && e.status === 403
          ? "The user or token needs VM.Console on the VM to send keys."
          : "Check the boot_command syntax (keys in <…>, waits as <wait5>).",
        e,
      ),
  });
}
