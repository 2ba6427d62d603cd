/** IP networks: cidrhost(), cidrsubnet(), cidrsubnets(), cidrnetmask(), for IPv4 and IPv6 prefixes. */
import { isIPv4, isIPv6 } from "node:net";
import { type Args, evalError, type FunctionDef } from "./args.js";

interface Prefix {
  v6: boolean;
  /** The network address (host bits cleared). */
  addr: bigint;
  len: number;
}

const bits = (p: Prefix) => (p.v6 ? 128 : 32);

function parseAddr(s: string, v6: boolean): bigint {
  if (!v6) return s.split(".").reduce((n, o) => (n << 8n) | BigInt(Number(o)), 0n);
  let text = s;
  if (text.includes(".")) {
    // an embedded IPv4 tail (::ffff:1.2.3.4)
    const cut = text.lastIndexOf(":");
    const v4 = parseAddr(text.slice(cut + 1), false);
    text = `${text.slice(0, cut + 1)}${(v4 >> 16n).toString(16)}:${(v4 & 0xffffn).toString(16)}`;
  }
  const [head = "", tail] = text.split("::");
  const h = head ? head.split(":") : [];
  const t = tail !== undefined && tail !== "" ? tail.split(":") : [];
  const groups = tail === undefined ? h : [...h, ...new Array(8 - h.length - t.length).fill("0"), ...t];
  return groups.reduce((n, g) => (n << 16n) | BigInt(Number.parseInt(g, 16)), 0n);
}

function format(addr: bigint, v6: boolean): string {
  if (!v6) return [24n, 16n, 8n, 0n].map((s) => String((addr >> s) & 0xffn)).join(".");
  const groups = Array.from({ length: 8 }, (_v, i) => Number((addr >> BigInt(112 - i * 16)) & 0xffffn));
  // RFC 5952: the longest run of two or more zero groups becomes ::
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) {
      best = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (best < 0) return hex.join(":");
  return `${hex.slice(0, best).join(":")}::${hex.slice(best + bestLen).join(":")}`;
}

function prefix(a: Args, i: number): Prefix {
  const s = a.str(i);
  const slash = s.indexOf("/");
  const ip = s.slice(0, slash);
  const len = Number(s.slice(slash + 1));
  const v6 = isIPv6(ip);
  if (slash < 0 || (!v6 && !isIPv4(ip)) || !/^\d+$/.test(s.slice(slash + 1)) || len > (v6 ? 128 : 32)) {
    throw evalError(
      a.fn,
      `"${s.slice(0, 60)}" is not a CIDR prefix.`,
      i,
      'Write an address and a prefix length, e.g. "10.0.0.0/16" or "fd00::/64".',
    );
  }
  const total = v6 ? 128 : 32;
  const mask = ((1n << BigInt(total)) - 1n) ^ ((1n << BigInt(total - len)) - 1n);
  return { v6, addr: parseAddr(ip, v6) & mask, len };
}

function whole(a: Args, i: number): number {
  const n = a.num(i);
  if (!Number.isInteger(n)) throw a.typeError(i, "a whole number");
  return n;
}

function subnet(a: Args, p: Prefix, newbits: number, netnum: bigint, at: number): Prefix {
  const len = p.len + newbits;
  if (newbits < 0 || len > bits(p))
    throw evalError(a.fn, `${p.len} + ${newbits} bits is more than the ${bits(p)} an address has.`, at);
  if (netnum < 0n || netnum >= 1n << BigInt(newbits))
    throw evalError(a.fn, `network number ${netnum} does not fit in ${newbits} bits.`, at + 1);
  return { v6: p.v6, addr: p.addr | (netnum << BigInt(bits(p) - len)), len };
}

const show = (p: Prefix) => `${format(p.addr, p.v6)}/${p.len}`;

export const NET_FUNCTIONS: Array<[string, FunctionDef]> = [
  [
    "cidrhost",
    {
      params: "prefix, hostnum",
      min: 2,
      max: 2,
      call: (a) => {
        const p = prefix(a, 0);
        const n = BigInt(whole(a, 1));
        const size = 1n << BigInt(bits(p) - p.len);
        const host = n < 0n ? size + n : n;
        if (host < 0n || host >= size)
          throw evalError("cidrhost", `host number ${n} is not in ${show(p)} (${size} addresses).`, 1);
        return format(p.addr + host, p.v6);
      },
    },
  ],
  [
    "cidrnetmask",
    {
      params: "prefix",
      min: 1,
      max: 1,
      call: (a) => {
        const p = prefix(a, 0);
        if (p.v6) throw evalError("cidrnetmask", "IPv6 prefixes have no netmask form.", 0);
        return format(0xffffffffn ^ ((1n << BigInt(32 - p.len)) - 1n), false);
      },
    },
  ],
  [
    "cidrsubnet",
    {
      params: "prefix, newbits, netnum",
      min: 3,
      max: 3,
      call: (a) => show(subnet(a, prefix(a, 0), whole(a, 1), BigInt(whole(a, 2)), 1)),
    },
  ],
  [
    "cidrsubnets",
    {
      params: "prefix, newbits…",
      min: 1,
      max: Number.POSITIVE_INFINITY,
      call: (a) => {
        const p = prefix(a, 0);
        const out: string[] = [];
        let next = p.addr;
        for (let i = 1; i < a.length; i++) {
          const nb = whole(a, i);
          const len = p.len + nb;
          if (nb < 1 || len > bits(p))
            throw evalError("cidrsubnets", `${p.len} + ${nb} bits does not make a subnet of ${show(p)}.`, i);
          const step = 1n << BigInt(bits(p) - len);
          // Each subnet starts at the next boundary of its own size.
          const start = ((next + step - 1n) / step) * step;
          const end = p.addr + (1n << BigInt(bits(p) - p.len));
          if (start + step > end)
            throw evalError("cidrsubnets", `not enough room in ${show(p)} for a /${len}.`, i);
          out.push(show({ v6: p.v6, addr: start, len }));
          next = start + step;
        }
        return out;
      },
    },
  ],
];
