/** force_deregister (or --force): delete the OMIs named omi_name — and, with force_delete_snapshot, their snapshots — in every region the build writes. */
import type { Step } from "@kiln/core";
import type { OapiClient } from "../client.js";
import type { BsuOptions } from "../schema.js";
import { API } from "../state.js";

export async function deregisterByName(
  client: OapiClient,
  accountId: string,
  name: string,
  deleteSnapshots: boolean,
  say: (line: string) => void,
  signal?: AbortSignal,
): Promise<void> {
  const r = await client.call<{
    Images?: Array<{ ImageId: string; BlockDeviceMappings?: Array<{ Bsu?: { SnapshotId?: string } }> }>;
  }>("ReadImages", { Filters: { ImageNames: [name], AccountIds: [accountId] } }, signal);
  for (const img of r.Images ?? []) {
    await client.call("DeleteImage", { ImageId: img.ImageId }, signal);
    say(`Deregistered the OMI ${img.ImageId} (${name}).`);
    if (!deleteSnapshots) continue;
    for (const m of img.BlockDeviceMappings ?? [])
      if (m.Bsu?.SnapshotId) {
        await client.call("DeleteSnapshot", { SnapshotId: m.Bsu.SnapshotId }, signal);
        say(`Deleted its snapshot ${m.Bsu.SnapshotId}.`);
      }
  }
}

export function deregisterStep(o: BsuOptions): Step {
  return {
    name: "deregister omi",
    async run(ctx) {
      if (!(o.force_deregister || ctx.force) || o.skip_create_omi) return;
      const { client, accountId } = ctx.state.require(API);
      await deregisterByName(
        client,
        accountId,
        o.omi_name,
        o.force_delete_snapshot === true,
        (l) => ctx.ui.say(l),
        ctx.signal,
      );
    },
  };
}
