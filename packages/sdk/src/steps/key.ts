/**
 * The step that makes a temporary SSH key pair when the source gives no password, key file or
 * agent: the private key is registered as a secret, the public key is `${{ build.SSHPublicKey }}`
 * (for cloud-init seeds, kickstart files, Proxmox sshkeys …).
 */

import { readFile } from "node:fs/promises";
import { resolve } from "node:path";
import { messageOf, type Step } from "@kiln/core";
import { generateTemporaryKeyPair, publicKeyOf } from "../communicator/keys.js";
import type { CommunicatorOptions } from "../schemas.js";
import { TEMPORARY_KEY } from "../state.js";

export type TemporaryKeyOptions = CommunicatorOptions;

/** Whether the source needs a generated key: SSH without password, key file or agent. */
export function needsTemporaryKey(o: TemporaryKeyOptions): boolean {
  return o.communicator === "ssh" && !o.ssh_password && !o.ssh_private_key_file && !o.ssh_agent_auth;
}

export function temporaryKeyStep(o: TemporaryKeyOptions): Step {
  return {
    name: "ssh key",
    async run(ctx) {
      if (!needsTemporaryKey(o)) {
        // As Packer: with ssh_private_key_file, build.SSHPublicKey is its public half (for seeds).
        if (o.communicator === "ssh" && o.ssh_private_key_file && !ctx.buildVars.SSHPublicKey) {
          try {
            ctx.buildVars.SSHPublicKey = publicKeyOf(
              await readFile(resolve(ctx.baseDir, o.ssh_private_key_file)),
            );
          } catch (e) {
            ctx.ui.message(`build.SSHPublicKey stays empty: ssh_private_key_file: ${messageOf(e)}`);
          }
        }
        ctx.buildVars.SSHPublicKey = ctx.buildVars.SSHPublicKey ?? "";
        return;
      }
      const type = o.temporary_key_pair_type;
      const key = generateTemporaryKeyPair(
        type,
        type === "rsa" ? (o.temporary_key_pair_bits ?? 3072) : undefined,
      );
      ctx.secret(key.privateKey);
      ctx.buildVars.SSHPublicKey = key.publicKey;
      ctx.state.put(TEMPORARY_KEY, key);
      ctx.ui.say(`Created a temporary ${type} key pair for SSH (${key.fingerprint}).`);
    },
    async cleanup(ctx) {
      ctx.state.delete(TEMPORARY_KEY);
    },
  };
}
