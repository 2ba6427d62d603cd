import { describe, expect, it } from "vitest";
import { REDACTED, SecretRegistry } from "./secrets.js";

const secret = "p@ss w0rd/with+\"quotes\"&'more'";

describe("SecretRegistry", () => {
  const reg = new SecretRegistry();
  reg.add(secret);
  const leaks = (text: string) => reg.redact(text).includes("w0rd");

  it("redacts the raw value anywhere in a line", () => {
    expect(reg.redact(`password=${secret}; done`)).toBe(`password=${REDACTED}; done`);
  });
  it("redacts JSON-escaped, URL-encoded, form-encoded and shell-quoted forms", () => {
    expect(leaks(JSON.stringify({ password: secret }))).toBe(false);
    expect(leaks(`https://x/?p=${encodeURIComponent(secret)}`)).toBe(false);
    expect(leaks(`p=${encodeURIComponent(secret).replace(/%20/g, "+")}`)).toBe(false);
    expect(leaks(`echo '${secret.replace(/'/g, "'\\''")}'`)).toBe(false);
    expect(leaks(`echo "${secret.replace(/(["\\$`])/g, "\\$1")}"`)).toBe(false);
  });
  it("redacts base64 of the secret at every alignment inside a longer text", () => {
    for (const prefix of ["", "a", "ab", "abc", "user:"]) {
      const b64 = Buffer.from(`${prefix}${secret}tail`).toString("base64");
      const out = reg.redact(`Authorization: Basic ${b64}`);
      expect(out).toContain(REDACTED);
      // what is left cannot be decoded back to the secret
      expect(
        Buffer.from(out.replace(/.*Basic /, "").replace(REDACTED, ""), "base64").toString(),
      ).not.toContain("w0rd");
    }
  });
  it("redacts each line of a multi-line secret (a private key)", () => {
    const key =
      "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\nQyNTUxOQAAACBmZXRjaGVk\n-----END OPENSSH PRIVATE KEY-----";
    const r = new SecretRegistry();
    r.add(key);
    const printed = key
      .split("\n")
      .map((l) => `remote: ${l}`)
      .join("\n");
    const out = r.redact(printed);
    expect(out).not.toContain("b3BlbnNzaC1rZXktdjEAAAAA");
    expect(out).not.toContain("QyNTUxOQAAACBmZXRjaGVk");
  });
  it("redacts strings inside values and ignores empty secrets", () => {
    const r = new SecretRegistry();
    r.add("");
    expect(r.size).toBe(0);
    r.addAll({ a: ["tok-123456"], b: 5 });
    expect(r.redactValue({ msg: "got tok-123456", n: 1 })).toEqual({ msg: `got ${REDACTED}`, n: 1 });
  });
});
