/** Host tools the PVE double runs (qemu-img, genisoimage, xorriso). */
import { spawn, spawnSync } from "node:child_process";

/** Whether `tool` is on the PATH. */
export const hasTool = (tool: string): boolean =>
  spawnSync("sh", ["-c", `command -v ${tool}`], { stdio: "ignore" }).status === 0;

/** Runs `cmd`; rejects with its stderr when it fails. */
export const run = (cmd: string, args: string[]) =>
  new Promise<void>((resolve, reject) => {
    const p = spawn(cmd, args, { stdio: ["ignore", "ignore", "pipe"] });
    let err = "";
    p.stderr.on("data", (d) => {
      err += d;
    });
    p.on("error", reject);
    p.on("exit", (code) => (code === 0 ? resolve() : reject(new Error(`${cmd} failed: ${err.trim()}`))));
  });
