/**
 * Pieces of a secret's base64 and hex encodings, wherever a line break cut them: `base64`
 * wraps at 76 columns, `openssl base64` at 64, `xxd -p` at 60, `od -An -tx1` prints 16 bytes
 * a line with spaces. Each output line is redacted on its own, so no single pattern matches;
 * instead every run of base64 or hex characters in a text is compared with the encodings of
 * each secret, and any common stretch of at least `MIN` characters is redacted.
 */

/** 8 base64 characters are 6 bytes of the secret, 8 hex digits 4 bytes. */
const MIN = 8;

interface Kind {
  /** Runs of text that may hold an encoding. */
  run: RegExp;
  /** One canonical spelling of a run (separators dropped, one case, one alphabet). */
  normalize(run: string): { text: string; at: number[] };
}

const BASE64: Kind = {
  run: /[A-Za-z0-9+/_-]{8,}/g,
  normalize: (run) => ({
    text: run.replace(/-/g, "+").replace(/_/g, "/"),
    at: [...run].map((_, i) => i),
  }),
};

const HEX: Kind = {
  // `deadbeef`, `DEADBEEF`, `de ad be ef` (od), `dead beef` (xxd), `de:ad:be:ef`
  run: /[0-9A-Fa-f]{2}(?:[ :]?[0-9A-Fa-f]{2})+/g,
  normalize: (run) => {
    let text = "";
    const at: number[] = [];
    for (let i = 0; i < run.length; i++) {
      const c = run[i] as string;
      if (c === " " || c === ":") continue;
      text += c.toLowerCase();
      at.push(i);
    }
    return { text, at };
  },
};

/** The base64 characters that depend only on the secret, for each of the 3 byte alignments. */
export function base64Cores(bytes: Buffer): string[] {
  const out: string[] = [];
  for (let pad = 0; pad < 3; pad++) {
    const padded = Buffer.concat([Buffer.alloc(pad), bytes]);
    const enc = padded.toString("base64").replace(/=+$/, "");
    const start = Math.ceil((pad * 4) / 3);
    const end = (Math.floor(padded.length / 3) * 3 * 4) / 3;
    if (end > start) out.push(enc.slice(start, end));
  }
  // Standalone (`base64 <<< secret`), the last group with its padding is the secret's too.
  out.push(bytes.toString("base64"));
  return out;
}

class GramIndex {
  private readonly cores: string[] = [];
  private readonly grams = new Map<string, Array<[number, number]>>();

  add(core: string): void {
    if (core.length < MIN) return;
    const id = this.cores.push(core) - 1;
    for (let p = 0; p + MIN <= core.length; p++) {
      const g = core.slice(p, p + MIN);
      const list = this.grams.get(g);
      if (list) list.push([id, p]);
      else this.grams.set(g, [[id, p]]);
    }
  }

  get empty(): boolean {
    return this.cores.length === 0;
  }

  /** Ranges [start, end) of `text` that occur in some core, each at least MIN long. */
  matches(text: string): Array<[number, number]> {
    const out: Array<[number, number]> = [];
    let i = 0;
    while (i + MIN <= text.length) {
      let best = 0;
      for (const [id, p] of this.grams.get(text.slice(i, i + MIN)) ?? []) {
        const core = this.cores[id] as string;
        let l = MIN;
        while (i + l < text.length && p + l < core.length && text[i + l] === core[p + l]) l++;
        if (l > best) best = l;
      }
      if (best) {
        out.push([i, i + best]);
        i += best;
      } else i++;
    }
    return out;
  }
}

export class FragmentMatcher {
  private readonly base64 = new GramIndex();
  private readonly hex = new GramIndex();

  add(secret: string): void {
    const bytes = Buffer.from(secret, "utf8");
    for (const core of base64Cores(bytes)) this.base64.add(core);
    this.hex.add(bytes.toString("hex"));
  }

  /** `text` with every fragment replaced by `marker`. */
  redact(text: string, marker: string): string {
    let out = text;
    for (const [kind, index] of [
      [HEX, this.hex],
      [BASE64, this.base64],
    ] as const) {
      if (!index.empty) out = redactKind(out, kind, index, marker);
    }
    return out;
  }
}

function redactKind(text: string, kind: Kind, index: GramIndex, marker: string): string {
  const ranges: Array<[number, number]> = [];
  for (const m of text.matchAll(kind.run)) {
    const { text: norm, at } = kind.normalize(m[0]);
    for (const [s, e] of index.matches(norm)) {
      ranges.push([(m.index ?? 0) + (at[s] as number), (m.index ?? 0) + (at[e - 1] as number) + 1]);
    }
  }
  if (ranges.length === 0) return text;
  let out = "";
  let last = 0;
  for (const [s, e] of ranges) {
    out += text.slice(last, s) + marker;
    last = e;
  }
  return out + text.slice(last);
}
