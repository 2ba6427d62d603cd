/**
 * JSON Schema fragments for options that many builders share, named as in Packer so templates
 * carry over: the SSH communicator, the HTTP server for install configs, the boot command,
 * shutdown and output. A builder spreads the ones it supports into its own schema.
 */
export type JsonSchema = Record<string, unknown>;

export const DURATION: JsonSchema = {
  type: "string",
  pattern: "^([0-9]+(\\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$|^0$",
};
const duration = (description: string): JsonSchema => ({
  ...DURATION,
  description: `${description} A duration such as 30s or 5m.`,
});
const str = (description: string): JsonSchema => ({ type: "string", description });
const bool = (description: string): JsonSchema => ({ type: "boolean", description });
const port = (description: string): JsonSchema => ({
  type: "integer",
  minimum: 1,
  maximum: 65535,
  description,
});

export const COMMUNICATOR_OPTIONS: Record<string, JsonSchema> = {
  communicator: {
    enum: ["ssh", "none"],
    description: "How kiln reaches the machine to provision it. Default: ssh.",
  },
  pause_before_connecting: duration("Wait this long after the machine is up before connecting."),
};

export const SSH_OPTIONS: Record<string, JsonSchema> = {
  ssh_host: str("Address to connect to. Default: what the builder discovers."),
  ssh_port: port("SSH port on the machine. Default: 22."),
  ssh_username: str("User to log in as."),
  ssh_password: str("Password for ssh_username (redacted from all output)."),
  ssh_private_key_file: str("Private key file to log in with."),
  ssh_agent_auth: bool("Authenticate with the keys of the running ssh-agent (SSH_AUTH_SOCK)."),
  ssh_timeout: duration("How long to wait for SSH to become available. Default: 5m."),
  ssh_handshake_attempts: {
    type: "integer",
    minimum: 1,
    description: "Authentication attempts before giving up. Default: 10.",
  },
  ssh_keep_alive_interval: duration("Send keep-alives this often; 0 disables them. Default: 5s."),
  ssh_read_write_timeout: duration("Fail a connection that is silent this long; 0 waits forever."),
  ssh_disable_agent_forwarding: bool("Do not forward the local ssh-agent."),
  ssh_clear_authorized_keys: bool("Remove the temporary public key from the machine before it is saved."),
  ssh_bastion_host: str("Connect through this bastion (jump) host."),
  ssh_bastion_port: port("Bastion SSH port. Default: 22."),
  ssh_bastion_username: str("User on the bastion host."),
  ssh_bastion_password: str("Password on the bastion host."),
  ssh_bastion_private_key_file: str("Private key for the bastion host."),
  ssh_bastion_agent_auth: bool("Use ssh-agent for the bastion host."),
  temporary_key_pair_type: {
    enum: ["ed25519", "rsa"],
    description: "Type of the generated key pair. Default: ed25519.",
  },
  temporary_key_pair_bits: { type: "integer", minimum: 3072, description: "RSA key size (at least 3072)." },
};

export const HTTP_OPTIONS: Record<string, JsonSchema> = {
  http_directory: str(
    "Serve this folder over HTTP during the build (kickstart, preseed, autoinstall, cloud-init).",
  ),
  http_content: {
    type: "object",
    additionalProperties: { type: "string" },
    description: "Serve these contents at these paths, e.g. { /user-data: ..., /meta-data: ... }.",
  },
  http_port_min: port("Lowest port for the HTTP server. Default: 8000."),
  http_port_max: port("Highest port for the HTTP server. Default: 9000."),
  http_bind_address: str("Address the HTTP server listens on. Default: 0.0.0.0."),
};

export const BOOT_OPTIONS: Record<string, JsonSchema> = {
  boot_wait: duration("Wait this long after the machine starts before typing boot_command. Default: 10s."),
  boot_command: {
    type: "array",
    items: { type: "string" },
    description: "Keys to type at boot, in Packer's syntax: text, <enter>, <esc>, <wait5>, <leftCtrlOn> …",
  },
  boot_key_interval: duration("Pause between typed keys."),
};

export const SHUTDOWN_OPTIONS: Record<string, JsonSchema> = {
  shutdown_command: str("Command that shuts the machine down. Default: an ACPI power-button press."),
  shutdown_timeout: duration("How long to wait for the machine to stop. Default: 5m."),
};

export const CD_OPTIONS: Record<string, JsonSchema> = {
  cd_files: {
    type: "array",
    items: { type: "string" },
    description: "Files and folders to put on a CD attached at boot.",
  },
  cd_content: {
    type: "object",
    additionalProperties: { type: "string" },
    description: "Files to put on the CD: path on the CD → contents.",
  },
  cd_label: str("Volume label of the CD, e.g. cidata for a cloud-init NoCloud seed."),
};

/** An object schema from option fragments, unknown keys refused. */
export function objectSchema(
  properties: Record<string, JsonSchema>,
  extra: { required?: string[]; description?: string } = {},
): JsonSchema {
  return {
    type: "object",
    additionalProperties: false,
    ...(extra.description ? { description: extra.description } : {}),
    ...(extra.required?.length ? { required: extra.required } : {}),
    properties,
  };
}
