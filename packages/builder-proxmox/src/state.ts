/**
 * The proxmox builders' own state keys: what their steps leave for the next (beside the SDK's
 * TEMPORARY_KEY, SOURCE_FILE, CD_IMAGE, SSH_ADDRESS, COMMUNICATOR).
 */
import { stateKey } from "@kiln/core";
import type { PveClient } from "./client.js";
import type { Cdrom } from "./params.js";

/** The connected API client (connect-api step; closed in its cleanup). */
export const API = stateKey<PveClient>("proxmox-api");

/**
 * The ISOs of the build (isos step): the volume of each one of `isoList(o)` as its step learns
 * it, and the volumes kiln put on the storage — deleted when the build does not finish
 * (generated ones also when it does, once they are unmounted).
 */
export interface IsoLedger {
  volids: Array<string | undefined>;
  uploaded: Array<{ volid: string; deleteOnSuccess: boolean }>;
}
export const ISOS = stateKey<IsoLedger>("proxmox-isos");

/**
 * The build's VM (create/clone step). `created`: a create/clone request for `vmid` was sent, so
 * cleanup must look whether the VM is there; `owned`: its task finished, the VM is this build's
 * for sure. `nonce` marks the VM in its description until it is finished, so that cleanup never
 * destroys another build's VM that got the same ID.
 */
export interface VmRecord {
  vmid?: number;
  created: boolean;
  owned: boolean;
  nonce: string;
}
export const VM = stateKey<VmRecord>("proxmox-vm");

/** The CD-ROM drives with the slots they got (create/clone step; finalize unmounts them). */
export const CDROMS = stateKey<Cdrom[]>("proxmox-cdroms");

/** cloud-init settings set on a clone for the build only; removed before the template is made. */
export const BUILD_ONLY_CONFIG = stateKey<string[]>("proxmox-build-only-config");

export interface ProxmoxResult {
  vmid: number;
  node: string;
  name: string;
  template: boolean;
}
/** What the build made (finalize step); its presence means the build finished. */
export const RESULT = stateKey<ProxmoxResult>("proxmox-result");
