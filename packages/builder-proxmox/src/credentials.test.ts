/** Credentials: options, then PROXMOX_* variables, checked before any request. */
import { describe, expect, it } from "vitest";
import { credentials } from "./credentials.js";

const base = { node: "pve" };

describe("credentials", () => {
  it("options win over PROXMOX_* variables; a token wins over a password", () => {
    const env = {
      PROXMOX_URL: "https://env:8006/api2/json",
      PROXMOX_USERNAME: "env@pam",
      PROXMOX_PASSWORD: "pw",
    };
    expect(credentials(base, env)).toEqual({
      url: "https://env:8006/api2/json",
      username: "env@pam",
      password: "pw",
    });
    expect(
      credentials({ ...base, proxmox_url: "https://opt", username: "a@pve!t", token: "s" }, env),
    ).toEqual({
      url: "https://opt",
      username: "a@pve!t",
      token: "s",
    });
  });
  it.each([
    [{}, /proxmox_url is required/],
    [{ proxmox_url: "https://x" }, /username is required/],
    [{ proxmox_url: "https://x", username: "root@pam" }, /a password or an API token is required/],
    [{ proxmox_url: "https://x", username: "root", password: "p" }, /has no realm/],
    [
      { proxmox_url: "https://x", username: "root@pam!t", password: "p" },
      /names an API token but no token secret/,
    ],
  ])("%j is refused: %s", (o, message) => {
    expect(() => credentials({ ...base, ...o }, {})).toThrow(message);
  });
});
