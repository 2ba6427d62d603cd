/**
 * Getting a VM ID and making the VM under it (create or clone), safely beside other builds:
 * vm_id or the cluster's next free ID; an earlier build's template under vm_id replaced only
 * with --force; an ID another build took meanwhile given up for the next one, removing only
 * what of this build's the failed task left.
 */
import { messageOf, type RunContext } from "@kiln/core";
import type { PveClient } from "./client.js";
import { errors } from "./errors.js";
import type { CommonOptions } from "./schema.js";
import type { VmRecord } from "./state.js";
import { removeOwnVm, taskTimeout } from "./vm.js";

function isTaken(e: unknown): boolean {
  return /already exists|can't lock file|unable to create .* lock/i.test(messageOf(e));
}

/**
 * Send a create or clone request and wait for its task. From the moment the request goes out
 * the VM may exist (`created`); once the task is done it is certainly this build's (`owned`).
 * A task that fails because another build took the ID meanwhile leaves nothing of ours.
 */
export async function runOwned(
  client: PveClient,
  o: CommonOptions,
  vm: VmRecord,
  ctx: RunContext,
  what: string,
  node: string,
  send: () => Promise<string>,
): Promise<void> {
  vm.created = true;
  vm.owned = false;
  let upid: string;
  try {
    upid = await send();
  } catch (e) {
    if (isTaken(e)) vm.created = false; // refused before anything was made
    throw e;
  }
  try {
    await client.waitTask(node, upid, { timeoutMs: taskTimeout(o), signal: ctx.signal, what });
  } catch (e) {
    // Another build took the ID meanwhile: remove whatever of ours the task left (checked by
    // this build's mark), and leave the other build's VM alone; the caller tries the next ID.
    if (isTaken(e) && !ctx.signal.aborted) await removeOwnVm(client, o, vm, ctx);
    throw e;
  }
  vm.owned = true;
}

/** Pick a VM ID: vm_id, or the cluster's next free one. */
async function chooseVmid(o: CommonOptions, client: PveClient, signal: AbortSignal): Promise<number> {
  if (o.vm_id) return o.vm_id;
  return Number(await client.get<string>("/cluster/nextid", undefined, signal));
}

/**
 * Make the VM with the first free ID. Two parallel builds may both be told the same next ID;
 * PVE creates a VM atomically, so the loser gets "already exists" and tries the next ID.
 */
export async function reserve(
  client: PveClient,
  o: CommonOptions,
  vm: VmRecord,
  ctx: RunContext,
  what: string,
  create: (vmid: number) => Promise<void>,
): Promise<void> {
  if (o.vm_id) await replaceExisting(client, o, ctx, o.vm_id);
  for (let attempt = 0; ; attempt++) {
    const vmid = await chooseVmid(o, client, ctx.signal);
    vm.vmid = vmid;
    try {
      ctx.ui.say(`${what} VM ${vmid} on node ${o.node}...`);
      await create(vmid);
      return;
    } catch (e) {
      if (isTaken(e) && !o.vm_id && attempt < 10 && !vm.owned) {
        ctx.ui.message(`VM ${vmid} was taken meanwhile (another build?); trying the next free ID.`);
        continue;
      }
      if (isTaken(e) && o.vm_id)
        throw errors.error(
          "KILN_PROXMOX_VMID",
          `vm_id ${o.vm_id} is already used: ${messageOf(e).replace(/^.*?: /, "")}`,
          "Pick another vm_id, or leave it unset to use the next free ID.",
          e,
        );
      throw e;
    }
  }
}

/**
 * vm_id names a VM that exists: the result of an earlier build. It is replaced only with
 * --force, and only if it is a template (or, with skip_convert_to_template, a stopped VM).
 */
async function replaceExisting(
  client: PveClient,
  o: CommonOptions,
  ctx: RunContext,
  vmid: number,
): Promise<void> {
  const all = await client.get<
    Array<{ vmid: number; node: string; name?: string; template?: number; status?: string }>
  >("/cluster/resources", { type: "vm" }, ctx.signal);
  const old = all.find((v) => v.vmid === vmid);
  if (!old) return;
  const what = `${old.template ? "template" : "VM"} ${vmid}${old.name ? ` (${old.name})` : ""} on node ${old.node}`;
  if (!ctx.force)
    throw errors.error(
      "KILN_PROXMOX_VMID",
      `vm_id ${vmid} is already used by ${what}`,
      "Run kiln build --force to replace it (only a template made by an earlier build is replaced), pick another vm_id, or leave vm_id unset.",
    );
  if (!old.template && !o.skip_convert_to_template)
    throw errors.error(
      "KILN_PROXMOX_VMID",
      `vm_id ${vmid} is used by ${what}, which is not a template: --force replaces only templates`,
      "Delete it yourself if it really is disposable, or pick another vm_id.",
    );
  if (old.node !== o.node)
    throw errors.error(
      "KILN_PROXMOX_VMID",
      `vm_id ${vmid} is used by ${what}`,
      "Delete it there, or pick another vm_id.",
    );
  ctx.ui.say(`Replacing ${what} (--force)...`);
  const path = `/nodes/${encodeURIComponent(old.node)}/qemu/${vmid}`;
  if (old.status === "running")
    await client.task("POST", old.node, `${path}/status/stop`, undefined, {
      timeoutMs: taskTimeout(o),
      signal: ctx.signal,
      what: `stopping VM ${vmid}`,
    });
  await client.task(
    "DELETE",
    old.node,
    path,
    { purge: true },
    { timeoutMs: Math.max(taskTimeout(o), 60_000), signal: ctx.signal, what: `deleting ${what}` },
  );
}
