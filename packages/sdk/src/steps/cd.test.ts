import { existsSync } from "node:fs";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Deferred } from "@kiln/core";
import { afterAll, describe, expect, it } from "vitest";
import { findIsoTool } from "../iso/make.js";
import { CD_IMAGE } from "../state.js";
import { cdStep, wantsCd } from "./cd.js";
import { stepContext } from "./steps.test-context.js";

const run = findIsoTool() || process.env.CI === "true" ? it : it.skip;

describe("cdStep", () => {
  let dir: string;
  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it("does nothing without cd_files or cd_content", async () => {
    expect(wantsCd({})).toBe(false);
    expect(wantsCd({ cd_content: {} })).toBe(false);
    const { ctx } = stepContext("/");
    await cdStep({ cd_label: "cidata" }).run(ctx);
    expect(ctx.state.get(CD_IMAGE)).toBeUndefined();
  });

  run("makes a labelled ISO from cd_content, rendered, in a run temp folder removed at the end", async () => {
    dir = await mkdtemp(join(tmpdir(), "kiln-cd-"));
    const { ctx, dispose } = stepContext(dir);
    ctx.buildVars.SSHPublicKey = "ssh-ed25519 AAAA test";
    await cdStep({
      cd_label: "cidata",
      cd_content: {
        "meta-data": "instance-id: x\n",
        "user-data": Deferred.parse("key: ${{ build.SSHPublicKey }}\n") as unknown as string,
      },
    }).run(ctx);
    const cd = ctx.state.require(CD_IMAGE);
    expect(cd.files.sort()).toEqual(["meta-data", "user-data"]);
    expect(existsSync(cd.path)).toBe(true);
    const { execFileSync } = await import("node:child_process");
    const listing = execFileSync("xorriso", ["-indev", cd.path, "-pvd_info"], { stdio: "pipe" }).toString();
    expect(listing).toMatch(/Volume Id\s*:\s*cidata/i);
    const out = join(dir, "user-data.out");
    execFileSync("xorriso", ["-osirrox", "on", "-indev", cd.path, "-extract", "/user-data", out], {
      stdio: "ignore",
    });
    const text = await readFile(out, "utf8");
    expect(text).toContain("key: ssh-ed25519 AAAA test");
    await dispose();
    expect(existsSync(cd.path)).toBe(false);
  });
});
