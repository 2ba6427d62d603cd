/**
 * The launch step: start QEMU with the machine the earlier steps prepared, connect kiln's QMP
 * client, and leave the machine under VM. A forwarded port taken meanwhile by someone else is
 * replaced (up to three times). Its cleanup stops QEMU whatever happens: the ACPI power button,
 * then quit, then SIGKILL.
 */
import { rm } from "node:fs/promises";
import { join, resolve } from "node:path";
import { messageOf, type Step } from "@kiln/core";
import { CD_IMAGE, FLOPPY_IMAGE, QmpClient, SOURCE_FILE, SSH_ADDRESS } from "@kiln/sdk";
import { defaultArgs, flattenArgs, formatCommand, mergeQemuArgs } from "../args.js";
import { userSerialFile, vmName, wantsUserQmp } from "../defaults.js";
import { stderrTail } from "../diagnose.js";
import { qemuErrors } from "../errors.js";
import { findFreePort } from "../net.js";
import { startQemu, waitExit } from "../proc.js";
import type { QemuOptions } from "../schema.js";
import { ACCEL, DISKS, EFI, HOST_PORT, TPM, VM, type Vm, VNC } from "../state.js";
import { stopVm, VmExitedError } from "../vm.js";
import { vmConfig } from "../vm-config.js";

export interface LaunchHow {
  /** Start QEMU waiting for a saved state (`-incoming defer`), for a checkpoint's restore. */
  incoming?: boolean;
  /** Boot from the disk even with an ISO (the saved machine had rebooted from its disk already). */
  bootFromDisk?: boolean;
}

export function launchStep(o: QemuOptions, how: LaunchHow = {}): Step {
  let userQmp: string | undefined;
  return {
    name: "start vm",
    async run(ctx) {
      const bin = o.qemu_binary;
      const tmp = await ctx.tempDir("kiln-qemu-");
      // A -serial file:… of the user's (qemuargs replaces kiln's) is where the console goes then.
      const userSerial = userSerialFile(o);
      const serialLog = userSerial ? resolve(ctx.baseDir, userSerial) : join(tmp, "serial.log");
      const qmpSocket = join(tmp, "qmp.sock");
      if (wantsUserQmp(o)) {
        userQmp = o.qmp_socket_path ? resolve(ctx.baseDir, o.qmp_socket_path) : join(tmp, "qmp-user.sock");
        await rm(userQmp, { force: true });
      }
      const vnc = ctx.state.get(VNC);
      for (let attempt = 0; ; attempt++) {
        const hostPort = ctx.state.get(HOST_PORT);
        const config = vmConfig(o, {
          name: vmName(o, ctx),
          accel: ctx.state.require(ACCEL),
          disks: ctx.state.require(DISKS).disks,
          ...optional("source", ctx.state.get(SOURCE_FILE)?.path),
          ...optional("cdIso", ctx.state.get(CD_IMAGE)?.path),
          ...optional("floppy", ctx.state.get(FLOPPY_IMAGE)),
          ...optional("tpm", ctx.state.get(TPM)),
          ...optional("hostPort", hostPort),
          ...optional("vnc", vnc?.arg),
          ...optional("efi", ctx.state.get(EFI)),
          ...optional("userQmpSocket", userQmp),
          qmpSocket,
          serialLog,
          baseDir: ctx.baseDir,
        });
        const entries = mergeQemuArgs(
          defaultArgs(how.bootFromDisk ? { ...config, bootFromCd: false } : config),
          o.qemuargs,
        );
        const args = flattenArgs(how.incoming ? [...entries, ["-incoming", "defer"]] : entries);
        const command = formatCommand(bin, args);
        ctx.ui.say(`Starting QEMU (${config.accel})${how.incoming ? " to restore the checkpoint" : ""}...`);
        ctx.ui.message(command);
        await rm(qmpSocket, { force: true });
        const proc = startQemu(bin, args, ctx.baseDir); // relative paths in qemuargs: from the build file's folder
        let qmp: QmpClient;
        try {
          const exited = proc.exited.then(() => {
            throw new VmExitedError(null, null);
          });
          qmp = await Promise.race([
            QmpClient.connect(qmpSocket, { timeout: 20_000, signal: ctx.signal }),
            exited,
          ]);
        } catch (e) {
          proc.child.kill("SIGKILL");
          await waitExit(proc, 5000);
          if (ctx.signal.aborted) throw ctx.signal.reason;
          const stderr = proc.stderr().trim();
          if (/host forwarding|Could not set up host forwarding/i.test(stderr) && hostPort && attempt < 3) {
            const p = await findFreePort(o.host_port_min, o.host_port_max, "127.0.0.1", new Set([hostPort]));
            if (p !== undefined) {
              ctx.ui.message(`Port ${hostPort} was taken meanwhile; trying ${p}`);
              ctx.state.put(HOST_PORT, p);
              ctx.state.put(SSH_ADDRESS, { host: "127.0.0.1", port: p });
              continue;
            }
          }
          throw qemuErrors.error(
            "KILN_QEMU_START",
            `QEMU did not start: ${stderr ? stderrTail(stderr, 4) : messageOf(e)}`,
            `Check the options (and qemuargs) against the command line:\n  ${command}`,
            e,
          );
        }
        qmp.on("error", () => {});
        const vm: Vm = { proc, qmp, serialLog, command, resets: 0 };
        qmp.on("RESET", () => {
          vm.resets++;
        });
        ctx.state.put(VM, vm);
        ctx.ui.say(`QEMU is running (pid ${proc.pid}); serial console: ${serialLog}`);
        if (userQmp) ctx.ui.message(`QMP socket for you (qmp_enable): ${userQmp}`);
        return;
      }
    },
    async cleanup(ctx) {
      const vm = ctx.state.get(VM);
      ctx.state.delete(VM);
      if (vm) await stopVm(ctx, vm);
      if (userQmp) await rm(userQmp, { force: true });
    },
  };
}

/** `{ [key]: value }` when the value is there, else nothing (exactOptionalPropertyTypes). */
function optional<K extends string, V>(key: K, value: V | undefined): { [P in K]?: V } {
  return (value === undefined ? {} : { [key]: value }) as { [P in K]?: V };
}
