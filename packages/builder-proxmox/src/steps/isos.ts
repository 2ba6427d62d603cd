/**
 * The ISO ledger: which volume each ISO of the build uses (an iso_file is known at once; the
 * upload, download and CD steps after this one fill in the others), and the volumes kiln put
 * on the storage. Its cleanup deletes those the build leaves behind when it does not finish —
 * after the VM's cleanup, which deletes them itself once the VM is gone — and the generated
 * ones when it finishes, unless they stay attached to the template.
 */
import type { Step } from "@kiln/core";
import { type BuildIso, isoFileVolume } from "../isos.js";
import type { CommonOptions } from "../schema.js";
import { API, ISOS, RESULT, VM } from "../state.js";
import { deleteVolume } from "../vm.js";

export function isosStep(o: CommonOptions, list: BuildIso[]): Step {
  return {
    name: "iso",
    async run(ctx) {
      const volids = list.map(({ iso }) => (iso.iso_file ? isoFileVolume(iso.iso_file) : undefined));
      ctx.state.put(ISOS, { volids, uploaded: [] });
      for (const [i, v] of volids.entries())
        if (v) ctx.ui.message(`${list[i]?.boot ? "Boot ISO" : "ISO"}: ${v}`);
    },
    async cleanup(ctx) {
      const client = ctx.state.get(API);
      const ledger = ctx.state.get(ISOS);
      if (!client || !ledger) return;
      const finished = ctx.state.has(RESULT);
      // An upload or download interrupted mid-way: its task must end before its volume can go.
      if (ledger.uploaded.length) await client.drainTasks(30 * 60_000);
      for (const u of [...ledger.uploaded].reverse()) {
        if (finished && !u.deleteOnSuccess) continue;
        if (ctx.state.get(VM)?.created && !finished) continue; // the VM could not be deleted: they are in use
        await deleteVolume(client, o, ledger, u.volid, ctx);
      }
    },
  };
}
