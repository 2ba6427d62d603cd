/**
 * ansible-local's work on the machine: the staging directory and its uploads (in the order the
 * provisioner's header lists), ansible-galaxy there, and running a command so that an interrupt
 * ends its process group.
 */
import { readFile } from "node:fs/promises";
import { basename, posix, relative } from "node:path";
import type { ExecResult, ProvisionContext } from "@kiln/core";
import { abortError, throwIfAborted } from "@kiln/core";
import { endGroup, groupedCommand } from "@kiln/sdk";
import { extraVarsDocument, galaxyArgs, packerVars } from "./args.js";
import { ansibleError, CODES, wrapError } from "./errors.js";
import { localInventoryText } from "./inventory.js";
import type { AnsibleLocalOptions } from "./schema.js";
import { mustExist, shellQuote } from "./util.js";

const TYPE = "ansible-local";

type Ctx = ProvisionContext<AnsibleLocalOptions>;

/** The variables (Packer's packer_* and extra_vars), in the staging directory, 0600. */
export const VARS_FILE = "kiln-extra-vars.json";

/** Run a command on the machine, streaming its output; an interrupt ends its process group. */
export async function remote(
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

export async function stage(ctx: Ctx, staging: string): Promise<{ playbooks: string[]; inventory: string }> {
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
