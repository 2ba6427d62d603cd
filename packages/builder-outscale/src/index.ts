import { defineBuilder, defineDataSource, definePlugin } from "@kiln/core";
import { bsuSchema, omiDataSchema } from "./schema.js";

export { bsuSchema, omiDataSchema };

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
  builders: [bsu("outscale-bsu"), bsu("osc-bsu")],
  dataSources: [omi("outscale-omi"), omi("osc-omi")],
});
