/**
 * The checks of the shared option fragments (communicator and SSH, HTTP, CD, floppy, boot
 * command, shutdown), for every builder's `check`: each option that a fragment holds is looked
 * at only when the builder declares it.
 */

import { createRequire } from "node:module";
import type { CheckContext, ConfigProblem } from "@kiln/core";
import { parseTunnel } from "../communicator/ssh/tunnels.js";
import { checkFloppyLabel } from "../floppy/make.js";
import type { BootCommandOptions } from "../steps/boot-command.js";
import { bootCommandProblems } from "./boot.js";
import { pathListProblems, pathProblem } from "./files.js";
import { caught, durationProblem, problem } from "./problem.js";

const DURATIONS = [
  "boot_wait",
  "boot_key_interval",
  "shutdown_timeout",
  "ssh_timeout",
  "ssh_wait_timeout",
  "ssh_keep_alive_interval",
  "ssh_read_write_timeout",
  "pause_before_connecting",
];

/** What the SSH library speaks (ssh2's own lists; none known means no check). */
const SUPPORTED = ((): { cipher: string[]; kex: string[] } => {
  try {
    const c = createRequire(import.meta.url)("ssh2/lib/protocol/constants.js") as {
      SUPPORTED_CIPHER?: string[];
      SUPPORTED_KEX?: string[];
    };
    return { cipher: c.SUPPORTED_CIPHER ?? [], kex: c.SUPPORTED_KEX ?? [] };
  } catch {
    return { cipher: [], kex: [] };
  }
})();

/** Packer's WinRM options: accepted by the schema so each is reported at its place. */
const WINRM_OPTIONS = [
  "winrm_username",
  "winrm_password",
  "winrm_host",
  "winrm_port",
  "winrm_timeout",
  "winrm_use_ssl",
  "winrm_insecure",
  "winrm_use_ntlm",
  "winrm_no_proxy",
] as const;

const WINRM_HINT =
  "kiln speaks SSH only for now: install OpenSSH on the guest (Windows ships it) and use communicator: ssh, or communicator: none.";

/** Problems of the fragment options present in `o`. */
export function commonProblems(
  o: Record<string, unknown>,
  ctx: Pick<CheckContext, "baseDir">,
): ConfigProblem[] {
  const out: ConfigProblem[] = [];
  for (const d of DURATIONS) if (d in o) out.push(...durationProblem(d, o[d]));
  if ("boot_command" in o || "boot_steps" in o) out.push(...bootCommandProblems(o as BootCommandOptions));
  out.push(...pathProblem(ctx, ["http_directory"], o.http_directory, "directory"));
  out.push(...pathListProblems(ctx, "cd_files", o.cd_files, "any"));
  out.push(...pathListProblems(ctx, "floppy_files", o.floppy_files, "any"));
  out.push(...pathListProblems(ctx, "floppy_dirs", o.floppy_dirs, "directory"));
  out.push(...pathProblem(ctx, ["ssh_private_key_file"], o.ssh_private_key_file, "file"));
  out.push(...pathProblem(ctx, ["ssh_bastion_private_key_file"], o.ssh_bastion_private_key_file, "file"));
  if (typeof o.ssh_certificate_file === "string")
    out.push(
      problem(
        "ssh_certificate_file",
        "ssh_certificate_file: OpenSSH user certificates are not supported yet",
        "Log in with the key itself (ssh_private_key_file, with its public key in the machine's authorized_keys).",
      ),
    );
  for (const option of ["ssh_local_tunnels", "ssh_remote_tunnels"]) {
    const list = o[option];
    if (!Array.isArray(list)) continue;
    list.forEach((spec, i) => {
      if (typeof spec === "string")
        out.push(
          ...caught(undefined, () => parseTunnel(spec, option)).map((p) => ({ ...p, option: [option, i] })),
        );
    });
  }
  for (const [option, known] of [
    ["ssh_ciphers", SUPPORTED.cipher],
    ["ssh_key_exchange_algorithms", SUPPORTED.kex],
  ] as const) {
    const list = o[option];
    if (!Array.isArray(list)) continue;
    list.forEach((name, i) => {
      if (typeof name === "string" && known.length > 0 && !known.includes(name))
        out.push(
          problem(
            [option, i],
            `${option}[${i}]: "${name}" is not an algorithm kiln's SSH client speaks`,
            `Supported: ${known.join(", ")}.`,
          ),
        );
    });
  }
  if (typeof o.ssh_keypair_name === "string" && !o.ssh_private_key_file && !o.ssh_agent_auth)
    out.push(
      problem(
        "ssh_keypair_name",
        "ssh_keypair_name names a key pair the platform holds; this builder has no key pairs: kiln needs the private key",
        "Set ssh_private_key_file to the key pair's private key (or ssh_agent_auth: true).",
      ),
    );
  if (typeof o.floppy_label === "string")
    out.push(...caught("floppy_label", () => checkFloppyLabel(o.floppy_label as string)));
  if (o.communicator === "winrm")
    out.push(problem("communicator", "communicator: winrm is not supported yet", WINRM_HINT));
  for (const k of WINRM_OPTIONS)
    if (o[k] !== undefined)
      out.push(problem(k, `${k}: the WinRM communicator is not supported yet`, WINRM_HINT));
  if (
    typeof o.http_port_min === "number" &&
    typeof o.http_port_max === "number" &&
    o.http_port_min > o.http_port_max
  )
    out.push(
      problem(
        "http_port_min",
        "http_port_min is greater than http_port_max",
        "Set http_port_min ≤ http_port_max.",
      ),
    );
  return out;
}
