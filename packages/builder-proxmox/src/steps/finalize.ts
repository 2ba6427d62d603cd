/**
 * Finish the VM: unmount the CD-ROMs (unmount / keep_cdrom_device), drop unused disks and the
 * clone's build-only cloud-init settings, add a cloud-init drive (cloud_init), set the template's
 * name and description, delete the generated ISOs no longer attached, and convert it to a
 * template (unless skip_convert_to_template). Leaves RESULT: the build is finished.
 */
import type { Step } from "@kiln/core";
import type { Params } from "../client.js";
import { errors } from "../errors.js";
import { bootDiskStorage, freeSlot } from "../params.js";
import type { CommonOptions } from "../schema.js";
import { API, BUILD_ONLY_CONFIG, CDROMS, ISOS, RESULT, VM } from "../state.js";
import { deleteVolume, taskTimeout, vmPath } from "../vm.js";

export function finalizeStep(o: CommonOptions): Step {
  return {
    name: "template",
    async run(ctx) {
      const client = ctx.state.require(API);
      const vmid = ctx.state.require(VM).vmid as number;
      const path = (sub: string) => vmPath(o.node, vmid, sub);
      const config = await client.get<Record<string, unknown>>(path("config"), undefined, ctx.signal);
      const conf: Params = {};
      const remove: string[] = [];
      for (const cd of ctx.state.get(CDROMS) ?? []) {
        if (!cd.unmount) continue;
        if (cd.keepDevice) conf[cd.slot as string] = "none,media=cdrom";
        else remove.push(cd.slot as string);
      }
      for (const k of Object.keys(config)) if (/^unused\d+$/.test(k)) remove.push(k);
      for (const k of ctx.state.get(BUILD_ONLY_CONFIG) ?? []) if (k in config) remove.push(k);
      const hasCloudInit = Object.values(config).some((v) => typeof v === "string" && /cloudinit/.test(v));
      if (o.cloud_init && hasCloudInit)
        ctx.ui.message("The VM already has a cloud-init drive (from its source); keeping it.");
      if (o.cloud_init && !hasCloudInit) {
        const taken = new Set(Object.keys(config).filter((k) => !remove.includes(k)));
        const pool = o.cloud_init_storage_pool ?? bootDiskStorage(config);
        if (!pool)
          throw errors.config(
            "cloud_init is set, but kiln cannot tell which storage the cloud-init drive goes on",
            "Set cloud_init_storage_pool (e.g. local-lvm).",
          );
        conf[freeSlot(o.cloud_init_disk_type, taken)] = `${pool}:cloudinit`;
      }
      // Packer's cloud_init_disable_upgrade_packages: VMs from the template skip the first-boot upgrade.
      if (o.cloud_init && o.cloud_init_disable_upgrade_packages) conf.ciupgrade = 0;
      const name = o.template_name ?? (config.name as string | undefined);
      if (o.template_name) conf.name = o.template_name;
      conf.description =
        o.template_description ?? `Built by kiln (${ctx.run.name}) on ${new Date().toISOString()}`;
      if (remove.length) conf.delete = remove.join(",");
      ctx.ui.say(
        `Finishing the VM's configuration${remove.length ? ` (removing ${remove.join(", ")})` : ""}${o.cloud_init ? " and adding a cloud-init drive" : ""}...`,
      );
      await client.task("POST", o.node, path("config"), conf, {
        timeoutMs: taskTimeout(o),
        signal: ctx.signal,
        what: `configuring VM ${vmid}`,
      });
      // Generated ISOs are no longer attached: delete them now.
      const ledger = ctx.state.get(ISOS);
      if (ledger)
        for (const u of ledger.uploaded.filter((x) => x.deleteOnSuccess))
          await deleteVolume(client, o, ledger, u.volid, ctx);
      const template = !o.skip_convert_to_template;
      if (template) {
        ctx.ui.say(`Converting VM ${vmid} to a template...`);
        await client.task("POST", o.node, path("template"), undefined, {
          timeoutMs: Math.max(taskTimeout(o), 60_000),
          signal: ctx.signal,
          what: `converting VM ${vmid} to a template`,
        });
      }
      ctx.state.put(RESULT, { vmid, node: o.node, name: name ?? "", template });
      ctx.ui.say(
        template
          ? `Template ${vmid} (${name}) is ready on node ${o.node}.`
          : `VM ${vmid} is ready (stopped, not a template).`,
      );
    },
  };
}
