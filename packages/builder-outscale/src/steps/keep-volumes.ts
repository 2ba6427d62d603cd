/** outscale-bsuvolume's last step: the build finished, so the VM's cleanup keeps the bsu_volumes (the artifact). */
import type { Step } from "@kiln/core";
import type { BsuVolumeOptions } from "../schema.js";
import { DONE, KEPT_VOLUMES, VM } from "../state.js";

export function keepVolumesStep(volumes: BsuVolumeOptions[]): Step {
  return {
    name: "keep volumes",
    async run(ctx) {
      const vm = ctx.state.require(VM);
      const kept = volumes.map((v) => {
        const id = vm.devices[v.device_name];
        if (!id) throw new Error(`the VM ${vm.id} has no volume at ${v.device_name}`);
        return { volumeId: id, deviceName: v.device_name };
      });
      ctx.state.put(KEPT_VOLUMES, kept);
      ctx.state.put(DONE, true);
      ctx.ui.say(
        `Keeping the volumes ${kept.map((k) => `${k.volumeId} (${k.deviceName})`).join(", ")}; the VM is deleted.`,
      );
    },
  };
}
