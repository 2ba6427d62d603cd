/** Dotted-quad IPv4 addresses as numbers, and ranges of them (pure). */

/** The address as an unsigned 32-bit number, or undefined when `a` is not a dotted quad. */
export function ipv4ToInt(a: string): number | undefined {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(a);
  if (!m) return undefined;
  const p = m.slice(1).map(Number);
  if (p.some((x) => x > 255)) return undefined;
  return (
    (((p[0] as number) << 24) >>> 0) + ((p[1] as number) << 16) + ((p[2] as number) << 8) + (p[3] as number)
  );
}

export function intToIpv4(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join(".");
}

/** Whether `a` is in `cidr` ("198.18.0.0/15"). */
export function inCidr(a: string, cidr: string): boolean {
  const [net, bits] = cidr.split("/");
  const n = ipv4ToInt(a);
  const base = ipv4ToInt(net ?? "");
  const len = Number(bits);
  if (n === undefined || base === undefined || !(len >= 0 && len <= 32)) return false;
  const mask = len === 0 ? 0 : (~0 << (32 - len)) >>> 0;
  return (n & mask) >>> 0 === (base & mask) >>> 0;
}

/** True for an IPv4 address in 127.0.0.0/8. */
export const isLoopbackV4 = (a: string): boolean => inCidr(a, "127.0.0.0/8");
