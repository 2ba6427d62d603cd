import { defineBuilder, defineDataSource, definePlugin } from "@kiln/core";
import { bsuSchema, bsusurrogateSchema, bsuvolumeSchema, chrootSchema, omiDataSchema } from "./schema.js";

export { bsuSchema, bsusurrogateSchema, bsuvolumeSchema, chrootSchema, omiDataSchema };

const bsu = (type: "outscale-bsu" | "osc-bsu") =>
  defineBuilder({
    type,
    description:
      type === "outscale-bsu"
        ? "Build an OUTSCALE OMI: launch a VM from a source OMI on BSU volumes, provision it over SSH, stop it, register the OMI (and copy it to other regions)."
        : "Packer core's older name of outscale-bsu.",
    schema: bsuSchema,
    // The implementation is loaded only when a build runs, so validation never imports it.
    create: async () => (await import("./builder.js")).bsuBuilder(type),
  });

const bsuvolume = (type: "outscale-bsuvolume" | "osc-bsuvolume") =>
  defineBuilder({
    type,
    description:
      type === "outscale-bsuvolume"
        ? "Provision OUTSCALE BSU volumes: launch a VM with bsu_volumes, provision it over SSH, stop and delete it, keep the volumes (the artifact is their ids)."
        : "Packer core's older name of outscale-bsuvolume.",
    schema: bsuvolumeSchema,
    create: async () => (await import("./builder-bsuvolume.js")).bsuvolumeBuilder(type),
  });

const bsusurrogate = (type: "outscale-bsusurrogate" | "osc-bsusurrogate") =>
  defineBuilder({
    type,
    description:
      type === "outscale-bsusurrogate"
        ? "Build an OUTSCALE OMI from a volume a surrogate VM writes an OS onto: snapshot it and register it as the OMI's root (omi_root_device)."
        : "Packer core's older name of outscale-bsusurrogate.",
    schema: bsusurrogateSchema,
    create: async () => (await import("./builder-bsusurrogate.js")).bsusurrogateBuilder(type),
  });

const chroot = (type: "outscale-chroot" | "osc-chroot") =>
  defineBuilder({
    type,
    description:
      type === "outscale-chroot"
        ? "Build an OUTSCALE OMI from the OUTSCALE VM kiln runs on: a volume from the source OMI (or empty) linked here, mounted, provisioned in a chroot, snapshotted and registered."
        : "Packer core's older name of outscale-chroot.",
    schema: chrootSchema,
    create: async () => (await import("./builder-chroot.js")).chrootBuilder(type),
  });

const omi = (type: "outscale-omi" | "osc-omi") =>
  defineDataSource({
    type,
    description:
      type === "outscale-omi"
        ? "Find an OUTSCALE OMI by filters and owners: data.<name>.id, name, creation_date, owner, owner_name, tags."
        : "The older name of outscale-omi.",
    schema: omiDataSchema,
    create: async () => (await import("./datasource.js")).omiDataSource(type),
  });

export default definePlugin({
  name: "@kiln/builder-outscale",
  builders: [
    bsu("outscale-bsu"),
    bsu("osc-bsu"),
    bsuvolume("outscale-bsuvolume"),
    bsuvolume("osc-bsuvolume"),
    bsusurrogate("outscale-bsusurrogate"),
    bsusurrogate("osc-bsusurrogate"),
    chroot("outscale-chroot"),
    chroot("osc-chroot"),
  ],
  dataSources: [omi("outscale-omi"), omi("osc-omi")],
});
