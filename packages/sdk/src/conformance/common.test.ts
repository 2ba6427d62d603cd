import { stat } from "node:fs/promises";
import { describe, expect, it } from "vitest";
import { createConformanceRun, expectFailure, expectNoSecrets, settleWithin } from "./common.js";

describe("conformance helpers", () => {
  it("createConformanceRun: events are redacted, ctx.secret registers, abort and dispose work", async () => {
    const r = await createConformanceRun({ builderType: "null", secrets: ["given-secret"] });
    r.ctx.ui.say("given-secret");
    r.ctx.secret("later-secret");
    r.ctx.ui.say("later-secret");
    expect(r.events.map((e) => (e as { text?: string }).text)).toEqual(["<sensitive>", "<sensitive>"]);
    expect(r.secrets).toEqual(["given-secret", "later-secret"]);
    expect(() => expectNoSecrets(r.events, r.secrets)).not.toThrow();
    const temp = await r.ctx.tempDir();
    r.abort();
    expect(r.ctx.signal.aborted).toBe(true);
    await r.dispose();
    await expect(stat(temp)).rejects.toThrow();
    await expect(stat(r.ctx.baseDir)).rejects.toThrow();
  });

  it("expectFailure accepts a [type] message and refuses crashes and unnamed errors", () => {
    expect(() => expectFailure(new Error("[shell] script exited with code 3"), "shell", "x")).not.toThrow();
    expect(() => expectFailure(new TypeError("[shell] x is undefined"), "shell", "x")).toThrow(/crashed/);
    expect(() => expectFailure(new Error("exited with code 3"), "shell", "x")).toThrow(/\[shell\]/);
    expect(() => expectFailure(undefined, "shell", "x")).toThrow(/succeeded/);
  });

  it("settleWithin tells a promise that ended from one that did not", async () => {
    expect(await settleWithin(Promise.resolve(1), 1000)).toEqual({ settled: true, ok: true, value: 1 });
    const never = new Promise(() => {});
    expect(await settleWithin(never, 10)).toEqual({ settled: false });
  });
});
