/**
 * What ansible-playbook is given, as pure functions: its arguments, its environment, the extra
 * variables document and the values to treat as secrets. The provisioners only run what these say.
 */
import { join } from "node:path";
import type { BuildVars } from "@kiln/core";
import { ansibleError, CODES, type Component } from "./errors.js";
import type { AnsibleVersion } from "./version.js";

/** POSIX single-quote a word (for ssh argument strings, which ansible splits like a shell). */
export function quote(s: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

/** Does an argument list set this variable (`-e name=…`, `name=…` inside a list of vars)? As Packer checks. */
export function mentions(name: string, args: string[]): boolean {
  return args.some((a) => a.split(/[=\s]/).includes(name));
}

export interface PlaybookArgs {
  playbook: string;
  inventory: string;
  /** The private extra-vars file (`-e @file`). */
  varsFile: string;
  /** The key ansible logs in with (the run's key for the proxy, the builder's without). */
  privateKeyFile?: string | undefined;
  sshExtraArgs: string[];
  /** ssh options kiln needs (the endpoint's known_hosts), as --ssh-common-args. */
  sshCommonArgs: string[];
  extraArguments: string[];
}

/**
 * ansible-playbook's arguments, in Packer's order: the build's variables, --ssh-extra-args
 * (when ansible logs in with a key), extra_arguments, the private key as a variable (higher
 * precedence than --private-key), then `-i inventory playbook` last.
 */
export function playbookArgs(a: PlaybookArgs): string[] {
  const args = ["-e", `@${a.varsFile}`];
  if (a.privateKeyFile && a.sshExtraArgs.length > 0)
    args.push("--ssh-extra-args", a.sshExtraArgs.map(quote).join(" "));
  if (a.sshCommonArgs.length > 0) args.push("--ssh-common-args", a.sshCommonArgs.map(quote).join(" "));
  args.push(...a.extraArguments);
  if (a.privateKeyFile && !mentions("ansible_password", a.extraArguments))
    args.push("-e", `ansible_ssh_private_key_file=${a.privateKeyFile}`);
  args.push("-i", a.inventory, a.playbook);
  return args;
}

/** ansible-galaxy's argument lists for a requirements file: roles, then collections (as Packer). */
export function galaxyArgs(o: {
  file: string;
  text: string;
  force?: boolean | undefined;
  forceWithDeps?: boolean | undefined;
  rolesPath?: string | undefined;
  collectionsPath?: string | undefined;
}): string[][] {
  const force = [...(o.force ? ["-f"] : []), ...(o.forceWithDeps ? ["--force-with-deps"] : [])];
  const hasRoles = /^roles:/m.test(o.text);
  const hasCollections = /^collections:/m.test(o.text);
  const out: string[][] = [];
  // A v1 file (a bare list) holds roles only.
  if (hasRoles || !hasCollections)
    out.push(["install", "-r", o.file, ...force, ...(o.rolesPath ? ["-p", o.rolesPath] : [])]);
  if (hasCollections)
    out.push([
      "collection",
      "install",
      "-r",
      o.file,
      ...force,
      ...(o.collectionsPath ? ["-p", o.collectionsPath] : []),
    ]);
  return out;
}

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** NAME=value strings as a map; a malformed entry is an options error naming the option. */
export function envList(type: Component, option: string, list: string[] | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const kv of list ?? []) {
    const i = kv.indexOf("=");
    const name = i < 0 ? kv : kv.slice(0, i);
    if (i <= 0 || !ENV_NAME.test(name)) {
      throw ansibleError(type, CODES.options, `${option}: "${name}" is not in the form NAME=value`, {
        hint: "Write each entry as NAME=value, NAME made of letters, digits and _.",
      });
    }
    out[name] = kv.slice(i + 1);
  }
  return out;
}

/** How files move: ansible's piped transfer (dd) unless use_sftp; scp for an ansible too old to pipe. */
export function transferEnv(useSftp: boolean, version: AnsibleVersion | undefined): Record<string, string> {
  const canPipe = !version || version.major > 2 || (version.major === 2 && version.minor >= 12);
  if (canPipe) return { ANSIBLE_SSH_TRANSFER_METHOD: useSftp ? "sftp" : "piped" };
  return { ANSIBLE_SCP_IF_SSH: useSftp ? "False" : "True" };
}

/**
 * ansible's environment: kiln's process environment, then what keeps the run self-contained
 * (ansible's local temporary files and ssh control sockets in the run's private folder, so
 * nothing is left in ~/.ansible; on the machine, a folder of the run's in /tmp that kiln removes),
 * the transfer method, then ansible_env_vars, which win.
 */
export function ansibleEnv(o: {
  base: NodeJS.ProcessEnv;
  tempDir: string;
  /** Where ssh's control sockets go (a short path: see controlDirFor). */
  controlDir: string;
  /** ansible's temporary folder on the machine (instead of ~/.ansible/tmp, which would stay in the image). */
  remoteTemp?: string | undefined;
  transfer: Record<string, string>;
  user: Record<string, string>;
}): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(o.base)) if (v !== undefined) env[k] = v;
  Object.assign(env, {
    ANSIBLE_LOCAL_TEMP: join(o.tempDir, "tmp"),
    ...(o.remoteTemp ? { ANSIBLE_REMOTE_TEMP: o.remoteTemp } : {}),
    ANSIBLE_SSH_CONTROL_PATH_DIR: o.controlDir,
    ANSIBLE_RETRY_FILES_ENABLED: "False",
    PYTHONUNBUFFERED: "1",
    ...o.transfer,
    ...o.user,
  });
  return env;
}

/**
 * A Unix socket's path holds at most 107 bytes, and ssh makes its control socket as
 * `<dir>/<10-character hash>.<17 random characters>` (37 bytes under the folder's own path and
 * more), so the run's folder serves only while it is short; a long TMPDIR (macOS's, a deep CI
 * workspace) gets a folder under /tmp of its own instead (undefined: use `<run folder>/cp`).
 */
export function controlDirFor(runDir: string): string | undefined {
  return Buffer.byteLength(join(runDir, "cp")) <= 64 ? undefined : "/tmp";
}

/** Packer's variables for a playbook: packer_build_name, packer_builder_type, packer_http_addr. */
export function packerVars(run: { source: string; type: string }, build: BuildVars): Record<string, string> {
  const vars: Record<string, string> = { packer_build_name: run.source, packer_builder_type: run.type };
  const addr = build.PackerHTTPAddr;
  if (typeof addr === "string" && addr !== "") vars.packer_http_addr = addr;
  return vars;
}

/** The extra-vars document: Packer's variables, extra_vars, then the become password. */
export function extraVarsDocument(
  packer: Record<string, string>,
  extra: Record<string, unknown> | undefined,
  becomePassword: string | undefined,
): Record<string, unknown> {
  return {
    ...packer,
    ...(extra ?? {}),
    ...(becomePassword !== undefined ? { ansible_become_password: becomePassword } : {}),
  };
}

/**
 * Values to register as secrets: those of `key=value` arguments whose key says password or secret
 * (Packer hides them from its command line; kiln redacts them everywhere), and the string leaves
 * of extra_vars under such keys.
 */
export function secretValues(
  extraArguments: string[],
  extraVars: Record<string, unknown> | undefined,
): string[] {
  const secretKey = (k: string) => /password|secret/i.test(k);
  const out: string[] = [];
  for (const arg of extraArguments) {
    for (const word of arg.split(/\s+/)) {
      // --extra-vars=name=value: the variable starts after the option
      const part = word.startsWith("-") && word.includes("=") ? word.slice(word.indexOf("=") + 1) : word;
      const i = part.indexOf("=");
      if (i > 0 && secretKey(part.slice(0, i)) && part.length > i + 1) out.push(part.slice(i + 1));
    }
  }
  const walk = (v: unknown, hot: boolean) => {
    if (typeof v === "string" && hot && v !== "") out.push(v);
    else if (Array.isArray(v)) for (const x of v) walk(x, hot);
    else if (v && typeof v === "object")
      for (const [k, x] of Object.entries(v as Record<string, unknown>)) walk(x, hot || secretKey(k));
  };
  walk(extraVars ?? {}, false);
  return out;
}
