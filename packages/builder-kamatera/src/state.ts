/** The kamatera builder's own state keys (beside the SDK's TEMPORARY_KEY, SSH_ADDRESS, COMMUNICATOR). */
import { stateKey } from "@kiln/core";
import type { KamateraClient } from "./client.js";

/** The API client (connect-api step; closed in its cleanup). */
export const API = stateKey<KamateraClient>("kamatera-api");

/**
 * The build's server (create step). `requested` is recorded before the create request is sent,
 * so cleanup can find the server by name even when the build stops during the create wait;
 * `name` is the name the create command's log reports, once it has finished.
 */
export interface ServerRecord {
  requested: string;
  /** The create request was sent (the server may exist, even if the answer never came). */
  sent: boolean;
  commandId?: string;
  /** The create command finished (complete or error). */
  settled: boolean;
  name?: string;
  /** The server was found and terminated (cleanup). */
  terminated?: boolean;
}
export const SERVER = stateKey<ServerRecord>("kamatera-server");

export interface SavedImage {
  disk: number;
  name: string;
  /** The library image's ID (DC:hex), when the server options list it. */
  id?: string;
  sizeGB: number;
  /** The disk that was cloned. */
  sourceUuid: string;
}
export interface KamateraResult {
  datacenter: string;
  server: string;
  images: SavedImage[];
}
/** What the build made (save-disks step); its presence means the build finished. */
export const RESULT = stateKey<KamateraResult>("kamatera-result");
