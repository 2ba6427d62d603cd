/**
 * Shared by the double's tests that boot real guests: find (or, under CI=true, build) the test
 * appliance's disk, and run a command on a guest over SSH (ssh2 from the SDK's dependencies).
 */
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import { createRequire } from "node:module";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

export const CI = process.env.CI === "true";
export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../..");

export { hasTool } from "./exec.js";

/** The appliance's disk.qcow2: $KILN_PVE_APPLIANCE_DISK, the newest cached one, or (CI) a fresh build. */
export async function findApplianceDisk(): Promise<string | undefined> {
  if (process.env.KILN_PVE_APPLIANCE_DISK) return process.env.KILN_PVE_APPLIANCE_DISK;
  const cache = process.env.KILN_APPLIANCE_CACHE ?? path.join(os.homedir(), ".cache/kiln/appliance");
  const found = fs.existsSync(cache)
    ? fs
        .readdirSync(cache)
        .map((d) => path.join(cache, d))
        .filter((d) => fs.existsSync(path.join(d, ".complete")) && fs.existsSync(path.join(d, "disk.qcow2")))
        .sort((a, b) => fs.statSync(b).mtimeMs - fs.statSync(a).mtimeMs)
    : [];
  if (found[0]) return path.join(found[0], "disk.qcow2");
  if (!CI) return undefined;
  // CI must run these tests: build the appliance (testbed/appliance/build.sh prints disk=PATH)
  const r = spawnSync("bash", [path.join(repoRoot, "testbed/appliance/build.sh")], { encoding: "utf8" });
  return /^disk=(.+)$/m.exec(r.stdout)?.[1];
}

interface SshClient {
  on(ev: "ready", cb: () => void): SshClient;
  on(ev: "error", cb: (e: Error) => void): SshClient;
  connect(cfg: Record<string, unknown>): void;
  exec(
    cmd: string,
    cb: (err: Error | undefined, stream: { on(ev: string, cb: (d: Buffer) => void): unknown }) => void,
  ): void;
  end(): void;
}

export interface Ssh2 {
  Client: new () => SshClient;
  utils: {
    generateKeyPairSync(type: "ed25519", o?: { comment?: string }): { private: string; public: string };
  };
}

export const ssh2 = (): Ssh2 =>
  createRequire(path.join(repoRoot, "packages/sdk/package.json"))("ssh2") as Ssh2;

/** Run `command` as root on `host`:`port` with a password or a key; resolves with stdout. */
export function sshExec(
  { host, port }: { host: string; port: number },
  auth: { password: string } | { privateKey: string },
  command: string,
): Promise<string> {
  return new Promise((resolve, reject) => {
    const c = new (ssh2().Client)();
    c.on("error", reject);
    c.on("ready", () =>
      c.exec(command, (err, stream) => {
        if (err) return reject(err);
        let out = "";
        stream.on("data", (d) => {
          out += d.toString();
        });
        stream.on("close", () => {
          c.end();
          resolve(out);
        });
      }),
    );
    c.connect({ host, port, username: "root", ...auth, readyTimeout: 20_000 });
  });
}
