/**
 * kiln build end to end against a real OpenSSH server: the null builder connects, the shell and
 * shell-local provisioners run; secrets never reach any renderer or log; Ctrl-C mid-provisioning
 * leaves no process or temp file behind.
 */
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { generateTemporaryKeyPair } from "@kiln/sdk";
import { type Sshd, sshdAvailability, startSshd } from "@kiln/sdk/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const bin = fileURLToPath(new URL("../bin.js", import.meta.url));
// Inside the repo, so the first-party plugins resolve from its node_modules as in a project.
const scratch = mkdtempSync(join(fileURLToPath(new URL("../test/", import.meta.url)), "tmp-e2e-"));
const avail = sshdAvailability();
const run = avail.available || process.env.CI === "true";
if (!run) console.warn(`skipping kiln build over SSH: ${avail.reason}`);

let sshd: Sshd;
const key = generateTemporaryKeyPair("ed25519");
const keyFile = join(scratch, "id_test");
const SECRET = "Zq9-Sup3r/S3cret+Value";

beforeAll(async () => {
  if (!run) return;
  writeFileSync(keyFile, key.privateKey, { mode: 0o600 });
  sshd = await startSshd({ authorizedKeys: [key.publicKey] });
});
afterAll(async () => {
  await sshd?.stop();
  rmSync(scratch, { recursive: true, force: true });
});

function buildFile(name: string, provisioners: string): string {
  const f = join(scratch, `${name}.yaml`);
  writeFileSync(
    f,
    `kiln: 1
variables:
  api_token: { type: string, sensitive: true, default: "${SECRET}" }
sources:
  host:
    type: "null"
    ssh_host: 127.0.0.1
    ssh_port: ${sshd.port}
    ssh_username: ${sshd.user.username}
    ssh_private_key_file: ${keyFile}
    ssh_timeout: 30s
builds:
  - name: e2e
    sources: [host]
    provisioners:
${provisioners}
`,
  );
  return f;
}

function kiln(args: string[]) {
  const r = spawnSync(process.execPath, [bin, ...args], {
    encoding: "utf8",
    env: { ...process.env, NO_COLOR: "1" },
    timeout: 90_000,
  });
  return { code: r.status, out: `${r.stdout}${r.stderr}` };
}

describe.runIf(run)("kiln build over SSH", () => {
  it("provisions a real host with shell and file, and the results are there", () => {
    const home = sshd.user.home;
    const f = buildFile(
      "ok",
      `      - type: shell
        inline:
          - echo "hello from $(hostname)" > ${home}/greeting
          - echo "build ${"$"}{PACKER_BUILD_NAME}" >> ${home}/greeting
      - type: file
        content: "uploaded by kiln\\n"
        destination: ${home}/uploaded.txt`,
    );
    const r = kiln(["build", f]);
    expect(r.out).toContain("e2e.null.host: finished");
    expect(r.code).toBe(0);
    expect(readFileSync(join(home, "greeting"), "utf8")).toMatch(/^hello from .+\nbuild host\n$/);
    expect(readFileSync(join(home, "uploaded.txt"), "utf8")).toBe("uploaded by kiln\n");
  });

  it("a sensitive variable echoed in several encodings never reaches any renderer or log", () => {
    const printers = [
      'echo "raw: ${{ var.api_token }}"',
      "echo \"b64: $(printf '%s' '${{ var.api_token }}' | base64 -w0)\"",
      "echo \"b64 inside: $(printf 'user:%s' '${{ var.api_token }}' | base64 -w0)\"",
      `echo "json: {\\"token\\": \\"$(printf '%s' '\${{ var.api_token }}')\\"}"`,
      'echo "url: ${{ replace(replace(var.api_token, "/", "%2F"), "+", "%2B") }}"',
      "echo \"hex: $(printf '%s' '${{ var.api_token }}' | od -An -tx1 | tr -d ' \\n')\"",
      "printf 'multi: %s\\n' '${{ var.api_token }}' >&2",
    ];
    const f = buildFile(
      "secrets",
      `      - type: shell
        inline:
${printers.map((p) => `          - ${JSON.stringify(p)}`).join("\n")}`,
    );
    const encodings = [
      SECRET,
      Buffer.from(SECRET).toString("base64"),
      Buffer.from(`user:${SECRET}`).toString("base64").slice(8, 30),
      encodeURIComponent(SECRET),
      Buffer.from(SECRET).toString("hex"),
    ];
    const outputs: Record<string, string> = {};
    for (const mode of [[], ["--json"], ["--machine-readable"], ["--timestamp-ui"]]) {
      const r = kiln(["build", ...mode, f]);
      expect(r.code).toBe(0);
      outputs[mode.join("") || "plain"] = r.out;
    }
    outputs.log = readFileSync(join(scratch, ".kiln/logs/e2e.null.host.log"), "utf8");
    expect(outputs.plain).toContain("raw: <sensitive>");
    expect(outputs.plain).toContain("b64: <sensitive>");
    for (const [where, text] of Object.entries(outputs)) {
      for (const enc of encodings)
        expect({ where, leaked: text.includes(enc) }).toEqual({ where, leaked: false });
    }
  });

  it("Ctrl-C mid-provisioning: cleanups run, no child process or temp file is left, exit 1", async () => {
    const marker = `kiln-e2e-sleep-${process.pid}`;
    const f = buildFile(
      "interrupt",
      `      - type: shell-local
        inline: ["sh -c 'sleep 300; true' ${marker}"]`,
    );
    const tmpBefore = new Set(readdirSync(tmpdir()));
    const child = spawn(process.execPath, [bin, "build", f], { env: { ...process.env, NO_COLOR: "1" } });
    const exited = new Promise<number | null>((resolve) => child.on("exit", resolve));
    let out = "";
    child.stdout.on("data", (d) => {
      out += d;
    });
    child.stderr.on("data", (d) => {
      out += d;
    });
    const pgrep = () => spawnSync("pgrep", ["-f", marker], { encoding: "utf8" }).stdout.trim();
    const deadline = Date.now() + 60_000;
    while (!pgrep() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    expect(pgrep()).not.toBe("");
    child.kill("SIGINT");
    const code = await exited;
    expect(code).toBe(1);
    expect(out).toContain("SIGINT");
    expect(out).toMatch(/e2e\.null\.host: failed after .*interrupted/);
    expect(pgrep()).toBe("");
    const leftovers = readdirSync(tmpdir()).filter((n) => !tmpBefore.has(n) && /kiln/.test(n));
    expect(leftovers).toEqual([]);
  });
});
