/**
 * The VNC password step (vnc_use_password): QEMU's `-vnc …,password=on` lets nobody in until a
 * password is set, so it is set over QMP as soon as QEMU runs — with or without a boot command.
 */
import type { Step } from "@kiln/core";
import { VM, VNC } from "../state.js";

export function vncPasswordStep(): Step {
  return {
    name: "vnc password",
    async run(ctx) {
      const password = ctx.state.get(VNC)?.address.password;
      if (!password) return;
      await ctx.state.require(VM).qmp.execute("set_password", { protocol: "vnc", password });
    },
  };
}
