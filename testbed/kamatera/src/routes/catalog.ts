/**
 * The four `GET /service/server` calls: datacenters, a datacenter's public images, its
 * capabilities, and the server options — whose diskImages per datacenter hold the public
 * images and the account's library images, by description.
 */
import { CPU_TYPES, DISK_SIZES } from "../catalog.js";
import { ApiError } from "../wire.js";
import type { Handlers, RouteContext } from "./common.js";

export function catalogRoutes(ctx: RouteContext): Handlers {
  const { catalog } = ctx.account;
  const dcOf = (dc: unknown) => {
    const d = String(dc);
    if (!(d in catalog.datacenters)) throw new ApiError(500, `Invalid datacenter (${d})`);
    return d;
  };
  return {
    "catalog.datacenters": () =>
      Object.entries(catalog.datacenters).map(([id, name]) => ({
        id,
        name,
        category: "Kiln",
        subCategory: "Test bed",
      })),
    "catalog.images": (f) =>
      catalog
        .inDatacenter(dcOf(f.datacenter))
        .filter((i) => !i.private)
        .map((i) => ({
          datacenter: i.datacenter,
          os: i.os,
          id: i.id,
          name: i.name,
          code: i.code,
          osDiskSizeGB: i.sizeGB,
          ramMBMin: { A: 256, B: 1024, T: 512, D: 2048 },
        })),
    "catalog.capabilities": (f) => {
      dcOf(f.datacenter);
      return {
        diskSizeGB: DISK_SIZES,
        monthlyTrafficPackage: { t5000: "5000GB/month" },
        defaultMonthlyTrafficPackage: "t5000",
        cpuTypes: CPU_TYPES,
      };
    },
    "catalog.options": () => ({
      datacenters: catalog.datacenters,
      cpu: CPU_TYPES.flatMap((t) => t.cpuCores.map((n) => `${n}${t.id}`)),
      ram: [...new Set(CPU_TYPES.flatMap((t) => t.ramMB))].sort((a, b) => a - b),
      disk: DISK_SIZES,
      diskImages: Object.fromEntries(
        Object.keys(catalog.datacenters).map((dc) => [
          dc,
          catalog.inDatacenter(dc).map((i) => ({ id: i.id, description: i.name, sizeGB: i.sizeGB })),
        ]),
      ),
      traffic: { t5000: "5000GB/month" },
      networks: {},
      billing: ["hourly", "monthly"],
    }),
  };
}
