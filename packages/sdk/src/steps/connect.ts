/**
 * The step that connects the communicator (SSH, or none) once the machine is up, publishes it
 * in the run's state as "communicator" and the connection facts as build.* (Host, Port, User,
 * Password, SSHPublicKey, SSHPrivateKey), and closes it in cleanup.
 */
import { readFile } from "node:fs/promises";
import { abortableSleep, KilnError, parseDuration, type Step } from "@kiln/core";
import { NoneCommunicator } from "../communicator/none.js";
import { SSHCommunicator, type SSHConfig } from "../communicator/ssh.js";
import type { CommunicatorOptions } from "../schemas.js";
import { COMMUNICATOR, SSH_ADDRESS, TEMPORARY_KEY } from "../state.js";

/** How long to wait for SSH when neither ssh_timeout nor the deprecated ssh_wait_timeout is set. */
export const DEFAULT_SSH_TIMEOUT = "5m";

export type { CommunicatorOptions };

export interface ConnectStepOptions {
  /**
   * Back-off between connection attempts (default 250 ms doubling to 5 s). A builder whose
   * target is a local forwarded port, cheap to try, caps it lower so SSH is seen sooner.
   */
  retry?: { initialMs?: number; maxMs?: number };
}

export function connectStep(options: CommunicatorOptions, how: ConnectStepOptions = {}): Step {
  let comm: { close(): Promise<void> } | undefined;
  return {
    name: "connect",
    async run(ctx) {
      if (options.communicator === "none") {
        const none = new NoneCommunicator();
        comm = none;
        ctx.state.put(COMMUNICATOR, none);
        return;
      }
      if (options.pause_before_connecting) {
        const ms = parseDuration(options.pause_before_connecting);
        ctx.ui.say(`Waiting ${options.pause_before_connecting} before connecting...`);
        await abortableSleep(ms, ctx.signal);
      }
      const target =
        ctx.state.get(SSH_ADDRESS) ??
        (options.ssh_host ? { host: options.ssh_host, port: options.ssh_port } : undefined);
      if (!target) {
        throw new KilnError("KILN_SSH_CONFIG", `[${ctx.run.type}] no address to connect to`, {
          hint: "Set ssh_host (and ssh_port).",
        });
      }
      if (!options.ssh_username) {
        throw new KilnError(
          "KILN_SSH_CONFIG",
          `[${ctx.run.type}] ssh_username is required to connect over SSH`,
          { hint: "Set ssh_username." },
        );
      }
      const generated = ctx.state.get(TEMPORARY_KEY)?.privateKey;
      if (options.ssh_password) ctx.secret(options.ssh_password);
      if (options.ssh_bastion_password) ctx.secret(options.ssh_bastion_password);
      if (options.ssh_proxy_password) ctx.secret(options.ssh_proxy_password);
      let privateKey = generated;
      if (!privateKey && options.ssh_private_key_file) {
        try {
          privateKey = await readFile(options.ssh_private_key_file, "utf8");
        } catch (cause) {
          throw new KilnError(
            "KILN_SSH_CONFIG",
            `[${ctx.run.type}] cannot read ssh_private_key_file ${options.ssh_private_key_file}`,
            {
              cause,
              hint: "Check the path and that the file is readable.",
            },
          );
        }
      }
      if (privateKey) ctx.secret(privateKey);
      const config: SSHConfig = {
        ssh_host: target.host,
        ssh_port: target.port,
        ssh_username: options.ssh_username,
        ...(options.ssh_password ? { ssh_password: options.ssh_password } : {}),
        ...(privateKey ? { ssh_private_key: privateKey } : {}),
        ...(options.ssh_agent_auth ? { ssh_agent_auth: true } : {}),
        ssh_timeout: options.ssh_timeout ?? options.ssh_wait_timeout ?? DEFAULT_SSH_TIMEOUT,
        ssh_handshake_attempts: options.ssh_handshake_attempts,
        ssh_keep_alive_interval: options.ssh_keep_alive_interval,
        ...(!options.ssh_disable_agent_forwarding && process.env.SSH_AUTH_SOCK
          ? { ssh_agent_forwarding: true }
          : {}),
        ...(options.ssh_read_write_timeout ? { ssh_read_write_timeout: options.ssh_read_write_timeout } : {}),
        ...(options.ssh_proxy_host
          ? {
              ssh_proxy_host: options.ssh_proxy_host,
              ssh_proxy_port: options.ssh_proxy_port,
              ...(options.ssh_proxy_username ? { ssh_proxy_username: options.ssh_proxy_username } : {}),
              ...(options.ssh_proxy_password ? { ssh_proxy_password: options.ssh_proxy_password } : {}),
            }
          : {}),
        ...(options.ssh_ciphers?.length ? { ssh_ciphers: options.ssh_ciphers } : {}),
        ...(options.ssh_key_exchange_algorithms?.length
          ? { ssh_key_exchange_algorithms: options.ssh_key_exchange_algorithms }
          : {}),
        ...(options.ssh_local_tunnels?.length ? { ssh_local_tunnels: options.ssh_local_tunnels } : {}),
        ...(options.ssh_remote_tunnels?.length ? { ssh_remote_tunnels: options.ssh_remote_tunnels } : {}),
        ...(options.ssh_pty ? { ssh_pty: true } : {}),
        ...(options.ssh_bastion_host
          ? {
              ssh_bastion_host: options.ssh_bastion_host,
              ssh_bastion_port: options.ssh_bastion_port,
              ...(options.ssh_bastion_username ? { ssh_bastion_username: options.ssh_bastion_username } : {}),
              ...(options.ssh_bastion_password ? { ssh_bastion_password: options.ssh_bastion_password } : {}),
              ...(options.ssh_bastion_private_key_file
                ? { ssh_bastion_private_key_file: options.ssh_bastion_private_key_file }
                : {}),
              ...(options.ssh_bastion_agent_auth ? { ssh_bastion_agent_auth: true } : {}),
            }
          : {}),
        log: (line) => ctx.ui.message(line),
        ...(how.retry ? { retry: how.retry } : {}),
      };
      ctx.ui.say(
        `Waiting for SSH on ${target.host}:${target.port} (timeout ${String(config.ssh_timeout)})...`,
      );
      const ssh = new SSHCommunicator(config);
      comm = ssh;
      await ssh.connect(ctx.signal);
      ctx.ui.say("Connected to SSH.");
      Object.assign(ctx.buildVars, {
        Host: target.host,
        Port: target.port,
        User: options.ssh_username,
        Password: options.ssh_password ?? "",
        SSHPrivateKey: privateKey ?? "",
      });
      ctx.state.put(COMMUNICATOR, ssh);
    },
    async cleanup(ctx) {
      ctx.state.delete(COMMUNICATOR);
      await comm?.close();
      comm = undefined;
    },
  };
}
