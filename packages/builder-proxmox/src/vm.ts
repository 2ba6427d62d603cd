/**
 * The build's VM and volumes on the Proxmox host: paths, the task timeout, and removing what
 * the build made when it does not finish — the VM (only if it is this build's), then the
 * volumes kiln put on the storage.
 */
import { messageOf, type RunContext } from "@kiln/core";
import type { PveClient } from "./client.js";
import { errors } from "./errors.js";
import type { CommonOptions } from "./schema.js";
import { API, ISOS, type IsoLedger, RESULT, VM, type VmRecord } from "./state.js";

export function vmPath(node: string, vmid: number | undefined, sub = ""): string {
  return `/nodes/${encodeURIComponent(node)}/qemu/${vmid}${sub ? `/${sub}` : ""}`;
}

/** How long a Proxmox task may take (task_timeout). */
export function taskTimeout(o: Pick<CommonOptions, "task_timeout">): number {
  return errors.duration("task_timeout", o.task_timeout);
}

/** The description that marks a VM as this build's until it is finished. */
export function ownerMark(vm: VmRecord, ctx: RunContext): string {
  return `kiln ephemeral build VM (${ctx.run.name}) [kiln-build ${vm.nonce}]`;
}

/** Delete a volume kiln put on the storage (and forget it); a failure is reported, not thrown. */
export async function deleteVolume(
  client: PveClient,
  o: CommonOptions,
  ledger: IsoLedger,
  volid: string,
  ctx: RunContext,
): Promise<void> {
  const storage = volid.split(":")[0] as string;
  try {
    await client.task(
      "DELETE",
      o.node,
      `${storagePath(o.node, storage)}/content/${encodeURIComponent(volid)}`,
      undefined,
      { timeoutMs: taskTimeout(o), what: `deleting ${volid}` },
    );
    ctx.ui.message(`Deleted ${volid}`);
    ledger.uploaded = ledger.uploaded.filter((u) => u.volid !== volid);
  } catch (e) {
    ctx.ui.error(
      `Could not delete ${volid}: ${messageOf(e)} — remove it in the Proxmox UI (storage ${storage}).`,
    );
  }
}

/** The create/clone steps' cleanup: stop and destroy the VM (with its disks) unless the build finished, then the ISOs it used. */
export async function destroyVm(o: CommonOptions, ctx: RunContext): Promise<void> {
  const client = ctx.state.get(API);
  const vm = ctx.state.get(VM);
  if (!client || !vm?.created || ctx.state.has(RESULT) || vm.vmid === undefined) return;
  // A create/clone task that outlived its timeout must end before the VM can go.
  const left = await client.drainTasks(30 * 60_000);
  if (left.length) ctx.ui.error(`Proxmox tasks still running: ${left.join(", ")}`);
  if (!(await removeOwnVm(client, o, vm, ctx))) return;
  const ledger = ctx.state.get(ISOS);
  if (ledger)
    for (const u of [...ledger.uploaded].reverse()) await deleteVolume(client, o, ledger, u.volid, ctx);
}

/**
 * Stop and destroy VM `vm.vmid` with its disks — if it is this build's: its create/clone task
 * finished, or its description carries this build's mark. Returns false if it could not.
 */
export async function removeOwnVm(
  client: PveClient,
  o: CommonOptions,
  vm: VmRecord,
  ctx: RunContext,
): Promise<boolean> {
  const vmid = vm.vmid as number;
  const path = (sub = "") => vmPath(o.node, vmid, sub);
  const timeoutMs = Math.max(taskTimeout(o), 60_000);
  try {
    const st = await client.get<{ status: string }>(path("status/current")).catch((e) => {
      if (/does not exist|not exist/i.test(messageOf(e))) return undefined;
      throw e;
    });
    const mine =
      st &&
      (vm.owned ||
        String((await client.get<Record<string, unknown>>(path("config")))?.description ?? "").includes(
          vm.nonce,
        ));
    if (!st) {
      ctx.ui.message(`VM ${vmid} does not exist (any more).`);
    } else if (!mine) {
      ctx.ui.message(
        `VM ${vmid} is not the one this build made (another build took the ID); leaving it alone.`,
      );
    } else {
      if (st.status === "running") {
        ctx.ui.say(`Stopping VM ${vmid}...`);
        await client.task("POST", o.node, path("status/stop"), undefined, {
          timeoutMs,
          what: `stopping VM ${vmid}`,
        });
      }
      ctx.ui.say(`Deleting VM ${vmid}...`);
      await client.task(
        "DELETE",
        o.node,
        path(),
        { purge: true, "destroy-unreferenced-disks": true },
        { timeoutMs, what: `deleting VM ${vmid}` },
      );
    }
    vm.created = false;
    vm.owned = false;
    return true;
  } catch (e) {
    ctx.ui.error(
      `Could not delete VM ${vmid} on node ${o.node}: ${messageOf(e)} — delete it in the Proxmox UI.`,
    );
    return false;
  }
}

export function storagePath(node: string, storage: string): string {
  return `/nodes/${encodeURIComponent(node)}/storage/${encodeURIComponent(storage)}`;
}

/** The size of an ISO volume on a storage, or undefined when it is not there. */
export async function isoVolumeSize(
  client: PveClient,
  path: string,
  volid: string,
  signal: AbortSignal,
): Promise<number | undefined> {
  const list = await client.get<Array<{ volid: string; size?: number }>>(
    `${path}/content`,
    { content: "iso" },
    signal,
  );
  const hit = list.find((v) => v.volid === volid);
  return hit ? (hit.size ?? 0) : undefined;
}
