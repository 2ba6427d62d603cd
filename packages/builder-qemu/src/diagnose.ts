/**
 * What a failed qemu build tells the user: the tail of the serial console, where the screenshot
 * goes, and the hint text around them. Pure, except serialTail's read of the console file.
 */
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import type { QemuOptions } from "./schema.js";

/** What was found out about the machine when a step failed. */
export interface FailureReport {
  /** The screenshot saved, if the machine was still there to take one. */
  png?: string;
  /** The last lines of the serial console ("" when it printed nothing). */
  serial: string;
}

/** The last `n` non-empty lines of serial console output, without terminal escapes. */
export function lastLines(text: string, n = 15): string {
  const lines = text
    // biome-ignore lint/suspicious/noControlCharactersInRegex: strip terminal escapes
    .replace(/\x1b\[[0-9;?]*[A-Za-z]/g, "")
    .split(/\r?\n|\r/)
    .map((l) => l.trimEnd())
    .filter((l) => l.trim() !== "");
  return lines.slice(-n).join("\n");
}

/** The last `n` non-empty lines of the serial console file ("" when it is missing). */
export async function serialTail(file: string, n = 15): Promise<string> {
  return lastLines(await readFile(file, "utf8").catch(() => ""), n);
}

/** QEMU's last stderr lines on one line, for a message. */
export function stderrTail(stderr: string, n: number): string {
  return stderr.trim().split("\n").slice(-n).join(" / ");
}

/** Where the screenshot of a failed run goes: beside the build file, outside the output directory. */
export function failureScreenshotPath(baseDir: string, runName: string): string {
  return join(baseDir, `kiln-${runName.replace(/[^A-Za-z0-9._-]+/g, "_")}-failure.png`);
}

/** The hint of a failure: what to check, the screenshot, and the serial console's tail. */
export function diagnosisHint(what: string, report: FailureReport, serialLog: string | undefined): string {
  const parts = [what];
  if (report.png) parts.push(`Screenshot of the machine's screen: ${report.png}`);
  if (serialLog !== undefined) {
    parts.push(
      report.serial
        ? `Last lines of the serial console (${serialLog}):\n${report.serial
            .split("\n")
            .map((l) => `  | ${l}`)
            .join("\n")}`
        : "The serial console (ttyS0) printed nothing; add console=ttyS0 to the guest's kernel command line to see its output here.",
    );
  }
  return parts.join("\n");
}

/** Where SSH was awaited, for messages. */
export function sshWhere(
  o: Pick<QemuOptions, "ssh_host" | "ssh_port">,
  hostPort: number | undefined,
): string {
  return hostPort
    ? `127.0.0.1:${hostPort} (forwarded to the guest's port ${o.ssh_port})`
    : `${o.ssh_host}:${o.ssh_port}`;
}

export const SSH_TIMEOUT_HINT =
  "Check that boot_command really starts the installation (see the screenshot), that the guest gets its config, " +
  "that it runs an SSH server on ssh_port and accepts ssh_username with the given password or key; raise ssh_timeout if it is just slow.";

export const VM_GONE_HINT = "The guest powered off or crashed before SSH came up.";

/** What to check when the machine did not stop after the shutdown. */
export function shutdownHint(o: Pick<QemuOptions, "communicator" | "shutdown_command">): string {
  if (o.communicator === "none" && !o.shutdown_command)
    return "With communicator: none the machine must power off by itself (e.g. the installer's last step, or runcmd: [poweroff] in a cloud-init seed); or raise shutdown_timeout.";
  if (o.shutdown_command)
    return "Check that shutdown_command powers the machine off (e.g. `sudo shutdown -P now`), or raise shutdown_timeout.";
  return "The guest ignores the ACPI power button (install acpid, or systemd-logind handles it); set shutdown_command instead, or raise shutdown_timeout.";
}

/** What to do about a boot command that failed to type. */
export function bootCommandHint(syntaxError: boolean): string {
  return syntaxError
    ? "Fix the boot_command syntax (keys in <…>, waits as <wait5>)."
    : "Look at the screenshot to see where the machine was.";
}
