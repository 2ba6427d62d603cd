/**
 * ansible-local: uploads a playbook and what it needs to a staging directory on the machine and
 * runs ansible-playbook there against 127.0.0.1 (`-c local`), as Packer's ansible-local does.
 *
 * - Uploads, in order: playbook_dir (as the staging directory), playbook_file / playbook_files,
 *   the inventory (inventory_file, or 127.0.0.1 in each of inventory_groups), galaxy_file
 *   (then `ansible-galaxy install -r … -p <staging>/roles`), group_vars, host_vars,
 *   role_paths (→ roles/), playbook_paths (→ playbooks/), and the variables (Packer's packer_*
 *   and extra_vars) as a private JSON file given as `-e @file`.
 * - Each playbook runs as `cd <staging> && <command> <playbook> -e @vars <extra_arguments> -c
 *   local -i <inventory>`, extra_arguments each quoted for the shell; output streams into the
 *   run's events; a failing task fails with the task, the host and ansible's message; exit 127
 *   says ansible is not installed on the machine.
 * - An interrupt ends the remote ansible-playbook and everything it started (its process group).
 * - clean_staging_directory (kiln's default: true) removes the staging directory afterwards, also
 *   on failure and interrupt.
 */
import { randomUUID } from "node:crypto";
import { posix } from "node:path";
import type { ProvisionerRuntime } from "@kiln/core";
import { throwIfAborted } from "@kiln/core";
import { secretValues } from "./args.js";
import { ansibleError, CODES } from "./errors.js";
import { remote, stage, VARS_FILE } from "./local-stage.js";
import { PlaybookOutput } from "./output.js";
import type { AnsibleLocalOptions } from "./schema.js";
import { shellQuote } from "./util.js";

export type { AnsibleLocalOptions } from "./schema.js";

const TYPE = "ansible-local";
/** Staging directories are /tmp/kiln-ansible-local-<uuid>: no shared parent another user may own. */
export const DEFAULT_STAGING_PREFIX = "/tmp/kiln-ansible-local-";

/** The remote command line for one playbook. */
export function localPlaybookCommand(o: {
  staging: string;
  command: string;
  playbook: string;
  varsFile: string;
  extraArguments: string[];
  inventory: string;
}): string {
  // after the cd, paths are given from the staging directory (which may itself be relative)
  const rel = (p: string) => posix.relative(o.staging, p) || ".";
  const extra = o.extraArguments.map(shellQuote).join(" ");
  return `cd ${shellQuote(o.staging)} && ${o.command} ${shellQuote(rel(o.playbook))} -e ${shellQuote(`@${rel(o.varsFile)}`)}${extra ? ` ${extra}` : ""} -c local -i ${shellQuote(rel(o.inventory))}`;
}

export const ansibleLocal: ProvisionerRuntime<AnsibleLocalOptions> = {
  async provision(ctx) {
    const o = ctx.options;
    for (const s of secretValues(o.extra_arguments ?? [], o.extra_vars)) ctx.secret(s);
    throwIfAborted(ctx.signal, TYPE);
    const staging = o.staging_directory ?? `${DEFAULT_STAGING_PREFIX}${randomUUID()}`;
    const varsFile = posix.join(staging, VARS_FILE);
    try {
      const { playbooks, inventory } = await stage(ctx, staging);
      for (const playbook of playbooks) {
        const command = localPlaybookCommand({
          staging,
          command: o.command,
          playbook,
          varsFile,
          extraArguments: o.extra_arguments ?? [],
          inventory,
        });
        ctx.ui.say(`Executing Ansible: ${command}`);
        const output = new PlaybookOutput();
        const r = await remote(ctx, command, posix.join(staging, ".kiln-ansible.pid"), (s, c) =>
          output.write(s, c),
        );
        output.end();
        if (r.exitCode === 127 && !output.summary())
          throw ansibleError(
            TYPE,
            CODES.missing,
            `${o.command.split(" ").pop()} was not found on the machine (exit code 127)`,
            {
              hint: "Install ansible on the machine first (e.g. a shell provisioner: apt-get install -y ansible), or set command.",
            },
          );
        if (r.exitCode !== 0) {
          const why = output.summary();
          const how =
            r.exitCode === null ? `was ended by ${r.signal ?? "a signal"}` : `exited with code ${r.exitCode}`;
          throw ansibleError(
            TYPE,
            CODES.playbook,
            `${why ? `${why} (ansible-playbook ${how})` : `ansible-playbook ${how}`}`,
            {
              hint: "See ansible's output above.",
            },
          );
        }
      }
    } finally {
      // the variables file may hold secrets: it goes even when the staging directory stays
      const comm = ctx.communicator;
      const what = o.clean_staging_directory ? staging : varsFile;
      // interrupted: one short attempt on a signal of its own, so nothing is left behind
      const r = await comm
        .exec(
          `rm -rf ${shellQuote(what)}`,
          ctx.signal.aborted ? { timeoutMs: 10_000 } : { signal: ctx.signal, timeoutMs: 60_000 },
        )
        .catch(() => undefined);
      if (r?.exitCode !== 0) ctx.ui.error(`[${TYPE}] could not remove ${what} from the machine`);
      else if (o.clean_staging_directory) ctx.ui.message(`Removed the staging directory ${staging}.`);
    }
  },
};
