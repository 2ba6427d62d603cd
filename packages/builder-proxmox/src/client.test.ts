/** The API client's pure parts. */
import { describe, expect, it } from "vitest";
import { normalizeUrl } from "./client.js";

describe("proxmox_url", () => {
  it("gets /api2/json when it is missing, and must be http(s)", () => {
    expect(normalizeUrl("https://pve:8006").href).toBe("https://pve:8006/api2/json");
    expect(normalizeUrl("https://pve:8006/api2/json/").href).toBe("https://pve:8006/api2/json");
    expect(() => normalizeUrl("pve:8006")).toThrow(/must be https/);
    expect(() => normalizeUrl("not a url")).toThrow(/is not a URL/);
  });
});
