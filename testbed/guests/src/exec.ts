/** Host tools the runner calls (qemu-img, genisoimage/xorriso): found on PATH, run with stderr kept. */
import { spawn, spawnSync } from "node:child_process";

/** Whether `tool` is on the PATH. */
export const hasTool = (tool: string): boolean =>
  spawnSync("sh", ["-c", 'command -v "$1"', "sh", tool], { stdio: "ignore" }).status === 0;

/** Runs `cmd`; resolves with its stdout, rejects with its stderr when it fails. */
export function run(cmd: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const p = spawn(cmd, args, { stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    let err = "";
    p.stdout.on("data", (d) => {
      out += d;
    });
    p.stderr.on("data", (d) => {
      err += d;
    });
    p.on("error", (e) => reject(new Error(`${cmd}: ${e.message}`)));
    p.on("exit", (code) =>
      code === 0 ? resolve(out) : reject(new Error(`${cmd} ${args[0] ?? ""} failed: ${err.trim()}`)),
    );
  });
}
