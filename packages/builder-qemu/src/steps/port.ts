/**
 * The port step: a free host port forwarded to the guest's SSH port (user networking), which is
 * where the communicator connects (SSH_ADDRESS); and, when wanted, a free VNC port with its
 * random password.
 */
import { randomBytes } from "node:crypto";
import type { Step } from "@kiln/core";
import { SSH_ADDRESS } from "@kiln/sdk";
import { forwardsSshPort, vncRange, wantsVncServer } from "../defaults.js";
import { qemuErrors } from "../errors.js";
import { findFreePort } from "../net.js";
import type { QemuOptions } from "../schema.js";
import { HOST_PORT, VNC } from "../state.js";

export function portStep(o: QemuOptions): Step {
  return {
    name: "host port",
    async run(ctx) {
      if (forwardsSshPort(o)) {
        const min = o.host_port_min;
        const max = o.host_port_max;
        const port = await findFreePort(min, max);
        if (port === undefined)
          throw qemuErrors.error(
            "KILN_QEMU_PORT",
            `no free TCP port in ${min}–${max} on 127.0.0.1 for SSH`,
            "Widen host_port_min/host_port_max.",
          );
        ctx.state.put(HOST_PORT, port);
        ctx.state.put(SSH_ADDRESS, { host: "127.0.0.1", port });
        ctx.ui.message(`Forwarding 127.0.0.1:${port} to the guest's port ${o.ssh_port}`);
      }
      if (wantsVncServer(o)) {
        const { bind, min, max } = vncRange(o);
        const port = await findFreePort(min, max, bind);
        if (port === undefined)
          throw qemuErrors.error(
            "KILN_QEMU_PORT",
            `no free VNC port in ${min}–${max} on ${bind}`,
            "Widen vnc_port_min/vnc_port_max.",
          );
        // vnc_password as given, or a random one for vnc_use_password (VNC uses 8 characters).
        const password =
          o.vnc_password ?? (o.vnc_use_password ? randomBytes(6).toString("base64url") : undefined);
        if (password) ctx.secret(password);
        // QEMU takes an IPv6 address in brackets, and a display number (port − 5900).
        const qemuBind = bind.includes(":") ? `[${bind}]` : bind;
        const host = bind === "0.0.0.0" || bind === "::" ? "127.0.0.1" : bind;
        ctx.state.put(VNC, {
          arg: `${qemuBind}:${port - 5900}${password ? ",password=on" : ""}`,
          address: { host, port, ...(password ? { password } : {}) },
        });
        ctx.ui.say(
          `VNC: vnc://${qemuBind}:${port}${password ? (o.vnc_password ? " (with vnc_password)" : " (with a random password)") : ""}${
            o.boot_command_method === "vnc"
              ? ""
              : ", to watch the guest; the boot command is still typed through QMP (boot_command_method: vnc types it over VNC)"
          }`,
        );
      }
    },
    async cleanup(ctx) {
      ctx.state.delete(SSH_ADDRESS);
    },
  };
}
