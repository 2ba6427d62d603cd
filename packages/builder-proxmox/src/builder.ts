/**
 * The proxmox-iso and proxmox-clone builders' run time, after Packer's proxmox builders:
 *
 *   API login → temporary SSH key → ISOs (uploaded, downloaded by PVE, or generated) → HTTP
 *   server → VM created (or cloned) → started → boot command (sendkey) → guest address from the
 *   QEMU guest agent → SSH → provisioners → shutdown → CD-ROMs removed, cloud-init drive added →
 *   template.
 *
 * Everything made on the Proxmox host is removed by the steps' cleanup when the build does not
 * finish (failure, Ctrl-C): the VM is stopped and destroyed with its disks, uploaded and generated
 * ISOs are deleted, and tasks still running are waited for first, so nothing is left behind.
 */
import type { Artifact, BuilderRuntime, BuildStepsContext, RunContext, Step } from "@kiln/core";
import {
  cdStep,
  clearAuthorizedKeysStep,
  connectStep,
  downloadStep,
  httpServerStep,
  temporaryKeyStep,
} from "@kiln/sdk";
import { proxmoxCloneCheck, proxmoxIsoCheck } from "./check.js";
import { credentials } from "./credentials.js";
import { type ProxmoxType, proxmoxErrors } from "./errors.js";
import { guestHttpIp } from "./http-host.js";
import { type BuildIso, bootIso, isoList, isoSource } from "./isos.js";
import { openClient } from "./open-client.js";
import type { CommonOptions, ProxmoxCloneOptions, ProxmoxIsoOptions } from "./schema.js";
import { RESULT } from "./state.js";
import { addressStep } from "./steps/address.js";
import { proxmoxBootCommandStep } from "./steps/boot-command.js";
import { cloneVmStep } from "./steps/clone-vm.js";
import { connectApiStep } from "./steps/connect-api.js";
import { createVmStep } from "./steps/create-vm.js";
import { finalizeStep } from "./steps/finalize.js";
import { isosStep } from "./steps/isos.js";
import { pveDownloadStep } from "./steps/pve-download.js";
import { shutdownStep } from "./steps/shutdown.js";
import { startVmStep } from "./steps/start-vm.js";
import { uploadCdStep } from "./steps/upload-cd.js";
import { uploadIsoStep } from "./steps/upload-iso.js";

export type { ProxmoxResult } from "./state.js";

/** Run-time preparation (the checks are in check.ts): the API secrets are redacted from now on. */
function prepare(o: CommonOptions, ctx: RunContext): void {
  const c = credentials(o);
  if (c.password) ctx.secret(c.password);
  if (c.token) ctx.secret(c.token);
}

/** The ISO ledger, then for each ISO the steps that bring its volume onto the storage. */
function isoSteps(o: CommonOptions, list: BuildIso[]): Step[] {
  const steps = [isosStep(o, list)];
  for (const [i, { iso, boot }] of list.entries()) {
    const source = isoSource(iso);
    if (source === "cd") steps.push(cdStep(iso), uploadCdStep(o, i, iso, boot));
    else if (source === "url" && iso.iso_download_pve) steps.push(pveDownloadStep(o, i, iso, boot));
    else if (source === "url")
      steps.push(downloadStep(iso, { extension: iso.iso_target_extension }), uploadIsoStep(o, i, iso, boot));
    // iso_file: on the storage already (the ledger knows its volume).
  }
  return steps;
}

function buildSteps(
  type: ProxmoxType,
  o: CommonOptions,
  ctx: BuildStepsContext,
  list: BuildIso[],
  vmStep: Step,
): Step[] {
  const provision = ctx.provisionStep();
  const steps: Step[] = [
    connectApiStep(o),
    temporaryKeyStep(o),
    ...isoSteps(o, list),
    httpServerStep(o, { guestIp: (server) => guestHttpIp(o, server.ip) }),
    vmStep,
    startVmStep(o),
    proxmoxBootCommandStep(o),
    addressStep(o),
    connectStep(o),
    provision,
    clearAuthorizedKeysStep(o),
    shutdownStep(o),
    finalizeStep(o),
  ];
  const e = proxmoxErrors(type);
  return steps.map((s) => (s === provision ? s : e.wrap(s)));
}

export const proxmoxIsoBuilder: BuilderRuntime<ProxmoxIsoOptions> = {
  check: proxmoxIsoCheck,
  prepare,
  steps(o, ctx) {
    const list = isoList(o, bootIso(o));
    return buildSteps("proxmox-iso", o, ctx, list, createVmStep(o, list));
  },
  artifact: (o, ctx) => artifactOf("proxmox-iso", o, ctx),
};

export const proxmoxCloneBuilder: BuilderRuntime<ProxmoxCloneOptions> = {
  check: proxmoxCloneCheck,
  prepare,
  steps(o, ctx) {
    const list = isoList(o);
    return buildSteps("proxmox-clone", o, ctx, list, cloneVmStep(o, list));
  },
  artifact: (o, ctx) => artifactOf("proxmox-clone", o, ctx),
};

/** The template (or VM) the build made; destroy() deletes it with its disks. */
function artifactOf(type: ProxmoxType, o: CommonOptions, ctx: RunContext): Artifact | undefined {
  const r = ctx.state.get(RESULT);
  if (!r) return undefined;
  return {
    builderType: type,
    id: String(r.vmid),
    files: [],
    description: r.template ? `A template was created: ${r.vmid}` : `A VM was created: ${r.vmid}`,
    data: { vm_id: r.vmid, node: r.node, name: r.name, template: r.template },
    async destroy() {
      const client = await openClient(o, ctx);
      try {
        await client.connect();
        const path = `/nodes/${encodeURIComponent(r.node)}/qemu/${r.vmid}`;
        await client.task(
          "DELETE",
          r.node,
          path,
          { purge: true },
          { timeoutMs: 5 * 60_000, what: `deleting VM ${r.vmid}` },
        );
      } finally {
        client.close();
      }
    },
  };
}
