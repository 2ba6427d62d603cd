import { createHash } from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { SOURCE_FILE } from "../state.js";
import { downloadStep, downloadUrls } from "./download.js";
import { stepContext } from "./steps.test-context.js";

describe("downloadStep", () => {
  let dir: string;
  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it("verifies a local file against iso_checksum and leaves its path in SOURCE_FILE", async () => {
    dir = await mkdtemp(join(tmpdir(), "kiln-dl-"));
    await writeFile(join(dir, "a.iso"), "iso bytes");
    const sum = createHash("sha256").update("iso bytes").digest("hex");
    const { ctx } = stepContext(dir);
    await downloadStep({ iso_url: "a.iso", iso_checksum: `sha256:${sum}` }).run(ctx);
    expect(ctx.state.require(SOURCE_FILE).path).toBe(join(dir, "a.iso"));
    const bad = stepContext(dir);
    await expect(
      downloadStep({ iso_url: "a.iso", iso_checksum: `sha256:${"0".repeat(64)}` }).run(bad.ctx),
    ).rejects.toThrow(/checksum|sha256/i);
    expect(bad.ctx.state.get(SOURCE_FILE)).toBeUndefined();
  });

  it("tries iso_urls in order, else iso_url", () => {
    expect(downloadUrls({ iso_url: "a", iso_urls: ["b", "c"] })).toEqual(["b", "c"]);
    expect(downloadUrls({ iso_url: "a" })).toEqual(["a"]);
    expect(downloadUrls({})).toEqual([]);
  });
});
