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
import { readFile } from "node:fs/promises";
import { basename, posix, relative } from "node:path";
import type { ExecResult, ProvisionContext, ProvisionerRuntime } from "@kiln/core";
import { abortError, throwIfAborted } from "@kiln/core";
import { endGroup, groupedCommand } from "@kiln/sdk";
import { extraVarsDocument, galaxyArgs, packerVars, secretValues } from "./args.js";
import { ansibleError, CODES, wrapError } from "./errors.js";
import { localInventoryText } from "./inventory.js";
import { PlaybookOutput } from "./output.js";
import type { AnsibleLocalOptions } from "./schema.js";
import { mustExist, shellQuote } from "./util.js";

export type { AnsibleLocalOptions } from "./schema.js";

const TYPE = "ansible-local";
/** Staging directories are /tmp/kiln-ansible-local-<uuid>: no shared parent another user may own. */
export const DEFAULT_STAGING_PREFIX = "/tmp/kiln-ansible-local-";

type Ctx = ProvisionContext<AnsibleLocalOptions>;

/** The variables (Packer's packer_* and extra_vars), in the staging directory, 0600. */
const VARS_FILE = "kiln-extra-vars.json";

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

/** Run a command on the machine, streaming its output; an interrupt ends its process group. */
async function remote(
  ctx: Ctx,
  command: string,
  pidFile: string,
  onOutput?: (s: "stdout" | "stderr", c: string) => void,
): Promise<ExecResult> {
  const comm = ctx.communicator;
  let ending: Promise<void> | undefined;
  const end = () => {
    ending ??= endGroup(comm, pidFile);
  };
  ctx.signal.addEventListener("abort", end, { once: true });
  try {
    return await comm.exec(groupedCommand(command, pidFile), {
      signal: ctx.signal,
      onStdout: (c) => {
        ctx.ui.output("stdout", c);
        onOutput?.("stdout", c);
      },
      onStderr: (c) => {
        ctx.ui.output("stderr", c);
        onOutput?.("stderr", c);
      },
    });
  } catch (err) {
    if (ctx.signal.aborted) {
      end();
      await ending;
      throw abortError(ctx.signal, TYPE);
    }
    throw wrapError(TYPE, "running a command on the machine failed", err);
  } finally {
    ctx.signal.removeEventListener("abort", end);
  }
}

async function mkdirs(ctx: Ctx, ...dirs: string[]): Promise<void> {
  let err = "";
  const r = await ctx.communicator
    .exec(`mkdir -p ${dirs.map(shellQuote).join(" ")}`, { signal: ctx.signal, onStderr: (c) => (err += c) })
    .catch((e: unknown) => {
      throwIfAborted(ctx.signal, TYPE);
      throw wrapError(TYPE, `could not create ${dirs.join(", ")} on the machine`, e);
    });
  if (r.exitCode !== 0)
    throw ansibleError(
      TYPE,
      CODES.failed,
      `could not create ${dirs.join(", ")} on the machine: ${err.trim() || `mkdir exited with code ${String(r.exitCode)}`}`,
      {
        hint: "Choose a staging_directory the SSH user may write to.",
      },
    );
}

async function put(ctx: Ctx, what: string, fn: () => Promise<void>): Promise<void> {
  throwIfAborted(ctx.signal, TYPE);
  ctx.ui.message(`Uploading ${what}...`);
  try {
    await fn();
  } catch (err) {
    throwIfAborted(ctx.signal, TYPE);
    throw wrapError(TYPE, `uploading ${what} failed`, err);
  }
}

async function stage(ctx: Ctx, staging: string): Promise<{ playbooks: string[]; inventory: string }> {
  const o = ctx.options;
  const comm = ctx.communicator;
  if ((o.playbook_file ? 1 : 0) + (o.playbook_files?.length ? 1 : 0) !== 1)
    throw ansibleError(
      TYPE,
      CODES.options,
      "set either playbook_file or playbook_files (one of them, not both)",
    );
  const dir = o.playbook_dir
    ? await mustExist(TYPE, ctx, "playbook_dir", o.playbook_dir, "folder")
    : undefined;
  const files: string[] = [];
  for (const [option, p] of o.playbook_file
    ? [["playbook_file", o.playbook_file]]
    : (o.playbook_files ?? []).map((f) => ["playbook_files", f]))
    files.push(await mustExist(TYPE, ctx, option as string, p as string, "file"));
  const check = async (option: string, p: string | undefined, kind: "file" | "folder") =>
    p ? mustExist(TYPE, ctx, option, p, kind) : undefined;
  const inventoryFile = await check("inventory_file", o.inventory_file, "file");
  const galaxyFile = await check("galaxy_file", o.galaxy_file, "file");
  const groupVars = await check("group_vars", o.group_vars, "folder");
  const hostVars = await check("host_vars", o.host_vars, "folder");
  const roles = await Promise.all(
    (o.role_paths ?? []).map((p) => mustExist(TYPE, ctx, "role_paths", p, "folder")),
  );
  const books = await Promise.all(
    (o.playbook_paths ?? []).map((p) => mustExist(TYPE, ctx, "playbook_paths", p, "folder")),
  );
  const inventoryText = inventoryFile ? undefined : localInventoryText(o.inventory_groups);

  ctx.ui.message(`Creating the staging directory ${staging}...`);
  await mkdirs(ctx, staging);
  if (dir) await put(ctx, `playbook_dir ${o.playbook_dir}`, () => comm.uploadDir(dir, staging));
  const playbooks: string[] = [];
  for (const f of files) {
    const inDir =
      dir && !relative(dir, f).startsWith("..") ? relative(dir, f).split("\\").join("/") : undefined;
    const target = posix.join(staging, inDir ?? basename(f));
    if (!inDir) await put(ctx, `playbook ${basename(f)}`, () => comm.upload(f, target));
    playbooks.push(target);
  }
  const inventory = posix.join(staging, inventoryFile ? basename(inventoryFile) : "kiln-inventory");
  await put(ctx, "the inventory", () =>
    comm.upload(inventoryFile ?? Buffer.from(inventoryText as string), inventory),
  );
  if (galaxyFile) {
    const target = posix.join(staging, basename(galaxyFile));
    await put(ctx, "galaxy_file", () => comm.upload(galaxyFile, target));
    const lists = galaxyArgs({
      file: target,
      text: await readFile(galaxyFile, "utf8"),
      force: o.galaxy_force_install,
      forceWithDeps: o.galaxy_force_with_deps,
      rolesPath: posix.join(staging, "roles"),
      collectionsPath: posix.join(staging, "collections"),
    });
    for (const args of lists) {
      const inStaging = args.map((a) => (a.startsWith(`${staging}/`) ? posix.relative(staging, a) : a));
      const line = `cd ${shellQuote(staging)} && ${o.galaxy_command} ${inStaging.map(shellQuote).join(" ")}`;
      ctx.ui.say(`Executing Ansible Galaxy: ${line}`);
      const r = await remote(ctx, line, posix.join(staging, ".kiln-galaxy.pid"));
      if (r.exitCode !== 0)
        throw ansibleError(
          TYPE,
          r.exitCode === 127 ? CODES.missing : CODES.playbook,
          `${o.galaxy_command} exited with code ${String(r.exitCode)} on the machine`,
          {
            hint:
              r.exitCode === 127
                ? "Install ansible on the machine first (e.g. a shell provisioner: apt-get install -y ansible)."
                : "See ansible-galaxy's output above.",
          },
        );
    }
  }
  if (groupVars)
    await put(ctx, "group_vars", () => comm.uploadDir(groupVars, posix.join(staging, "group_vars")));
  if (hostVars) await put(ctx, "host_vars", () => comm.uploadDir(hostVars, posix.join(staging, "host_vars")));
  for (const r of roles)
    await put(ctx, `role ${basename(r)}`, () => comm.uploadDir(r, posix.join(staging, "roles", basename(r))));
  for (const b of books)
    await put(ctx, `playbooks ${basename(b)}`, () =>
      comm.uploadDir(b, posix.join(staging, "playbooks", basename(b))),
    );
  const varsFile = posix.join(staging, VARS_FILE);
  const vars = extraVarsDocument(packerVars(ctx.run, ctx.buildVars), o.extra_vars, undefined);
  await put(ctx, "the variables", () =>
    comm.upload(Buffer.from(JSON.stringify(vars)), varsFile, { mode: 0o600 }),
  );
  return { playbooks, inventory };
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
