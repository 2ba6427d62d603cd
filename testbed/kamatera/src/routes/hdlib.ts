/**
 * `POST /server/hdlib`: without `clone`, the server's disks (snapshot children flattened in,
 * each before its disk, child set to null — as the proxy flattens them); with `clone` and
 * `image-name`, a clone of that disk into the datacenter's hard-disk library — a standalone
 * disk file (the machine host flattens it) registered as a private image. Answers a bare number.
 */
import type { ServerState } from "../state.js";
import { ApiError } from "../wire.js";
import type { Handlers, RouteContext } from "./common.js";

export function hdlibRoutes(ctx: RouteContext): Handlers {
  const { account } = ctx;
  return {
    "server.hdlib": (f) => {
      const hits = account.select(f, "serverHdlib");
      if (hits.length > 1) throw new ApiError(500, `Too many matching servers (name='${f.name ?? ""}')`);
      const s = hits[0] as ServerState;
      if (f.clone === undefined)
        return s.disks.flatMap((d) => [
          ...d.children.map((c) => ({ uuid: c.uuid, sizeGB: c.sizeGB, child: null })),
          { uuid: d.uuid, sizeGB: d.sizeGB, child: null },
        ]);
      const uuid = f.clone as string;
      const name = f["image-name"] as string;
      const index = s.disks.findIndex((d) => d.uuid === uuid || d.children.some((c) => c.uuid === uuid));
      const cmd = account.queue.start("clone", s.name, "Clone hard disk to library", async () => {
        if (index < 0) throw new Error(`Disk ${uuid} is not a disk of server ${s.name}`);
        if (account.catalog.library().some((i) => i.datacenter === s.datacenter && i.name === name))
          throw new Error(
            `An image named ${name} already exists in the hard-disk library of ${s.datacenter}`,
          );
        if (ctx.refuseRunningClone && s.power === "on")
          throw new Error(`Server ${s.name} must be powered off to clone its disk`);
        if (!s.machine) throw new Error(`Server ${s.name} has no disks yet`);
        const disk = s.disks[index] as ServerState["disks"][number];
        const file = await s.machine.copyDisk(index, account.libraryFile(s.datacenter, name));
        const img = account.catalog.addPrivate(s.datacenter, name, disk.sizeGB, file);
        account.clones.push({ server: s.name, uuid, disk: index, name, file });
        return `Cloned disk ${index} of ${s.name} to the hard-disk library as ${name} (${img.id})\n`;
      });
      return cmd.id; // a bare JSON number
    },
  };
}
