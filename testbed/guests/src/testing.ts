/** For tests that boot guests: whether QEMU is here, and commands over SSH (the SDK's SSH communicator). */
import { generateTemporaryKeyPair, SSHCommunicator, type TemporaryKeyPair } from "@kiln/sdk";
import { defaultAddressMode } from "./default-pool.js";
import { hasTool } from "./exec.js";
import { portFree } from "./ports.js";

export const CI = process.env.CI === "true";

/** Why guests cannot boot here ("" when they can): QEMU, qemu-img and an ISO tool are needed. */
export function missingQemu(): string {
  const missing = ["qemu-system-x86_64", "qemu-img"].filter((t) => !hasTool(t));
  if (!["xorriso", "genisoimage", "mkisofs"].some(hasTool)) missing.push("xorriso|genisoimage");
  return missing.length
    ? `missing ${missing.join(", ")} (apt-get install qemu-system-x86 qemu-utils xorriso)`
    : "";
}

/** A fresh ed25519 key pair for a guest's seed. */
export const testKey = (): TemporaryKeyPair =>
  generateTemporaryKeyPair("ed25519", undefined, "kiln-guests-test");

export interface SshTarget {
  host: string;
  port: number;
  user: string;
  privateKey?: string;
  password?: string;
}

/** Runs `command` over SSH (waiting up to `timeout` for the server); resolves with exit code and output. */
export async function sshRun(
  t: SshTarget,
  command: string,
  timeout = "120s",
): Promise<{ exitCode: number | null; stdout: string; stderr: string }> {
  const c = new SSHCommunicator({
    ssh_host: t.host,
    ssh_port: t.port,
    ssh_username: t.user,
    ...(t.privateKey ? { ssh_private_key: t.privateKey } : {}),
    ...(t.password ? { ssh_password: t.password } : {}),
    ssh_timeout: timeout,
  });
  let stdout = "";
  let stderr = "";
  try {
    await c.connect();
    const r = await c.exec(command, {
      onStdout: (s) => {
        stdout += s;
      },
      onStderr: (s) => {
        stderr += s;
      },
    });
    return { exitCode: r.exitCode, stdout, stderr };
  } finally {
    await c.close();
  }
}

/**
 * Whether guests here get `port` itself on their own address (22 → 22): this process may
 * bind it (root, for ports below 1024) and nothing holds it on all addresses (a host sshd on
 * 0.0.0.0:22). Probed on 127.255.255.254 (outside the pool); when false, the runner forwards another port.
 */
export async function samePortForwards(port = 22): Promise<boolean> {
  return portFree("127.255.255.254", port);
}

/**
 * The addresses guests get here, as a RegExp source without anchors: 198.18.0.0/15 ones where
 * addresses can be added to lo (root; always under CI=true), else 127.0.0.N: defaultAddressMode's
 * answer, the runner's own choice.
 */
export function guestIp(): string {
  return defaultAddressMode() === "loopback" ? String.raw`127\.0\.0\.\d+` : String.raw`198\.1[89]\.\d+\.\d+`;
}
