import { describe, expect, it } from "vitest";
import { credentials } from "./credentials.js";

describe("credentials", () => {
  it("options first, then KAMATERA_* variables, then the public API URL", () => {
    expect(credentials({}, { KAMATERA_API_CLIENT_ID: "id", KAMATERA_API_SECRET: "s" })).toEqual({
      url: "https://cloudcli.cloudwm.com",
      clientId: "id",
      secret: "s",
    });
    expect(
      credentials(
        { api_url: "http://127.0.0.1:9/", api_client_id: "a", api_secret: "b" },
        { KAMATERA_API_CLIENT_ID: "id", KAMATERA_API_SECRET: "s", KAMATERA_API_URL: "https://x" },
      ),
    ).toEqual({ url: "http://127.0.0.1:9", clientId: "a", secret: "b" });
  });
  it("says what is missing, and never shows the secret", () => {
    expect(() => credentials({ api_secret: "s3cr3t-value" }, {})).toThrow(/api_client_id is required/);
    expect(() => credentials({ api_client_id: "a" }, {})).toThrow(/api_secret is required/);
    try {
      credentials({ api_url: "ftp://x", api_client_id: "a", api_secret: "s3cr3t-value" }, {});
    } catch (e) {
      expect((e as Error).message).toMatch(/not an http\(s\) URL/);
      expect((e as Error).message).not.toContain("s3cr3t");
    }
  });
});
