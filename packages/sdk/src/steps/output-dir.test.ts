import { existsSync } from "node:fs";
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { OUTPUT_DIR } from "../state.js";
import { finishOutputStep, outputDirectoryStep } from "./output-dir.js";
import { stepContext } from "./steps.test-context.js";

const dirs: string[] = [];
async function base(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), "kiln-outdir-"));
  dirs.push(d);
  return d;
}
afterEach(async () => {
  await Promise.all(dirs.splice(0).map((d) => rm(d, { recursive: true, force: true })));
});

describe("outputDirectoryStep / finishOutputStep", () => {
  it("stages into a hidden sibling and renames it into place at the end (default output-<source>)", async () => {
    const b = await base();
    const { ctx } = stepContext(b, { source: "ubuntu" });
    await outputDirectoryStep({}).run(ctx);
    const { final, staging } = ctx.state.require(OUTPUT_DIR);
    expect(final).toBe(join(b, "output-ubuntu"));
    expect(staging.startsWith(join(b, ".output-ubuntu.kiln-"))).toBe(true);
    expect(existsSync(final)).toBe(false);
    await writeFile(join(staging, "disk.qcow2"), "x");
    await finishOutputStep().run(ctx);
    expect(await readFile(join(final, "disk.qcow2"), "utf8")).toBe("x");
    expect((await readdir(b)).sort()).toEqual(["output-ubuntu"]);
  });

  it("refuses an existing output without --force, and replaces it only at the end with it", async () => {
    const b = await base();
    await mkdir(join(b, "out"));
    await writeFile(join(b, "out", "old"), "old");
    const { ctx } = stepContext(b);
    await expect(outputDirectoryStep({ output_directory: "out" }).run(ctx)).rejects.toMatchObject({
      code: "KILN_OUTPUT_EXISTS",
    });
    const forced = stepContext(b, { force: true });
    const step = outputDirectoryStep({ output_directory: "out" });
    await step.run(forced.ctx);
    expect(existsSync(join(b, "out", "old"))).toBe(true);
    await finishOutputStep().run(forced.ctx);
    expect(existsSync(join(b, "out", "old"))).toBe(false);
  });

  it("on failure, cleanup leaves nothing: no staging folder, no parents it made", async () => {
    const b = await base();
    const { ctx } = stepContext(b);
    const step = outputDirectoryStep({ output_directory: "a/b/out" });
    await step.run(ctx);
    await writeFile(join(ctx.state.require(OUTPUT_DIR).staging, "half"), "x");
    await step.cleanup?.(ctx);
    expect(await readdir(b)).toEqual([]);
  });

  it("an output that appeared during the build is not overwritten without --force", async () => {
    const b = await base();
    const { ctx } = stepContext(b);
    await outputDirectoryStep({ output_directory: "out" }).run(ctx);
    await mkdir(join(b, "out"));
    await expect(finishOutputStep().run(ctx)).rejects.toMatchObject({ code: "KILN_OUTPUT_EXISTS" });
  });
});
