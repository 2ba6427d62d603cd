/**
 * The CD step: make an ISO from cd_files / cd_content (labelled cd_label, e.g. `cidata` for a
 * cloud-init NoCloud seed) in a temporary folder of the run, and leave it under CD_IMAGE for
 * the builder to attach or upload.
 */
import { join } from "node:path";
import type { Step } from "@kiln/core";
import { makeIso } from "../iso/make.js";
import type { CdOptions } from "../schemas.js";
import { CD_IMAGE } from "../state.js";

/** Whether the options ask for a CD. */
export function wantsCd(o: CdOptions): boolean {
  return !!(o.cd_files?.length || (o.cd_content && Object.keys(o.cd_content).length));
}

export function cdStep(o: CdOptions): Step {
  return {
    name: "cd",
    async run(ctx) {
      if (!wantsCd(o)) return;
      const content = o.cd_content ? ctx.render(o.cd_content) : undefined;
      const dir = await ctx.tempDir("kiln-cd-");
      ctx.ui.say(`Creating a CD${o.cd_label ? ` labelled ${o.cd_label}` : ""}`);
      const r = await makeIso({
        ...(o.cd_files ? { files: o.cd_files } : {}),
        ...(content ? { content } : {}),
        ...(o.cd_label ? { label: o.cd_label } : {}),
        output: join(dir, "cd.iso"),
        baseDir: ctx.baseDir,
        signal: ctx.signal,
      });
      ctx.ui.message(`CD with ${r.files.length} file(s): ${r.files.join(", ")}`);
      ctx.state.put(CD_IMAGE, { path: r.output, files: r.files });
    },
  };
}
