import { describe, expect, it } from "vitest";
import { CommunicatorError } from "./errors.js";
import { NoneCommunicator } from "./none.js";

describe("NoneCommunicator", () => {
  it("connects and closes, and refuses everything else clearly", async () => {
    const c = new NoneCommunicator();
    await c.connect();
    for (const p of [
      c.exec("true"),
      c.upload(Buffer.from("x"), "/tmp/x"),
      c.uploadDir("a", "b"),
      c.download("a", "b"),
      c.downloadDir("a", "b"),
    ]) {
      const err = await p.then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(CommunicatorError.is(err, "KILN_COMMUNICATOR_NONE")).toBe(true);
      expect((err as Error).message).toMatch(/communicator "none"/);
    }
    await c.close();
  });
});

describe("CommunicatorError.is", () => {
  it("recognises errors by code, not class", () => {
    expect(CommunicatorError.is({ code: "KILN_SSH_TIMEOUT" })).toBe(true);
    expect(CommunicatorError.is({ code: "KILN_SSH_TIMEOUT" }, "KILN_SSH_AUTH_FAILED")).toBe(false);
    expect(CommunicatorError.is(new Error("x"))).toBe(false);
    expect(CommunicatorError.is(null)).toBe(false);
  });
});

describe("createCommunicator", () => {
  it("builds ssh by default, none on request, and rejects unknown types", async () => {
    const { createCommunicator } = await import("./factory.js");
    const { SSHCommunicator } = await import("./ssh.js");
    expect(createCommunicator(undefined, { ssh_host: "h", ssh_username: "u" })).toBeInstanceOf(
      SSHCommunicator,
    );
    expect(createCommunicator("none")).toBeInstanceOf(NoneCommunicator);
    expect(() => createCommunicator("ssh")).toThrow(/ssh_host/);
    expect(() => createCommunicator("winrm" as "ssh")).toThrow(/unknown communicator "winrm"/);
  });

  it("checks SSH options at creation with a clear prefix", async () => {
    const { SSHCommunicator } = await import("./ssh.js");
    expect(() => new SSHCommunicator({ ssh_host: "h", ssh_username: "u", ssh_timeout: "5 minutes" })).toThrow(
      /^\[ssh\] invalid duration/,
    );
    expect(() => new SSHCommunicator({ ssh_host: "h", ssh_username: "" })).toThrow(
      /ssh_username is required/,
    );
    expect(() => new SSHCommunicator({ ssh_host: "h", ssh_username: "u", ssh_port: 70000 })).toThrow(
      /ssh_port/,
    );
    expect(
      () => new SSHCommunicator({ ssh_host: "h", ssh_username: "u", ssh_handshake_attempts: 0 }),
    ).toThrow(/ssh_handshake_attempts/);
    const c = new SSHCommunicator({ ssh_host: "h", ssh_username: "u" });
    await expect(c.connect()).rejects.toMatchObject({
      code: "KILN_SSH_CONFIG",
      message: expect.stringContaining("no authentication method"),
    });
    const k = new SSHCommunicator({ ssh_host: "h", ssh_username: "u", ssh_private_key: "not a key" });
    await expect(k.connect()).rejects.toMatchObject({ code: "KILN_SSH_KEY" });
    await expect(k.connect()).rejects.not.toMatchObject({ message: expect.stringContaining("not a key") });
  });
});
