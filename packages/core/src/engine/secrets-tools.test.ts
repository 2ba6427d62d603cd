/**
 * The forms real tools print a secret in (python's urllib, bash's printf %q, base64, xxd, od),
 * produced by the tools themselves and sent through the event bus line by line as a
 * provisioner's output would be: no line any renderer sees holds the secret or a piece of it.
 */
import { execFileSync } from "node:child_process";
import { describe, expect, it } from "vitest";
import { EventBus, type KilnEvent } from "./events.js";
import { REDACTED } from "./secrets.js";

function has(tool: string): boolean {
  try {
    execFileSync("sh", ["-c", `command -v ${tool}`], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

const tools = ["python3", "bash", "base64", "xxd", "od"];
const missing = tools.filter((t) => !has(t));
if (missing.length && process.env.CI === "true")
  throw new Error(`missing tools in CI: ${missing.join(", ")}`);

/** 90 bytes: more than one 76-column base64 line, with URL- and shell-special characters. */
const PRINTABLE =
  "s3cr3t pass/word+plus&amp=eq?q #hash 'single' \"double\" $dollar `tick` \\back é~!*() 0123456789";
/** With control characters: printf %q switches to $'…'. */
const CONTROL = "line one\tcol\nline two\u0001\u001b end of the secret value, long enough to wrap 1234567890";

function tool(cmd: string, args: string[], input: string): string {
  return execFileSync(cmd, args, { input, encoding: "utf8" });
}

/** What the renderers see when `printed` is a command's stdout. */
function rendered(secret: string, printed: string): string {
  const bus = new EventBus();
  bus.secrets.add(secret);
  const lines: string[] = [];
  bus.subscribe((e: KilnEvent) => {
    if (e.type === "output") lines.push(e.line);
  });
  bus.output("run", "shell", "stdout", printed);
  bus.flush();
  return lines.join("\n");
}

/** What is left of the output once the redaction markers are removed: no run of 5+ alphanumerics. */
function residue(out: string): string[] {
  return (
    out
      .split(REDACTED)
      .join(" ")
      .match(/[A-Za-z0-9]{5,}/g) ?? []
  );
}

const forms: Array<[string, (s: string) => string]> = [
  [
    "python quote",
    (s) => tool("python3", ["-c", "import sys,urllib.parse as u;print(u.quote(sys.stdin.read()))"], s),
  ],
  [
    "python quote safe=''",
    (s) =>
      tool("python3", ["-c", "import sys,urllib.parse as u;print(u.quote(sys.stdin.read(),safe=''))"], s),
  ],
  [
    "python quote_plus",
    (s) => tool("python3", ["-c", "import sys,urllib.parse as u;print(u.quote_plus(sys.stdin.read()))"], s),
  ],
  [
    "lower-case percent hex",
    (s) =>
      tool(
        "python3",
        [
          "-c",
          "import sys,re,urllib.parse as u;print(re.sub('%..',lambda m:m[0].lower(),u.quote(sys.stdin.read())))",
        ],
        s,
      ),
  ],
  [
    "python json.dumps",
    (s) => tool("python3", ["-c", "import sys,json;print(json.dumps(sys.stdin.read()))"], s),
  ],
  ["bash printf %q", (s) => tool("bash", ["-c", 'printf "%q\\n" "$(cat)"'], s)],
  ["base64 (wrapped at 76)", (s) => tool("base64", [], s)],
  ["xxd -p (wrapped at 60)", (s) => tool("xxd", ["-p"], s)],
  ["xxd -u -p", (s) => tool("xxd", ["-u", "-p"], s)],
  ["xxd -g1 hex columns", (s) => tool("xxd", ["-g1", "-c16"], s).replace(/^[0-9a-f]+: | {2}.*$/gm, "")],
  ["od -An -tx1", (s) => tool("od", ["-An", "-tx1"], s)],
];

describe.skipIf(missing.length > 0)("secrets printed by real tools", () => {
  for (const [name, make] of forms) {
    for (const [which, secret] of [
      ["printable", PRINTABLE],
      ["control chars", CONTROL],
    ] as const) {
      it(`${name} of a ${which} secret is redacted`, () => {
        const printed = make(secret);
        const out = rendered(secret, printed);
        expect(out).toContain(REDACTED);
        expect(residue(out), out).toEqual([]);
      });
    }
  }

  it("base64 of a secret inside a longer text, at each alignment, keeps no 76-column line of it", () => {
    for (const prefix of ["", "a", "ab", "user:"]) {
      const printed = tool("base64", [], `${prefix}${PRINTABLE}${PRINTABLE}:tail`);
      const out = rendered(PRINTABLE, printed);
      // left: the encoding of the prefix and tail only, and the bytes straddling them
      expect(residue(out).join("").length, out).toBeLessThanOrEqual(16);
    }
  });

  it("a hex dump of a secret inside a longer text keeps only the hex of the text around it", () => {
    const printed = tool("od", ["-An", "-tx1"], `header:${PRINTABLE}:footer`);
    const out = rendered(PRINTABLE, printed);
    expect(out).not.toMatch(/73 33 63 72 33 74/); // "s3cr3t"
    expect(out).toMatch(/68 65 61 64 65 72/); // "header" is not the secret
  });

  it("leaves unrelated base64 and hex alone", () => {
    const other = tool("base64", [], "x".repeat(200));
    expect(rendered(PRINTABLE, other)).toBe(other.trimEnd());
  });
});
