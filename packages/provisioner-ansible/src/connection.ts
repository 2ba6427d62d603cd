/**
 * How ansible reaches the machine for one run, written into the run's private folder (0700):
 *
 * - use_proxy (default): kiln's local SSH endpoint (relay.ts) on 127.0.0.1, a key pair made for
 *   the run (its private half in `id_ansible`, 0600) and the endpoint's host key in a
 *   `known_hosts` of its own, so ssh checks it strictly and writes nothing to ~/.ssh.
 * - use_proxy: false: the machine's address and port (build.Host / build.Port), the builder's
 *   user and private key (build.SSHPrivateKey, written to `id_builder`, 0600); its host key is
 *   not known in advance, so ssh is told not to check or record it.
 */
import { writeFile } from "node:fs/promises";
import { userInfo } from "node:os";
import { join } from "node:path";
import { type ProvisionContext, throwIfAborted } from "@kiln/core";
import { generateTemporaryKeyPair } from "@kiln/sdk";
import { ansibleError, CODES, wrapError } from "./errors.js";
import { type Relay, startRelay } from "./relay.js";
import type { AnsibleOptions } from "./schema.js";

/** Finds the machine's sftp-server where distributions put it, as sftp_command's default. */
export const DEFAULT_SFTP_COMMAND =
  'sh -c \'for p in /usr/lib/openssh/sftp-server /usr/libexec/openssh/sftp-server /usr/lib/ssh/sftp-server /usr/libexec/sftp-server /usr/lib/sftp-server; do [ -x "$p" ] && exec "$p" -e; done; echo "kiln: no sftp-server on this machine; set sftp_command" >&2; exit 127\'';

export interface Connection {
  host: string;
  port: number;
  user: string;
  privateKeyFile: string;
  /** ssh options for every ssh ansible starts (--ssh-common-args). */
  sshCommonArgs: string[];
  relay?: Relay;
  close(): Promise<void>;
}

function currentUser(): string {
  try {
    return userInfo().username;
  } catch {
    return process.env.USER ?? "kiln";
  }
}

function builderUser(ctx: ProvisionContext<AnsibleOptions>): string | undefined {
  const u = ctx.buildVars.User;
  return typeof u === "string" && u !== "" ? u : undefined;
}

export async function openConnection(
  ctx: ProvisionContext<AnsibleOptions>,
  dir: string,
  /** Where the relayed commands' process groups are recorded on the machine (see relay.ts). */
  pidPrefix: string,
): Promise<Connection> {
  const o = ctx.options;
  if (!o.use_proxy) {
    const b = ctx.buildVars;
    const host = typeof b.Host === "string" ? b.Host : "";
    const key = typeof b.SSHPrivateKey === "string" ? b.SSHPrivateKey : "";
    if (!host || !key) {
      throw ansibleError(
        "ansible",
        CODES.options,
        `use_proxy: false needs the machine's address and the builder's SSH key, and this build has ${host ? "no private key (a password login?)" : "no address"}`,
        { hint: "Leave use_proxy at its default (true): ansible then goes through kiln's own connection." },
      );
    }
    ctx.secret(key);
    const privateKeyFile = join(dir, "id_builder");
    await writeFile(privateKeyFile, key.endsWith("\n") ? key : `${key}\n`, { mode: 0o600 });
    ctx.ui.message("Not using the local SSH endpoint: ansible connects to the machine itself.");
    return {
      host,
      port: Number(b.Port ?? 22),
      user: o.user ?? builderUser(ctx) ?? currentUser(),
      privateKeyFile,
      sshCommonArgs: ["-oStrictHostKeyChecking=no", "-oUserKnownHostsFile=/dev/null"],
      close: async () => {},
    };
  }

  // the endpoint is only as good as kiln's connection: a machine without one (communicator:
  // none) is said at once, not as ansible's "unreachable" later
  try {
    await ctx.communicator.exec("true", { signal: ctx.signal, timeoutMs: 120_000 });
  } catch (err) {
    throwIfAborted(ctx.signal, "ansible");
    throw wrapError("ansible", "the machine does not take commands over kiln's connection", err);
  }
  const client = generateTemporaryKeyPair("ed25519", undefined, "kiln-ansible");
  const host = generateTemporaryKeyPair("ed25519", undefined, "kiln-ansible-endpoint");
  ctx.secret(client.privateKey);
  ctx.secret(host.privateKey);
  // ansible believes it logs in as this user (its become logic and ansible_user depend on it),
  // so the communicator's user is the default, not Packer's "the user running packer"
  const user = o.user ?? builderUser(ctx) ?? currentUser();
  const privateKeyFile = join(dir, "id_ansible");
  await writeFile(privateKeyFile, client.privateKey, { mode: 0o600 });
  ctx.ui.message("Setting up the local SSH endpoint for ansible...");
  let relay: Relay;
  try {
    relay = await startRelay({
      comm: ctx.communicator,
      user,
      authorizedKey: client.publicKey,
      hostKey: host.privateKey,
      localPort: o.local_port,
      sftpCommand: o.sftp_command ?? DEFAULT_SFTP_COMMAND,
      pidPrefix,
      ui: ctx.ui,
    });
  } catch (err) {
    throw ansibleError("ansible", CODES.failed, (err as Error).message, {
      hint: "Set local_port to a free port, or leave it unset.",
      cause: err,
    });
  }
  const knownHosts = join(dir, "known_hosts");
  const [keyType, keyData] = host.publicKey.split(/\s+/);
  await writeFile(knownHosts, `[127.0.0.1]:${relay.port} ${keyType} ${keyData}\n`, { mode: 0o600 });
  return {
    host: "127.0.0.1",
    port: relay.port,
    user,
    privateKeyFile,
    sshCommonArgs: [
      `-oUserKnownHostsFile=${knownHosts}`,
      "-oGlobalKnownHostsFile=/dev/null",
      "-oStrictHostKeyChecking=yes",
    ],
    relay,
    close: () => relay.close(),
  };
}
