/**
 * Addresses on the host's `lo` interface, through `ip` (iproute2): add one as /32 (with a
 * label, so kiln's own can be told from anyone else's), remove it, list them. Adding needs
 * root with CAP_NET_ADMIN; `loUnavailable()` tries it for real once per process.
 */
import { spawnSync } from "node:child_process";

/** The label kiln's addresses carry on lo (`ip -4 addr show dev lo` shows it last). */
export const KILN_LO_LABEL = "lo:kiln";

/** What a pool needs from lo (injectable, for tests). */
export interface LoOps {
  /** Adds `address/32` with kiln's label: "exists" when it is already there (any label). */
  add(address: string): "added" | "exists";
  /** Removes `address/32`; one that is not there is fine. */
  remove(address: string): void;
  /** The IPv4 addresses on lo with their labels. */
  list(): { address: string; label: string }[];
}

function ip(args: string[]): { ok: boolean; out: string; err: string } {
  const r = spawnSync("ip", args, { encoding: "utf8", timeout: 10_000 });
  if (r.error) {
    const missing = (r.error as NodeJS.ErrnoException).code === "ENOENT";
    return { ok: false, out: "", err: missing ? "ip (iproute2) is not installed" : r.error.message };
  }
  return { ok: r.status === 0, out: r.stdout, err: (r.stderr || `ip exited with ${r.status}`).trim() };
}

const EXISTS = /File exists|already assigned/i;
const NOT_THERE = /Cannot assign requested address|Address not found|not found/i;

export const ipLo: LoOps = {
  add(address) {
    const r = ip(["-4", "addr", "add", `${address}/32`, "dev", "lo", "label", KILN_LO_LABEL]);
    if (r.ok) return "added";
    if (EXISTS.test(r.err)) return "exists";
    throw new Error(`ip addr add ${address}/32 dev lo: ${r.err}`);
  },
  remove(address) {
    const r = ip(["-4", "addr", "del", `${address}/32`, "dev", "lo"]);
    if (!r.ok && !NOT_THERE.test(r.err)) throw new Error(`ip addr del ${address}/32 dev lo: ${r.err}`);
  },
  list() {
    const r = ip(["-4", "-o", "addr", "show", "dev", "lo"]);
    if (!r.ok) throw new Error(`ip addr show dev lo: ${r.err}`);
    const out: { address: string; label: string }[] = [];
    // "1: lo    inet 198.18.0.5/32 scope global lo:kiln\       valid_lft forever …"
    for (const line of r.out.split("\n")) {
      const m = /\binet (\d+\.\d+\.\d+\.\d+)\/\d+ .*?(\S+)\\/.exec(line);
      if (m) out.push({ address: m[1] as string, label: m[2] as string });
    }
    return out;
  },
};

/** The address the trial add uses: in 198.18.0.0/15, outside the range the pool hands out. */
export const PROBE_ADDRESS = "198.19.255.254";

let probed: string | undefined;

/**
 * Why this process cannot add addresses to lo ("" when it can), from a real add and delete of
 * PROBE_ADDRESS (done once per process). "exists" counts as success: the kernel checks the
 * right to change addresses before it looks for the address (another process is probing).
 */
export function loUnavailable(ops: Pick<LoOps, "add" | "remove"> = ipLo): string {
  if (ops === ipLo && probed !== undefined) return probed;
  let why = "";
  try {
    ops.add(PROBE_ADDRESS);
    try {
      ops.remove(PROBE_ADDRESS);
    } catch {
      /* another prober removed it first */
    }
  } catch (e) {
    why = (e as Error).message;
  }
  if (ops === ipLo) probed = why;
  return why;
}
