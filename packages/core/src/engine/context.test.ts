import { describe, expect, it } from "vitest";
import { Deferred } from "../expr/deferred.js";
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
    expect(
      ctx.render([
        Deferred.parse("http://${{ http.ip }}:${{ http.port }}/"),
        { k: Deferred.parse("${{ build.SourceName }}") },
      ]),
    ).toEqual(["http://10.0.2.2:8123/", { k: "s" }]);
    expect(ctx.render(Deferred.parse("${{ path.root }}/${{ source.type }}"))).toBe("/srv/qemu");
  });

  it("resolves before the run only what needs nothing of it, even through a local", () => {
    // A local computed from http.* is itself a marker; an option reading that local must wait
    // for the HTTP server, or it would be typed with an empty address.
    const bootLine = Deferred.parse('${{ format("url=http://%s:%s/", http.ip, http.port) }}');
    const owned = createRunContext({
      run,
      ui: new EventBus().ui(run.name),
      baseDir: "/",
      variables: { v: "x" },
      locals: { boot_line: bootLine },
    });
    const opts = owned.resolveKnown({
      boot: [Deferred.parse("${{ local.boot_line }}")],
      name: Deferred.parse("${{ var.v }}"),
    });
    expect(opts.name).toBe("x");
    expect(opts.boot[0]).toBeInstanceOf(Deferred);
    owned.ctx.buildVars.PackerHTTPIP = "10.0.2.2";
    owned.ctx.buildVars.PackerHTTPPort = 8000;
    expect(owned.ctx.render(opts.boot)).toEqual(["url=http://10.0.2.2:8000/"]);
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
    expect(ctx.render(Deferred.parse("${{ var.v }}-${{ local.l }}-${{ env.HOME_X }}"))).toBe("x-2-/home/x");
    expect(() => ctx.render(Deferred.parse("${{ var.nope }}"))).toThrow();
  });

  it("evaluates only the loader's markers: a plain string is data, never parsed again", () => {
    const { ctx } = createRunContext({ run, ui: new EventBus().ui(run.name), baseDir: "/srv" });
    const plain = ["${{ 1 + 1 }}", { k: "${{ sha256(env.HOME) }}" }, "$${{ x }}"];
    expect(ctx.render(plain)).toEqual(plain);
    // A local that needs build values is a marker too, evaluated where it is read.
    const { ctx: c2 } = createRunContext({
      run,
      ui: new EventBus().ui(run.name),
      baseDir: "/srv",
      locals: { id: Deferred.parse("${{ build.BuildName }}-${{ source.name }}") },
    });
    expect(c2.render(Deferred.parse("[${{ local.id }}]"))).toBe("[b-s]");
  });

  it("registers what a sensitive marker gives as a secret", () => {
    const seen: string[] = [];
    const { ctx } = createRunContext({
      run,
      ui: new EventBus().ui(run.name),
      baseDir: "/",
      variables: { pw: "hunter2-secret" },
      secret: (v) => seen.push(v),
    });
    expect(ctx.render(Deferred.parse("${{ upper(var.pw) }}:${{ build.ID }}", true))).toBe("HUNTER2-SECRET:");
    expect(seen).toEqual(["HUNTER2-SECRET:"]);
    expect(ctx.render(Deferred.parse("${{ build.BuildName }}"))).toBe("b");
    expect(seen).toHaveLength(1);
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
