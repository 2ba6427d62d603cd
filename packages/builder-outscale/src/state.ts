/** The OUTSCALE builders' own state keys (beside the SDK's TEMPORARY_KEY, SSH_ADDRESS, COMMUNICATOR). */
import { stateKey } from "@kiln/core";
import type { OapiClient } from "./client.js";

/** The API client and the caller's account (api step; closed in its cleanup). */
export const API = stateKey<{ client: OapiClient; accountId: string; region: string }>("outscale-api");

export interface SourceImage {
  ImageId: string;
  ImageName?: string;
  RootDeviceName?: string;
  RootDeviceType?: string;
  BootModes?: string[];
  BlockDeviceMappings?: Array<{ DeviceName: string; Bsu?: { SnapshotId?: string; VolumeSize?: number } }>;
}
/** The OMI the VM starts from (source-omi step). */
export const SOURCE_IMAGE = stateKey<SourceImage>("outscale-source-image");

/** Where the VM goes (network step): a subnet (and its Net) or the public cloud, and the subregion. */
export const NETWORK = stateKey<{ subnetId?: string; netId?: string; subregion?: string }>(
  "outscale-network",
);

/** The key pair the VM is launched with (key-pair step). `created`: ours, deleted in cleanup. */
export const KEYPAIR = stateKey<{ name: string; created: boolean }>("outscale-keypair");

/** The public IP made for the VM (public-ip step). */
export const PUBLIC_IP = stateKey<{ id: string; address: string }>("outscale-public-ip");

/** The security groups of the VM (security-group step); `created` is the temporary one. */
export const SECURITY_GROUPS = stateKey<{ ids: string[]; created?: string }>("outscale-security-groups");

/** The build's VM and the volumes it was launched with (run-vm step). */
export const VM = stateKey<{ id: string; volumeIds: string[] }>("outscale-vm");

/** The OMI made (create-omi step). */
export const OMI = stateKey<{ id: string; snapshotIds: string[] }>("outscale-omi");

/** Set by the last step: the build finished, its OMIs stay (cleanups delete them otherwise). */
export const DONE = stateKey<true>("outscale-done");

/** OMIs by region, the home region's first (create-omi and copy steps; the artifact). */
export const RESULT = stateKey<{ omis: Record<string, string>; snapshots: Record<string, string[]> }>(
  "outscale-result",
);
