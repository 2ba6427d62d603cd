/**
 * Which address pool guests get by default: a LoPool (198.18.0.0/15 on lo) where this process
 * can add addresses to lo (root with CAP_NET_ADMIN, iproute2) — tried for real — else, on a
 * dev machine, the old 127.0.0.N LoopbackPool. Under CI=true (CI runs as root) not being able
 * to add is an error that says why. KILN_GUEST_ADDRESSES=loopback forces 127.0.0.N (for
 * debugging; clients such as Packer skip those addresses), =lo forces the LoPool.
 */
import { type AddressPool, LoopbackPool } from "./addresses.js";
import { loUnavailable } from "./lo.js";
import { LoPool } from "./lo-pool.js";

export interface DefaultPoolOptions {
  env?: NodeJS.ProcessEnv;
  /** Why addresses cannot be added to lo, "" when they can (default: a real trial, lo.ts). */
  unavailable?: () => string;
}

/** The kind of pool guests get here: "lo" (198.18.0.0/15 on lo) or "loopback" (127.0.0.N). */
export type AddressMode = "lo" | "loopback";

/** The decision of defaultAddressPool, for callers that need to know it (tests' patterns). */
export function defaultAddressMode(o: DefaultPoolOptions = {}): AddressMode {
  const env = o.env ?? process.env;
  const mode = env.KILN_GUEST_ADDRESSES;
  if (mode !== undefined && mode !== "" && mode !== "loopback" && mode !== "lo")
    throw new Error(`KILN_GUEST_ADDRESSES=${mode}: use "lo" (198.18.0.0/15 on lo) or "loopback" (127.0.0.N)`);
  if (mode === "loopback") return "loopback";
  const why = (o.unavailable ?? (() => loUnavailable()))();
  if (!why) return "lo";
  if (mode === "lo" || env.CI === "true")
    throw new Error(
      `guest addresses: cannot add an address to lo (${why}). Guests get addresses in 198.18.0.0/15 ` +
        "on lo, which needs root with CAP_NET_ADMIN and ip (iproute2); " +
        (mode === "lo"
          ? "KILN_GUEST_ADDRESSES=lo is set."
          : "CI=true runs as root, so this is an error here.") +
        " KILN_GUEST_ADDRESSES=loopback uses 127.0.0.N instead (clients such as Packer skip those).",
    );
  return "loopback";
}

export function defaultAddressPool(o: DefaultPoolOptions = {}): AddressPool {
  return defaultAddressMode(o) === "lo" ? new LoPool() : new LoopbackPool();
}
