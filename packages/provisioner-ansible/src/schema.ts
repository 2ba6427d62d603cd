/** The options of ansible and ansible-local, declared once (Packer's names and meanings). */
import { bool, type OptionsOf, options, required, str, strList, Type, withDefault } from "@kiln/sdk";

/** kiln's addition: typed variables, no quoting. */
const extraVars = Type.Optional(
  Type.Record(Type.String({ pattern: "^[A-Za-z_][A-Za-z0-9_]*$" }), Type.Unknown(), {
    additionalProperties: false,
    description:
      "Variables for the playbook, by name (strings, numbers, booleans, lists, maps as they are: no quoting). Written to a private file passed as --extra-vars @file, never on the command line; values from sensitive variables stay redacted in the output.",
  }),
);

const galaxy = {
  galaxy_file: str(
    "A requirements file: its roles and collections are installed with ansible-galaxy before the playbook runs.",
  ),
  galaxy_command: withDefault(str("The ansible-galaxy command."), "ansible-galaxy"),
  galaxy_force_install: bool(
    "Reinstall roles and collections that are already there (ansible-galaxy --force).",
  ),
  galaxy_force_with_deps: bool("Reinstall them and their dependencies (ansible-galaxy --force-with-deps)."),
};

export const ansibleSchema = options({
  playbook_file: required(str("The playbook to run (relative to the build file's folder).")),
  command: withDefault(
    str("The ansible-playbook program: a name on PATH or a path (an executable, not a shell line)."),
    "ansible-playbook",
  ),
  extra_arguments: strList(
    "More arguments for ansible-playbook, passed as they are (no shell, no quoting). A value written key=value whose key contains password or secret is redacted in the output.",
  ),
  ansible_env_vars: strList(
    "Environment variables for ansible, NAME=value; they win over the ones kiln sets (e.g. ANSIBLE_SSH_TRANSFER_METHOD).",
  ),
  ansible_ssh_extra_args: withDefault(
    strList("Arguments for ssh, given as --ssh-extra-args (each item one argument)."),
    ["-o IdentitiesOnly=yes"],
  ),
  groups: strList("Groups the machine is in, in the generated inventory."),
  empty_groups: strList("Groups written to the generated inventory with no host."),
  host_alias: withDefault(str("The machine's name in the generated inventory."), "default"),
  user: str(
    "ansible_user in the generated inventory, and the login to kiln's local endpoint. Default: the communicator's user (build.User; kiln's choice, Packer takes the user running packer, which misleads ansible's become logic), else the user running kiln.",
  ),
  local_port: Type.Optional(
    Type.Integer({
      minimum: 0,
      maximum: 65535,
      description:
        "Port of kiln's local SSH endpoint: the first free of ten ports from this one. Default: one the system picks.",
    }),
  ),
  sftp_command: str(
    "The program on the machine that serves SFTP (with use_sftp). Default: the machine's sftp-server found in /usr/lib/openssh, /usr/libexec/openssh, /usr/lib/ssh, /usr/libexec or /usr/lib, run with -e.",
  ),
  skip_version_check: bool(
    "Do not run ansible-playbook --version first (e.g. when an earlier step installs it).",
  ),
  use_sftp: bool(
    "Transfer files over SFTP (relayed to sftp_command on the machine). Default: ansible's piped transfer (dd through the relayed commands), which needs nothing more on the machine.",
  ),
  use_proxy: withDefault(
    bool(
      "Connect ansible to kiln's local SSH endpoint, relayed over kiln's own connection (works with every builder and bastion). false: ansible connects to the machine's address itself, with the builder's user and key.",
    ),
    true,
  ),
  inventory_file: str("Use this inventory instead of generating one (relative to the build file's folder)."),
  inventory_file_template: str(
    "The host line of the generated inventory; {{ .HostAlias }}, {{ .Host }}, {{ .Port }}, {{ .User }} and the build variables ({{ .ID }} …) are replaced. Default: {{ .HostAlias }} ansible_host={{ .Host }} ansible_user={{ .User }} ansible_port={{ .Port }}.",
  ),
  inventory_directory: str(
    "Write the generated inventory into this folder (one with group_vars/ and host_vars/, say). Default: a private temporary folder.",
  ),
  keep_inventory_file: bool("Leave the generated inventory file in place after the run."),
  ...galaxy,
  roles_path: str("Where ansible-galaxy installs roles (--roles-path)."),
  collections_path: str("Where ansible-galaxy installs collections (--collections-path)."),
  extra_vars: extraVars,
  become_password: str(
    "The password for become (sudo), given to ansible as ansible_become_password in the private extra-vars file; redacted everywhere. Use a sensitive variable.",
  ),
});
export type AnsibleOptions = OptionsOf<typeof ansibleSchema>;

export const ansibleLocalSchema = options({
  playbook_file: str("The playbook to upload and run (exclusive with playbook_files)."),
  playbook_files: strList("Playbooks to upload and run, in order (exclusive with playbook_file)."),
  playbook_dir: str(
    "A local folder uploaded as the staging directory first (a whole ansible tree: playbooks, roles, group_vars …).",
  ),
  playbook_paths: strList("Local folders of playbooks, uploaded to <staging_directory>/playbooks/."),
  role_paths: strList("Local role folders, uploaded to <staging_directory>/roles/."),
  group_vars: str("A local group_vars folder, uploaded to <staging_directory>/group_vars."),
  host_vars: str("A local host_vars folder, uploaded to <staging_directory>/host_vars."),
  command: withDefault(
    str("How ansible-playbook is started on the machine (a shell prefix: variables may come first)."),
    "PYTHONUNBUFFERED=1 ansible-playbook",
  ),
  extra_arguments: strList(
    "More arguments for ansible-playbook, each quoted for the machine's shell (no shell expansion).",
  ),
  inventory_groups: strList("Groups the machine (127.0.0.1) is in, in the generated inventory."),
  inventory_file: str("A local inventory uploaded and used instead of the generated one."),
  staging_directory: str(
    "The folder on the machine the files are uploaded to. Default: /tmp/kiln-ansible-local-<uuid>.",
  ),
  clean_staging_directory: withDefault(
    bool(
      "Remove the staging directory when the provisioner ends (also on failure and interrupt). kiln's default is true, unlike Packer's: nothing is left in the image unless asked.",
    ),
    true,
  ),
  ...galaxy,
  extra_vars: extraVars,
});
export type AnsibleLocalOptions = OptionsOf<typeof ansibleLocalSchema>;
