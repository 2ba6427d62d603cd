/**
 * ansible: runs ansible-playbook on this machine against the machine being built, as Packer's
 * ansible provisioner does.
 *
 * 1. The playbook (and inventory_file, galaxy_file, inventory_directory) must exist; unless
 *    skip_version_check, `ansible-playbook --version` runs first: a missing ansible is a clear
 *    error saying how to install it, and the version picks the transfer method.
 * 2. galaxy_file: roles and collections installed with ansible-galaxy.
 * 3. The connection (connection.ts): kiln's local SSH endpoint relayed over kiln's communicator
 *    with a key made for the run, or (use_proxy: false) the machine's own address.
 * 4. The inventory (inventory.ts) unless inventory_file; the variables (Packer's packer_*,
 *    extra_vars, become_password) in a private JSON file given as `-e @file`.
 * 5. ansible-playbook runs in its own process group; its output streams into the run's events;
 *    a failing task fails the provisioner with the task, the host and ansible's message.
 * 6. Whatever the outcome (also Ctrl-C): ssh control masters are told to exit, the endpoint
 *    closes, and the run's private folder (keys, known_hosts, variables, inventory unless
 *    keep_inventory_file) is removed.
 */
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { ProvisionContext, ProvisionerRuntime } from "@kiln/core";
import {
  ansibleEnv,
  controlDirFor,
  envList,
  extraVarsDocument,
  galaxyArgs,
  packerVars,
  playbookArgs,
  quote,
  secretValues,
  transferEnv,
} from "./args.js";
import { type Connection, openConnection } from "./connection.js";
import { ansibleError, CODES, INSTALL_HINT } from "./errors.js";
import { inventoryText } from "./inventory.js";
import { runLocal } from "./local-run.js";
import { PlaybookOutput } from "./output.js";
import type { AnsibleOptions } from "./schema.js";
import { mustExist, resolveLocal } from "./util.js";
import { type AnsibleVersion, parseAnsibleVersion } from "./version.js";

export type { AnsibleOptions } from "./schema.js";

const TYPE = "ansible";

async function version(
  ctx: ProvisionContext<AnsibleOptions>,
  env: Record<string, string>,
): Promise<AnsibleVersion | undefined> {
  const r = await runLocal(TYPE, ctx, {
    argv: [ctx.options.command, "--version"],
    env,
    cwd: ctx.baseDir,
    quiet: true,
  });
  if (r.code !== 0)
    throw ansibleError(
      TYPE,
      CODES.missing,
      `${ctx.options.command} --version exited with code ${String(r.code)}: ${r.output.trim().split("\n")[0] ?? ""}`,
      {
        hint: INSTALL_HINT,
      },
    );
  const v = parseAnsibleVersion(r.output);
  ctx.ui.message(
    v
      ? `${ctx.options.command} ${v.text}`
      : `could not read the version in: ${r.output.trim().split("\n")[0]}`,
  );
  return v;
}

/** Tell the ssh control masters ansible left (ControlPersist) to exit now, not in 60 s. */
async function endControlMasters(dir: string): Promise<void> {
  const names = await readdir(dir).catch(() => [] as string[]);
  await Promise.all(
    names.map(
      (n) =>
        new Promise<void>((resolve) => {
          execFile(
            "ssh",
            ["-O", "exit", "-o", `ControlPath=${join(dir, n)}`, "kiln-ansible"],
            { timeout: 5000 },
            () => resolve(),
          );
        }),
    ),
  );
}

/** Remove ansible's temporary folder and the process group files from the machine: one short try, also after an interrupt. */
async function removeRemote(
  ctx: ProvisionContext<AnsibleOptions>,
  temp: string | undefined,
  pidPrefix: string,
): Promise<void> {
  const cmd = `rm -rf ${temp ? `${quote(temp)} ` : ""}${quote(pidPrefix)}*.pid`;
  const r = await ctx.communicator.exec(cmd, { timeoutMs: 15_000 }).catch(() => undefined);
  if (r?.exitCode !== 0)
    ctx.ui.error(`[ansible] could not remove ${temp ?? `${pidPrefix}*.pid`} from the machine`);
}

async function galaxy(
  ctx: ProvisionContext<AnsibleOptions>,
  file: string,
  env: Record<string, string>,
): Promise<void> {
  const o = ctx.options;
  const lists = galaxyArgs({
    file,
    text: await readFile(file, "utf8"),
    force: o.galaxy_force_install,
    forceWithDeps: o.galaxy_force_with_deps,
    rolesPath: o.roles_path && resolveLocal(ctx, o.roles_path),
    collectionsPath: o.collections_path && resolveLocal(ctx, o.collections_path),
  });
  for (const args of lists) {
    ctx.ui.say(`Executing Ansible Galaxy: ${o.galaxy_command} ${args.join(" ")}`);
    const r = await runLocal(TYPE, ctx, { argv: [o.galaxy_command, ...args], env, cwd: ctx.baseDir });
    if (r.code !== 0)
      throw ansibleError(
        TYPE,
        CODES.playbook,
        `${o.galaxy_command} ${args.join(" ")} exited with ${r.code === null ? r.signal : `code ${r.code}`}`,
        {
          hint: "See ansible-galaxy's output above.",
        },
      );
  }
}

export const ansible: ProvisionerRuntime<AnsibleOptions> = {
  async provision(ctx) {
    const o = ctx.options;
    const extraArguments = o.extra_arguments ?? [];
    for (const s of secretValues(extraArguments, o.extra_vars)) ctx.secret(s);
    if (o.become_password) ctx.secret(o.become_password);
    const playbook = await mustExist(TYPE, ctx, "playbook_file", o.playbook_file, "file");
    const inventoryFile =
      o.inventory_file && (await mustExist(TYPE, ctx, "inventory_file", o.inventory_file, "file"));
    const galaxyFile = o.galaxy_file && (await mustExist(TYPE, ctx, "galaxy_file", o.galaxy_file, "file"));
    const inventoryDir =
      o.inventory_directory &&
      (await mustExist(TYPE, ctx, "inventory_directory", o.inventory_directory, "folder"));
    const userEnv = envList(TYPE, "ansible_env_vars", o.ansible_env_vars);
    const dir = await mkdtemp(join(tmpdir(), "kiln-ansible-"));
    // on the machine: ansible's temporary folder (unless ansible_env_vars sets
    // ANSIBLE_REMOTE_TEMP) and the relayed commands' process group files, removed afterwards
    const onMachine = `/tmp/.kiln-ansible-${randomBytes(6).toString("hex")}`;
    const remoteTemp = userEnv.ANSIBLE_REMOTE_TEMP ? undefined : onMachine;
    // ssh's control sockets: in the run's folder, or a short one of their own (controlDirFor)
    const shortRoot = controlDirFor(dir);
    const controlDir = shortRoot ? await mkdtemp(join(shortRoot, "kiln-cp-")) : join(dir, "cp");
    let conn: Connection | undefined;
    let generatedInventory: string | undefined;
    try {
      const plainEnv = ansibleEnv({
        base: process.env,
        tempDir: dir,
        controlDir,
        transfer: {},
        user: userEnv,
      });
      const v = o.skip_version_check ? undefined : await version(ctx, plainEnv);
      const env = ansibleEnv({
        base: process.env,
        tempDir: dir,
        controlDir,
        remoteTemp,
        transfer: transferEnv(o.use_sftp === true, v),
        user: userEnv,
      });
      if (galaxyFile) await galaxy(ctx, galaxyFile, env);

      conn = await openConnection(ctx, dir, `${onMachine}-`);
      if (remoteTemp)
        ctx.ui.message(`ansible's temporary folder on the machine: ${remoteTemp} (removed afterwards)`);
      let inventory = inventoryFile;
      if (!inventory) {
        const text = inventoryText({
          template: o.inventory_file_template,
          hostAlias: o.host_alias,
          host: conn.host,
          port: conn.port,
          user: conn.user,
          groups: o.groups,
          emptyGroups: o.empty_groups,
          vars: ctx.buildVars,
        });
        // in inventory_directory itself, so its group_vars/ and host_vars/ apply (as Packer)
        const where =
          inventoryDir ??
          (o.keep_inventory_file ? await mkdtemp(join(tmpdir(), "kiln-ansible-inventory-")) : dir);
        inventory = join(
          where,
          inventoryDir ? `kiln-ansible-inventory-${randomBytes(6).toString("hex")}` : "hosts",
        );
        if (where !== dir) generatedInventory = inventory;
        await writeFile(inventory, text, { mode: 0o600 });
        if (o.keep_inventory_file) ctx.ui.message(`Inventory file: ${inventory} (keep_inventory_file)`);
      }
      const varsFile = join(dir, "extra-vars.json");
      const vars = extraVarsDocument(packerVars(ctx.run, ctx.buildVars), o.extra_vars, o.become_password);
      await writeFile(varsFile, JSON.stringify(vars), { mode: 0o600 });
      const args = playbookArgs({
        playbook,
        inventory,
        varsFile,
        privateKeyFile: conn.privateKeyFile,
        sshExtraArgs: o.ansible_ssh_extra_args,
        sshCommonArgs: conn.sshCommonArgs,
        extraArguments,
      });

      ctx.ui.say(`Executing Ansible: ${[o.command, ...args].map(quote).join(" ")}`);
      const output = new PlaybookOutput();
      const r = await runLocal(TYPE, ctx, {
        argv: [o.command, ...args],
        env,
        cwd: ctx.baseDir,
        onOutput: (s, c) => output.write(s, c),
      });
      output.end();
      if (r.code !== 0) {
        const why = output.summary();
        const how = r.code === null ? `was ended by ${r.signal}` : `exited with code ${r.code}`;
        throw ansibleError(
          TYPE,
          CODES.playbook,
          why ? `${why} (ansible-playbook ${how})` : `ansible-playbook ${how}`,
          {
            hint: "See ansible's output above.",
          },
        );
      }
    } finally {
      await endControlMasters(controlDir);
      await conn?.close();
      if (conn) await removeRemote(ctx, remoteTemp, `${onMachine}-`);
      await rm(dir, { recursive: true, force: true });
      if (shortRoot) await rm(controlDir, { recursive: true, force: true });
      if (generatedInventory && !o.keep_inventory_file) await rm(generatedInventory, { force: true });
    }
  },
};
