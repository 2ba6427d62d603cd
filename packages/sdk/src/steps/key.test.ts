import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { generateTemporaryKeyPair } from "../communicator/keys.js";
import { TEMPORARY_KEY } from "../state.js";
import { temporaryKeyStep } from "./key.js";
import { stepContext } from "./steps.test-context.js";

const base = { communicator: "ssh" as const, ssh_port: 22, temporary_key_pair_type: "ed25519" as const };

describe("temporaryKeyStep", () => {
  let dir: string;
  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it("makes a key when nothing else logs in: registered as a secret, public half in build.SSHPublicKey", async () => {
    const { ctx } = stepContext("/");
    await temporaryKeyStep({ ...base, ssh_username: "u" } as never).run(ctx);
    const key = ctx.state.require(TEMPORARY_KEY);
    expect(ctx.buildVars.SSHPublicKey).toBe(key.publicKey);
    expect(key.publicKey).toMatch(/^ssh-ed25519 /);
  });

  it("with ssh_private_key_file, makes none and gives build.SSHPublicKey the file's public half (as Packer)", async () => {
    dir = await mkdtemp(join(tmpdir(), "kiln-key-"));
    const k = generateTemporaryKeyPair();
    await writeFile(join(dir, "id"), k.privateKey, { mode: 0o600 });
    const { ctx } = stepContext(dir);
    await temporaryKeyStep({ ...base, ssh_private_key_file: "id" } as never).run(ctx);
    expect(ctx.state.get(TEMPORARY_KEY)).toBeUndefined();
    expect(String(ctx.buildVars.SSHPublicKey).split(" ").slice(0, 2)).toEqual(
      k.publicKey.split(" ").slice(0, 2),
    );
    const unreadable = stepContext(dir);
    await temporaryKeyStep({ ...base, ssh_private_key_file: "missing" } as never).run(unreadable.ctx);
    expect(unreadable.ctx.buildVars.SSHPublicKey).toBe("");
    expect(unreadable.says().some((s) => s.startsWith("build.SSHPublicKey stays empty"))).toBe(true);
  });
});
