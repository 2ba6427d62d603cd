/**
 * The defaults that depend on other options or on the run, each computed in one place (the
 * plain ones are schema defaults, see schema.ts).
 */
import type { RunContext } from "@kiln/core";
import type { QemuOptions } from "./schema.js";

export const VNC_PORT_MIN = 5900;
export const VNC_PORT_MAX = 6000;
export const VNC_BIND_ADDRESS = "127.0.0.1";
/** Where QEMU's user-mode network puts the host, as the guest sees it. */
export const USER_NET_HOST = "10.0.2.2";

/** -machine type: machine_type, else q35 with efi_boot, else pc. */
export function machineType(o: Pick<QemuOptions, "machine_type" | "efi_boot">): string {
  return o.machine_type ?? (o.efi_boot ? "q35" : "pc");
}

/**
 * -display: none when headless (display is then ignored), else display or gtk, as Packer; no
 * -display at all with use_default_display.
 */
export function displayOf(
  o: Pick<QemuOptions, "display" | "headless" | "use_default_display">,
): string | undefined {
  if (o.use_default_display) return undefined;
  if (o.headless) return "none";
  return o.display ?? "gtk";
}

/** File name of the result disk: vm_name, else packer-<source> (no extension), as Packer. */
export function vmName(o: Pick<QemuOptions, "vm_name">, ctx: Pick<RunContext, "run">): string {
  return o.vm_name ?? `packer-${ctx.run.source}`;
}

/** Where the guest reaches kiln's HTTP server: http_host, else 10.0.2.2 (user net) or the host's own address (bridge). */
export function httpGuestIp(o: Pick<QemuOptions, "http_host" | "net_bridge">, serverIp: string): string {
  return o.http_host ?? (o.net_bridge ? serverIp : USER_NET_HOST);
}

/** Whether kiln forwards a host port to the guest's SSH port (user networking, SSH, not skipped). */
export function forwardsSshPort(
  o: Pick<QemuOptions, "net_bridge" | "skip_nat_mapping" | "communicator">,
): boolean {
  return !o.net_bridge && !o.skip_nat_mapping && o.communicator === "ssh";
}

/**
 * Whether QEMU gets a VNC server: to type the boot command through (boot_command_method: vnc),
 * or, when any other vnc_* option asks for one, to watch the guest.
 */
export function wantsVncServer(o: Partial<QemuOptions>): boolean {
  if (o.disable_vnc) return false;
  return (
    o.vnc_password !== undefined ||
    o.boot_command_method === "vnc" ||
    o.vnc_use_password === true ||
    o.vnc_bind_address !== undefined ||
    o.vnc_port_min !== undefined ||
    o.vnc_port_max !== undefined
  );
}

/** The VNC server's address (without IPv6 brackets) and port range. */
export function vncRange(o: Partial<QemuOptions>): { bind: string; min: number; max: number } {
  return {
    bind: (o.vnc_bind_address ?? VNC_BIND_ADDRESS).replace(/^\[(.*)\]$/, "$1"),
    min: o.vnc_port_min ?? VNC_PORT_MIN,
    max: o.vnc_port_max ?? VNC_PORT_MAX,
  };
}

/** Whether the user gets a QMP socket of their own (qmp_enable, or a qmp_socket_path). */
export function wantsUserQmp(o: Pick<QemuOptions, "qmp_enable" | "qmp_socket_path">): boolean {
  return o.qmp_enable === true || o.qmp_socket_path !== undefined;
}

/** The serial console file a `-serial file:…` in qemuargs names (it replaces kiln's), if any. */
export function userSerialFile(o: Pick<QemuOptions, "qemuargs">): string | undefined {
  return o.qemuargs
    ?.filter((a) => a[0] === "-serial")
    .map((a) => /^file:(.+)$/.exec(a[1] ?? "")?.[1])
    .find((f) => f !== undefined);
}
