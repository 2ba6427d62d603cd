/**
 * Test support: the OAPI double as the outscale tests start it — a scratch folder inside the
 * package, the double's CA written there, the access options (as an object and as build-file
 * lines), an OAPI client on them — and what "nothing left" means on it.
 */
import { rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { ensureDist, makeScratch } from "@kiln/sdk/testing";
import {
  type Leftovers,
  NOTHING_LEFT,
  type OutscaleDouble,
  type OutscaleDoubleOptions,
  startOutscaleDouble,
} from "@kiln-testbed/outscale";
import { afterAll, beforeAll, expect } from "vitest";
import { OapiClient } from "./client.js";
import { resolveCredentials } from "./credentials.js";

export const PKG_DIR = fileURLToPath(new URL("..", import.meta.url));

// biome-ignore lint/suspicious/noExplicitAny: answers read freely
type Any = any;

export interface TestDouble {
  osc: OutscaleDouble;
  /** The scratch folder (deleted by close()). */
  dir: string;
  caFile: string;
  /** access_key, secret_key, region, custom_endpoint_oapi, ca_file of the double. */
  access: {
    access_key: string;
    secret_key: string;
    region: string;
    custom_endpoint_oapi: string;
    ca_file: string;
  };
  /** The same as build-file lines of a source or data source (indented by four). */
  accessYaml: string;
  /** An OAPI call with the double's credentials, its answer read freely. */
  call(action: string, body?: Record<string, unknown>): Promise<Any>;
  close(): Promise<void>;
}

/** Starts the double with its CA file in a new scratch folder `tmp-<scratch>-…`. */
export async function openDouble(scratch: string, options: OutscaleDoubleOptions = {}): Promise<TestDouble> {
  const osc = await startOutscaleDouble(options);
  const dir = makeScratch(PKG_DIR, scratch);
  const caFile = join(dir, "ca.pem");
  writeFileSync(caFile, osc.caCert);
  const access = {
    access_key: osc.accessKey,
    secret_key: osc.secretKey,
    region: osc.region,
    custom_endpoint_oapi: osc.endpoint,
    ca_file: caFile,
  };
  const api = new OapiClient(resolveCredentials(access, { env: {}, baseDir: dir }));
  return {
    osc,
    dir,
    caFile,
    access,
    accessYaml: Object.entries(access)
      .map(([k, v]) => `    ${k}: ${v}`)
      .join("\n"),
    call: (action, body = {}) => api.call<Any>(action, body),
    async close() {
      api.close();
      await osc.close(); // kills any guest still running
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * openDouble in this file's beforeAll (after a fresh dist/: the engine loads the plugin from its
 * package exports), closed in its afterAll; the answer is filled in once beforeAll has run.
 */
export function useDouble(
  scratch: string,
  options: () => OutscaleDoubleOptions | Promise<OutscaleDoubleOptions>,
): TestDouble {
  const t = {} as TestDouble;
  beforeAll(async () => {
    ensureDist(PKG_DIR);
    Object.assign(t, await openDouble(scratch, await options()));
  }, 600_000);
  afterAll(async () => {
    await t.close?.();
  });
  return t;
}

/** Checks that nothing but images and snapshots is left on the double; answers the leftovers. */
export function expectOnlyImages(osc: OutscaleDouble): Leftovers {
  const left = osc.leftovers();
  expect({ ...left, images: [], snapshots: [] }).toEqual(NOTHING_LEFT);
  return left;
}

/** Deletes the image `id` and every snapshot left on the double. */
export async function deleteImageAndSnapshots(t: TestDouble, id: string): Promise<void> {
  const snaps = t.osc.leftovers().snapshots;
  await t.call("DeleteImage", { ImageId: id });
  for (const s of snaps) await t.call("DeleteSnapshot", { SnapshotId: s });
}
