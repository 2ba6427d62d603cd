/**
 * The suites as a third-party author uses them, on a small plugin that follows the rules: a
 * provisioner that writes a file on the machine and a post-processor that writes a file beside
 * the artifact (to a temporary name, renamed into place).
 */
import { readFile, rename, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import {
  definePlugin,
  definePostProcessor,
  defineProvisioner,
  KilnError,
  type PostProcessorRuntime,
  type ProvisionerRuntime,
} from "@kiln/core";
import { expect } from "vitest";
import { options, str } from "../options/schema.js";
import { testPostProcessor, testProvisioner } from "./index.js";

const schema = options({ text: str("Text to write.") });

const stamp: ProvisionerRuntime<{ text?: string }> = {
  async provision(ctx) {
    if (ctx.signal.aborted) throw new Error("[stamp] interrupted");
    const text = ctx.options.text ?? "stamped";
    ctx.ui.say(`Stamping ${text}`);
    const r = await ctx.communicator.exec(`printf '%s' '${text}' > stamp.txt`, { signal: ctx.signal });
    if (r.exitCode !== 0)
      throw new KilnError("KILN_STAMP", `[stamp] writing stamp.txt exited with ${r.exitCode}`);
  },
};

const note: PostProcessorRuntime<{ text?: string }> = {
  async postProcess(ctx) {
    const out = join(ctx.baseDir, "note.txt");
    const tmp = `${out}.tmp`;
    const fail = (err: unknown) =>
      ctx.signal.aborted ? (ctx.signal.reason as Error) : new KilnError("KILN_NOTE", `[note] ${String(err)}`);
    if (ctx.signal.aborted) throw fail(undefined);
    try {
      await writeFile(tmp, `${ctx.options.text ?? "note"} ${ctx.artifact.id}\n`);
      ctx.ui.say("Wrote the note");
      if (ctx.signal.aborted) throw fail(undefined);
      await rename(tmp, out);
    } catch (err) {
      await rm(tmp, { force: true });
      throw fail(err);
    }
    return {
      artifact: { builderType: "note", id: ctx.artifact.id, files: [out], description: `note in ${out}` },
    };
  },
};

const plugin = definePlugin({
  name: "kiln-plugin-example",
  provisioners: [defineProvisioner({ type: "stamp", schema, create: () => stamp })],
  postProcessors: [definePostProcessor({ type: "note", schema, create: () => note })],
});

testProvisioner({
  plugin,
  type: "stamp",
  example: { text: "hello" },
  invalid: [{ text: 1 }],
  verify: async (run) => expect(await readFile(join(run.remoteDir, "stamp.txt"), "utf8")).toBe("hello"),
});

testPostProcessor({
  plugin,
  type: "note",
  example: { text: "built" },
  invalid: [{ text: ["x"] }],
  verify: async (run) =>
    expect(await readFile(join(run.baseDir, "note.txt"), "utf8")).toBe("built conformance-image-1\n"),
});
