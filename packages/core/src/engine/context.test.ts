import { describe, expect, it } from "vitest";
import { createRunContext } from "./context.js";
import { EventBus } from "./events.js";
import { COMMUNICATOR, stateKey } from "./state.js";
import type { RunInfo } from "./types.js";

const run: RunInfo = { name: "b.qemu.s", build: "b", source: "s", type: "qemu", runUuid: "uuid-1" };

describe("createRunContext", () => {
  it("starts the build vars as the engine does and renders build.* and http.* as they are now", () => {
    const { ctx } = createRunContext({ run, ui: new EventBus().ui(run.name), baseDir: "/srv" });
    expect(ctx.buildVars).toMatchObject({
      PackerRunUUID: "uuid-1",
      BuildName: "b",
      SourceName: "s",
      BuilderType: "qemu",
      ID: "",
    });
    ctx.buildVars.PackerHTTPIP = "10.0.2.2";
    ctx.buildVars.PackerHTTPPort = 8123;
    expect(ctx.render(["http://${{ http.ip }}:${{ http.port }}/", { k: "${{ build.SourceName }}" }])).toEqual(
      ["http://10.0.2.2:8123/", { k: "s" }],
    );
    expect(ctx.render("${{ path.root }}/${{ source.type }}")).toBe("/srv/qemu");
  });

  it("knows var, local and env for build-time expressions", () => {
    const { ctx } = createRunContext({
      run,
      ui: new EventBus().ui(run.name),
      baseDir: "/",
      variables: { v: "x" },
      locals: { l: 2 },
      env: { HOME_X: "/home/x", UNSET: undefined },
    });
    expect(ctx.render("${{ var.v }}-${{ local.l }}-${{ env.HOME_X }}")).toBe("x-2-/home/x");
    expect(() => ctx.render("${{ var.nope }}")).toThrow();
  });

  it("routes secrets, and removes its temp folders on dispose", async () => {
    const seen: string[] = [];
    const { ctx, dispose } = createRunContext({
      run,
      ui: new EventBus().ui(run.name),
      baseDir: "/",
      secret: (v) => seen.push(v),
    });
    ctx.secret("hunter2");
    expect(seen).toEqual(["hunter2"]);
    const { existsSync } = await import("node:fs");
    const d = await ctx.tempDir("kiln-ctx-test-");
    expect(existsSync(d)).toBe(true);
    await dispose();
    expect(existsSync(d)).toBe(false);
  });
});

describe("state keys", () => {
  it("carry a name and a type; values are found by name, so two copies of a key agree", () => {
    const { ctx } = createRunContext({ run, ui: new EventBus().ui(run.name), baseDir: "/" });
    const A = stateKey<number>("a");
    const alsoA = stateKey<number>("a");
    expect(ctx.state.has(A)).toBe(false);
    expect(() => ctx.state.require(A)).toThrow(/state "a" was not set by an earlier step/);
    ctx.state.put(A, 3);
    expect(ctx.state.get(alsoA)).toBe(3);
    ctx.state.delete(alsoA);
    expect(ctx.state.get(A)).toBeUndefined();
    expect(COMMUNICATOR.name).toBe("communicator");
  });
});
