/**
 * Option fragments that many builders share, named as in Packer so templates carry over: the
 * communicator and SSH, the HTTP server for install configs, the boot command, shutdown and the
 * CD. A builder spreads the ones it supports into its own `options({...})`; each fragment's
 * type is `OptionsOf<typeof FRAGMENT>`, so a step that takes a fragment's options and the
 * builder that declares them cannot drift apart.
 */

import { DEFAULT_FLOPPY_LABEL } from "./floppy/make.js";
import {
  bool,
  DURATION_PATTERN,
  duration,
  int,
  type OptionsOf,
  oneOf,
  port,
  str,
  strList,
  strMap,
  withDefault,
} from "./options/schema.js";

export type JsonSchema = Record<string, unknown>;

/** A duration value schema (for options that builders declare themselves). */
export const DURATION: JsonSchema = { type: "string", pattern: DURATION_PATTERN };

export const COMMUNICATOR_OPTIONS = {
  communicator: withDefault(
    oneOf(
      ["ssh", "none", "winrm"],
      "How kiln reaches the machine to provision it. winrm is Packer's name for Windows Remote Management, which kiln does not speak yet (validate says so).",
    ),
    "ssh",
  ),
  pause_before_connecting: duration("Wait this long after the machine is up before connecting."),
  // Packer's WinRM options, so templates that set them get "not supported yet" at their place.
  winrm_username: str("WinRM is not supported yet: use communicator: ssh."),
  winrm_password: str("WinRM is not supported yet: use communicator: ssh."),
  winrm_host: str("WinRM is not supported yet: use communicator: ssh."),
  winrm_port: port("WinRM is not supported yet: use communicator: ssh."),
  winrm_timeout: duration("WinRM is not supported yet: use communicator: ssh."),
  winrm_use_ssl: bool("WinRM is not supported yet: use communicator: ssh."),
  winrm_insecure: bool("WinRM is not supported yet: use communicator: ssh."),
  winrm_use_ntlm: bool("WinRM is not supported yet: use communicator: ssh."),
  winrm_no_proxy: bool("WinRM is not supported yet: use communicator: ssh."),
};

export const SSH_OPTIONS = {
  ssh_host: str("Address to connect to. Default: what the builder discovers."),
  ssh_port: withDefault(port("SSH port on the machine."), 22),
  ssh_username: str("User to log in as."),
  ssh_password: str("Password for ssh_username (redacted from all output)."),
  ssh_private_key_file: str("Private key file to log in with."),
  ssh_agent_auth: bool("Authenticate with the keys of the running ssh-agent (SSH_AUTH_SOCK)."),
  // No schema default: the deprecated ssh_wait_timeout may stand in for it (connect.ts).
  ssh_timeout: duration("How long to wait for SSH to become available. Default: 5m."),
  ssh_wait_timeout: duration("Deprecated Packer name for ssh_timeout."),
  ssh_handshake_attempts: withDefault(int("Authentication attempts before giving up.", { minimum: 1 }), 10),
  ssh_keep_alive_interval: withDefault(duration("Send keep-alives this often; 0 disables them."), "5s"),
  ssh_read_write_timeout: duration("Fail a connection that is silent this long; 0 waits forever."),
  ssh_disable_agent_forwarding: bool(
    "Do not forward the local ssh-agent (SSH_AUTH_SOCK) to the machine; by default it is forwarded when one runs.",
  ),
  ssh_clear_authorized_keys: bool("Remove the temporary public key from the machine before it is saved."),
  ssh_bastion_host: str("Connect through this bastion (jump) host."),
  ssh_bastion_port: withDefault(port("Bastion SSH port."), 22),
  ssh_bastion_username: str("User on the bastion host."),
  ssh_bastion_password: str("Password on the bastion host."),
  ssh_bastion_private_key_file: str("Private key for the bastion host."),
  ssh_bastion_agent_auth: bool("Use ssh-agent for the bastion host."),
  ssh_proxy_host: str("Connect through this SOCKS5 proxy."),
  ssh_proxy_port: withDefault(port("The SOCKS5 proxy's port."), 1080),
  ssh_proxy_username: str("User on the SOCKS5 proxy."),
  ssh_proxy_password: str("Password on the SOCKS5 proxy (redacted from all output)."),
  ssh_ciphers: strList(
    "The ciphers to offer, in order of preference (e.g. aes128-gcm@openssh.com); default: the SSH library's list.",
  ),
  ssh_key_exchange_algorithms: strList(
    "The key exchange algorithms to offer (e.g. curve25519-sha256); default: the SSH library's list.",
  ),
  ssh_certificate_file: str(
    "An OpenSSH user certificate for ssh_private_key_file (not supported yet; validate says so).",
  ),
  ssh_local_tunnels: strList(
    'Forward local ports to the machine\'s side while the build runs: "[bind_address:]port:host:hostport", as ssh -L.',
  ),
  ssh_remote_tunnels: strList(
    'Forward ports on the machine back to this side while the build runs: "[bind_address:]port:host:hostport", as ssh -R.',
  ),
  ssh_pty: bool("Run commands in a pseudo-terminal (sudo with requiretty needs one)."),
  ssh_keypair_name: str(
    "Packer's name of a key pair the platform knows; for builders without key pairs it only labels ssh_private_key_file.",
  ),

  temporary_key_pair_type: withDefault(
    oneOf(["ed25519", "rsa"], "Type of the generated key pair."),
    "ed25519",
  ),
  temporary_key_pair_bits: int("RSA key size (at least 3072).", { minimum: 3072 }),
};

export const HTTP_OPTIONS = {
  http_directory: str(
    "Serve this folder over HTTP during the build (kickstart, preseed, autoinstall, cloud-init).",
  ),
  http_content: strMap("Serve these contents at these paths, e.g. { /user-data: ..., /meta-data: ... }."),
  http_port_min: withDefault(port("Lowest port for the HTTP server."), 8000),
  http_port_max: withDefault(port("Highest port for the HTTP server."), 9000),
  // No schema default: builders tell "not set" from 0.0.0.0 (proxmox's http_interface).
  http_bind_address: str("Address the HTTP server listens on. Default: 0.0.0.0."),
};

export const BOOT_OPTIONS = {
  boot_wait: withDefault(
    duration("Wait this long after the machine starts before typing boot_command; 0 types at once."),
    "10s",
  ),
  boot_command: strList(
    "Keys to type at boot, in Packer's syntax: text, <enter>, <esc>, <wait5>, <leftCtrlOn> …",
  ),
  boot_key_interval: duration("Pause between typed keys. Default: as fast as the machine takes them."),
};

export const SHUTDOWN_OPTIONS = {
  shutdown_command: str("Command that shuts the machine down. Default: an ACPI power-button press."),
  shutdown_timeout: withDefault(duration("How long to wait for the machine to stop."), "5m"),
};

export const CD_OPTIONS = {
  cd_files: strList("Files and folders to put on a CD attached at boot."),
  cd_content: strMap("Files to put on the CD: path on the CD → contents."),
  cd_label: str("Volume label of the CD, e.g. cidata for a cloud-init NoCloud seed."),
};

export const FLOPPY_OPTIONS = {
  floppy_files: strList(
    "Files to put in the root of a 1.44 MB floppy (e.g. Autounattend.xml); a directory adds all the files below it, flattened; globs (*, ?, […]) allowed. Relative to the build file.",
  ),
  floppy_dirs: strList("Directories (or globs) to put on the floppy with their tree, e.g. drivers."),
  floppy_content: strMap(
    "Files to create on the floppy: path → text (expressions allowed). Wins over floppy_files/floppy_dirs at the same path.",
  ),
  floppy_label: withDefault(
    str("FAT volume label of the floppy.", { minLength: 1, maxLength: 11 }),
    DEFAULT_FLOPPY_LABEL,
  ),
};

export type FloppyOptions = OptionsOf<typeof FLOPPY_OPTIONS>;
export type CommunicatorOptions = OptionsOf<typeof COMMUNICATOR_OPTIONS & typeof SSH_OPTIONS>;
export type HttpOptions = OptionsOf<typeof HTTP_OPTIONS>;
export type BootOptions = OptionsOf<typeof BOOT_OPTIONS>;
export type ShutdownOptions = OptionsOf<typeof SHUTDOWN_OPTIONS>;
export type CdOptions = OptionsOf<typeof CD_OPTIONS>;
