/**
 * Clone each of the server's disks into the hard-disk library under its image name (one image
 * per disk), then look the images' IDs up in the server options, where the account's library
 * images are listed by name. The result goes into RESULT for the artifact.
 */
import type { Step } from "@kiln/core";
import type { ServerOptions } from "../catalog.js";
import { parseCommandIds, waitCommand } from "../commands.js";
import { pickDisks } from "../disks.js";
import type { DiskPlan } from "../params.js";
import type { KamateraOptions } from "../schema.js";
import { API, RESULT, type SavedImage, SERVER } from "../state.js";
import { waits } from "../waits.js";

export function saveDisksStep(o: KamateraOptions, disks: DiskPlan[]): Step {
  return {
    name: "save disks",
    async run(ctx) {
      const client = ctx.state.require(API);
      const name = ctx.state.require(SERVER).name as string;
      const call = { signal: ctx.signal, retry: "idempotent" } as const;
      const listed = await client.post<unknown>("/server/hdlib", { name }, call);
      const picked = pickDisks(
        listed,
        disks.map((d) => d.sizeGB),
        name,
      );
      const saved: SavedImage[] = [];
      for (const d of disks) {
        const src = picked[d.index] as { uuid: string; sizeGB: number };
        ctx.ui.say(
          `Cloning disk ${d.index} (${src.sizeGB} GiB) of ${name} to the hard-disk library as ${d.imageName}...`,
        );
        const answer = await client.post<unknown>(
          "/server/hdlib",
          { name, clone: src.uuid, "image-name": d.imageName },
          { signal: ctx.signal, retry: "once" },
        );
        for (const id of parseCommandIds(answer, `cloning disk ${d.index} of ${name}`))
          await waitCommand(client, id, {
            ...waits(o),
            signal: ctx.signal,
            what: `cloning disk ${d.index} of ${name} to ${d.imageName}`,
          });
        saved.push({ disk: d.index, name: d.imageName, sizeGB: src.sizeGB, sourceUuid: src.uuid });
      }
      const opts = await client.get<ServerOptions>("/service/server", {}, call).catch(() => undefined);
      const library = opts?.diskImages?.[o.datacenter] ?? [];
      for (const s of saved) {
        const id = library.find((i) => i.description === s.name)?.id;
        if (id) s.id = id;
      }
      ctx.state.put(RESULT, { datacenter: o.datacenter, server: name, images: saved });
      ctx.ui.say(
        `In the hard-disk library of ${o.datacenter}: ${saved.map((s) => `${s.name}${s.id ? ` (${s.id})` : ""}`).join(", ")}.`,
      );
    },
  };
}
