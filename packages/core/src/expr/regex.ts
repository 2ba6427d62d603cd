/**
 * A small regular-expression engine for replace() and regex_match(): the RE2 subset that Packer
 * and Terraform users write, matched by a Pike VM in time linear in the input (times pattern size),
 * so no pattern can make a match take exponential time the way a backtracking engine can.
 *
 * Supported: literals, `.`, `[…]`/`[^…]` with ranges, `\d \w \s \D \W \S`, POSIX `[:alpha:]`
 * classes, `^ $ \b \B`, groups `( )` and `(?: )`, `|`, `* + ? {n} {n,} {n,m}` and their lazy
 * forms, and a leading `(?i)`. Not supported: backreferences and lookaround (not in RE2 either).
 * Matching is over code points; `.` does not match a newline; `^`/`$` are start/end of text.
 */
import { MAX_REGEX_INPUT, MAX_REGEX_LENGTH } from "./limits.js";

/** A malformed or unsupported pattern; `at` is the offset in the pattern. */
export class RegexError extends Error {
  constructor(
    message: string,
    readonly at: number,
  ) {
    super(message);
  }
}

type Test = (c: string) => boolean;
type Node =
  | { t: "char"; test: Test }
  | { t: "assert"; kind: "^" | "$" | "b" | "B" }
  | { t: "cat"; items: Node[] }
  | { t: "alt"; items: Node[] }
  | { t: "group"; node: Node; cap: number | null }
  | { t: "repeat"; node: Node; min: number; max: number; greedy: boolean };

type Inst =
  | { op: "char"; test: Test }
  | { op: "split"; x: number; y: number }
  | { op: "jmp"; x: number }
  | { op: "save"; n: number }
  | { op: "assert"; kind: "^" | "$" | "b" | "B" }
  | { op: "match" };

const MAX_PROGRAM = 20_000;
const MAX_REPEAT = 1000;
/** Most thread steps one replace() or regex_match() may take, whatever the pattern and text. */
const MAX_STEPS = 10_000_000;

/** The work left for one top-level operation. */
export interface Budget {
  steps: number;
}
export function newBudget(): Budget {
  return { steps: MAX_STEPS };
}

const isDigit: Test = (c) => c >= "0" && c <= "9";
const isWord: Test = (c) => (c >= "a" && c <= "z") || (c >= "A" && c <= "Z") || isDigit(c) || c === "_";
const isSpace: Test = (c) => c === " " || c === "\t" || c === "\n" || c === "\r" || c === "\f" || c === "\v";
const POSIX: Record<string, Test> = {
  alpha: (c) => (c >= "a" && c <= "z") || (c >= "A" && c <= "Z"),
  digit: isDigit,
  alnum: (c) => (c >= "a" && c <= "z") || (c >= "A" && c <= "Z") || isDigit(c),
  word: isWord,
  space: isSpace,
  upper: (c) => c >= "A" && c <= "Z",
  lower: (c) => c >= "a" && c <= "z",
  xdigit: (c) => isDigit(c) || (c >= "a" && c <= "f") || (c >= "A" && c <= "F"),
  punct: (c) => c > " " && c < "\x7f" && !(isWord(c) && c !== "_"),
  blank: (c) => c === " " || c === "\t",
};
const LITERAL_ESCAPES: Record<string, string> = { n: "\n", t: "\t", r: "\r", f: "\f", v: "\v", "0": "\0" };

export interface CompiledRegex {
  readonly groups: number;
  /** The name of each capture group (index 1…groups), for `(?P<name>…)` and `(?<name>…)`. */
  readonly names: ReadonlyArray<string | undefined>;
  readonly prog: readonly Inst[];
}

/** Compile a pattern. Throws RegexError. */
export function compileRegex(pattern: string): CompiledRegex {
  if (pattern.length > MAX_REGEX_LENGTH) {
    throw new RegexError(
      `Pattern is ${pattern.length} characters long; the limit is ${MAX_REGEX_LENGTH}.`,
      0,
    );
  }
  const p = new PatternParser(pattern);
  const node = p.parse();
  const prog: Inst[] = [];
  const emit = (i: Inst): number => {
    if (prog.length >= MAX_PROGRAM) throw new RegexError("Pattern is too complex.", 0);
    prog.push(i);
    return prog.length - 1;
  };
  const ci = p.caseInsensitive;
  const compile = (n: Node): void => {
    switch (n.t) {
      case "char": {
        const test = n.test;
        emit({
          op: "char",
          test: ci ? (c) => test(c) || test(c.toLowerCase()) || test(c.toUpperCase()) : test,
        });
        return;
      }
      case "assert":
        emit({ op: "assert", kind: n.kind });
        return;
      case "cat":
        for (const item of n.items) compile(item);
        return;
      case "alt": {
        const jumps: number[] = [];
        n.items.forEach((item, idx) => {
          if (idx < n.items.length - 1) {
            const split = emit({ op: "split", x: 0, y: 0 });
            (prog[split] as { x: number }).x = prog.length;
            compile(item);
            jumps.push(emit({ op: "jmp", x: 0 }));
            (prog[split] as { y: number }).y = prog.length;
          } else {
            compile(item);
          }
        });
        for (const j of jumps) (prog[j] as { x: number }).x = prog.length;
        return;
      }
      case "group":
        if (n.cap !== null) emit({ op: "save", n: n.cap * 2 });
        compile(n.node);
        if (n.cap !== null) emit({ op: "save", n: n.cap * 2 + 1 });
        return;
      case "repeat": {
        for (let i = 0; i < n.min; i++) compile(n.node);
        if (n.max === Number.POSITIVE_INFINITY) {
          // L: split body, out; body; jmp L
          const split = emit({ op: "split", x: 0, y: 0 });
          compile(n.node);
          emit({ op: "jmp", x: split });
          setSplit(prog, split, split + 1, prog.length, n.greedy);
        } else {
          const splits: number[] = [];
          for (let i = n.min; i < n.max; i++) {
            splits.push(emit({ op: "split", x: 0, y: 0 }));
            compile(n.node);
          }
          for (const s of splits) setSplit(prog, s, s + 1, prog.length, n.greedy);
        }
        return;
      }
    }
  };
  emit({ op: "save", n: 0 });
  compile(node);
  emit({ op: "save", n: 1 });
  emit({ op: "match" });
  return { groups: p.groups, names: p.names, prog };
}

function setSplit(prog: Inst[], at: number, body: number, out: number, greedy: boolean): void {
  prog[at] = greedy ? { op: "split", x: body, y: out } : { op: "split", x: out, y: body };
}

class PatternParser {
  private i = 0;
  groups = 0;
  readonly names: Array<string | undefined> = [undefined];
  caseInsensitive = false;
  constructor(private readonly src: string) {}

  parse(): Node {
    if (this.src.startsWith("(?i)")) {
      this.caseInsensitive = true;
      this.i = 4;
    }
    const n = this.alt(0);
    if (this.i < this.src.length) throw new RegexError("Unmatched `)` in pattern.", this.i);
    return n;
  }

  private alt(depth: number): Node {
    if (depth > 64) throw new RegexError("Pattern nests groups too deeply.", this.i);
    const items: Node[] = [this.cat(depth)];
    while (this.src[this.i] === "|") {
      this.i++;
      items.push(this.cat(depth));
    }
    return items.length === 1 ? (items[0] as Node) : { t: "alt", items };
  }

  private cat(depth: number): Node {
    const items: Node[] = [];
    for (;;) {
      const c = this.src[this.i];
      if (c === undefined || c === "|" || c === ")") break;
      let atom = this.atom(depth);
      atom = this.quantifiers(atom);
      items.push(atom);
    }
    return items.length === 1 ? (items[0] as Node) : { t: "cat", items };
  }

  private quantifiers(atom: Node): Node {
    for (;;) {
      const c = this.src[this.i];
      let min: number;
      let max: number;
      const at = this.i;
      if (c === "*") [min, max] = [0, Number.POSITIVE_INFINITY];
      else if (c === "+") [min, max] = [1, Number.POSITIVE_INFINITY];
      else if (c === "?") [min, max] = [0, 1];
      else if (c === "{") {
        const m = /^\{(\d+)(,(\d*))?\}/.exec(this.src.slice(this.i));
        if (m === null) return atom; // a literal `{`, as in RE2
        min = Number(m[1]);
        max =
          m[2] === undefined
            ? min
            : m[3] === "" || m[3] === undefined
              ? Number.POSITIVE_INFINITY
              : Number(m[3]);
        if (min > MAX_REPEAT || (max !== Number.POSITIVE_INFINITY && max > MAX_REPEAT)) {
          throw new RegexError(`Repeat count is more than ${MAX_REPEAT}.`, at);
        }
        if (max < min) throw new RegexError("Repeat count {n,m} has m less than n.", at);
        this.i += m[0].length - 1;
      } else return atom;
      this.i++;
      if (atom.t === "assert") throw new RegexError("Nothing to repeat.", at);
      let greedy = true;
      if (this.src[this.i] === "?") {
        greedy = false;
        this.i++;
      }
      const c2 = this.src[this.i];
      if (c2 === "*" || c2 === "+" || (c2 === "?" && !greedy)) {
        throw new RegexError("Repeated repeat operator; wrap the repeated part in a group.", this.i);
      }
      atom = { t: "repeat", node: atom, min, max, greedy };
    }
  }

  private atom(depth: number): Node {
    const start = this.i;
    const c = this.src[this.i++] as string;
    switch (c) {
      case "(": {
        let cap: number | null = null;
        const named = /^\?P?<([A-Za-z_][A-Za-z0-9_]*)>/.exec(this.src.slice(this.i, this.i + 40));
        if (this.src.startsWith("?:", this.i)) this.i += 2;
        else if (named) {
          this.i += named[0].length;
          cap = ++this.groups;
          this.names[cap] = named[1];
        } else if (this.src[this.i] === "?") throw new RegexError("Unsupported group syntax `(?`.", start);
        else {
          cap = ++this.groups;
          this.names[cap] = undefined;
        }
        const node = this.alt(depth + 1);
        if (this.src[this.i] !== ")") throw new RegexError("Missing `)` in pattern.", start);
        this.i++;
        return { t: "group", node, cap };
      }
      case "[":
        return this.charClass(start);
      case ".":
        return { t: "char", test: (ch) => ch !== "\n" };
      case "^":
        return { t: "assert", kind: "^" };
      case "$":
        return { t: "assert", kind: "$" };
      case "*":
      case "+":
      case "?":
        throw new RegexError("Nothing to repeat.", start);
      case "\\": {
        const e = this.src[this.i++];
        if (e === undefined) throw new RegexError("Pattern ends with `\\`.", start);
        if (e === "b" || e === "B") return { t: "assert", kind: e };
        return { t: "char", test: this.escapeTest(e, start) };
      }
      default: {
        // Code points: a surrogate pair is one character.
        const cp = String.fromCodePoint(this.src.codePointAt(start) as number);
        this.i = start + cp.length;
        return { t: "char", test: (ch) => ch === cp };
      }
    }
  }

  private escapeTest(e: string, at: number): Test {
    switch (e) {
      case "d":
        return isDigit;
      case "D":
        return (c) => !isDigit(c);
      case "w":
        return isWord;
      case "W":
        return (c) => !isWord(c);
      case "s":
        return isSpace;
      case "S":
        return (c) => !isSpace(c);
    }
    const lit = LITERAL_ESCAPES[e];
    if (lit !== undefined) return (c) => c === lit;
    if (/[A-Za-z0-9]/.test(e)) throw new RegexError(`Unsupported escape \`\\${e}\` in pattern.`, at);
    return (c) => c === e;
  }

  private charClass(start: number): Node {
    let negate = false;
    if (this.src[this.i] === "^") {
      negate = true;
      this.i++;
    }
    const tests: Test[] = [];
    let first = true;
    for (;;) {
      const c = this.src[this.i];
      if (c === undefined) throw new RegexError("Missing `]` in pattern.", start);
      if (c === "]" && !first) {
        this.i++;
        break;
      }
      first = false;
      if (c === "[" && this.src[this.i + 1] === ":") {
        const m = /^\[:(\^?)([a-z]+):\]/.exec(this.src.slice(this.i));
        const cls = m ? POSIX[m[2] as string] : undefined;
        if (m && cls) {
          tests.push(m[1] === "^" ? (ch) => !cls(ch) : cls);
          this.i += m[0].length;
          continue;
        }
        if (m) throw new RegexError(`Unknown character class \`[:${m[2]}:]\`.`, this.i);
      }
      const lo = this.classChar();
      if (typeof lo !== "string") {
        tests.push(lo);
        continue;
      }
      if (this.src[this.i] === "-" && this.src[this.i + 1] !== "]" && this.src[this.i + 1] !== undefined) {
        const at = this.i;
        this.i++;
        const hi = this.classChar();
        if (typeof hi !== "string") throw new RegexError("A class like \\d cannot end a range.", at);
        if ((hi.codePointAt(0) as number) < (lo.codePointAt(0) as number)) {
          throw new RegexError(`Range ${lo}-${hi} is backwards.`, at);
        }
        tests.push((ch) => inRange(ch, lo, hi));
      } else {
        tests.push((ch) => ch === lo);
      }
    }
    const any: Test = (ch) => tests.some((t) => t(ch));
    return { t: "char", test: negate ? (ch) => !any(ch) : any };
  }

  /** One character of a class: the character itself, or a test for `\d` and friends. */
  private classChar(): string | Test {
    const at = this.i;
    const c = this.src[this.i];
    if (c === "\\") {
      const e = this.src[this.i + 1];
      if (e === undefined) throw new RegexError("Pattern ends with `\\`.", at);
      this.i += 2;
      const lit = LITERAL_ESCAPES[e];
      if (lit !== undefined) return lit;
      if ("dDwWsS".includes(e)) return this.escapeTest(e, at);
      if (/[A-Za-z0-9]/.test(e)) throw new RegexError(`Unsupported escape \`\\${e}\` in pattern.`, at);
      return e;
    }
    const cp = String.fromCodePoint(this.src.codePointAt(at) as number);
    this.i += cp.length;
    return cp;
  }
}

function inRange(ch: string, lo: string, hi: string): boolean {
  const c = ch.codePointAt(0) as number;
  return c >= (lo.codePointAt(0) as number) && c <= (hi.codePointAt(0) as number);
}

interface Thread {
  pc: number;
  caps: Array<number>;
}

/**
 * Find the leftmost-first match in `cps` (code points) at or after `from`.
 * Returns capture positions (pairs of start/end, -1 when a group did not take part) or null.
 */
export function execRegex(
  re: CompiledRegex,
  cps: readonly string[],
  from: number,
  budget: Budget = newBudget(),
): number[] | null {
  const prog = re.prog;
  const n = cps.length;
  const marks = new Int32Array(prog.length);
  let gen = 0;
  const ncap = (re.groups + 1) * 2;
  const addThread = (list: Thread[], pc0: number, caps0: number[], pos: number): void => {
    const stack: Thread[] = [{ pc: pc0, caps: caps0 }];
    while (stack.length > 0) {
      const { pc, caps } = stack.pop() as Thread;
      if (--budget.steps < 0) {
        throw new RegexError("Pattern takes too long to apply to this text; simplify it.", -1);
      }
      if (marks[pc] === gen) continue;
      marks[pc] = gen;
      const inst = prog[pc] as Inst;
      switch (inst.op) {
        case "jmp":
          stack.push({ pc: inst.x, caps });
          break;
        case "split":
          stack.push({ pc: inst.y, caps });
          stack.push({ pc: inst.x, caps });
          break;
        case "save": {
          const c = caps.slice();
          c[inst.n] = pos;
          stack.push({ pc: pc + 1, caps: c });
          break;
        }
        case "assert": {
          let ok: boolean;
          if (inst.kind === "^") ok = pos === 0;
          else if (inst.kind === "$") ok = pos === n;
          else {
            const before = pos > 0 && isWord(cps[pos - 1] as string);
            const after = pos < n && isWord(cps[pos] as string);
            ok = inst.kind === "b" ? before !== after : before === after;
          }
          if (ok) stack.push({ pc: pc + 1, caps });
          break;
        }
        default:
          list.push({ pc, caps });
      }
    }
  };
  const fresh = (): number[] => new Array<number>(ncap).fill(-1);
  let matched: number[] | null = null;
  gen++;
  let clist: Thread[] = [];
  addThread(clist, 0, fresh(), from);
  for (let i = from; clist.length > 0; i++) {
    gen++;
    const nlist: Thread[] = [];
    for (const t of clist) {
      const inst = prog[t.pc] as Inst;
      if (inst.op === "match") {
        matched = t.caps;
        break; // lower-priority threads lose to this match
      }
      if (inst.op === "char" && i < n && inst.test(cps[i] as string))
        addThread(nlist, t.pc + 1, t.caps, i + 1);
    }
    if (matched === null && i + 1 <= n) addThread(nlist, 0, fresh(), i + 1);
    clist = nlist;
  }
  return matched;
}

function checkInput(cps: readonly string[]): void {
  if (cps.length > MAX_REGEX_INPUT) {
    throw new RegexError(
      `Text is ${cps.length} characters long; patterns are applied to at most ${MAX_REGEX_INPUT}.`,
      -1,
    );
  }
}

/** Every match of `re` in `s` (not overlapping), as capture positions in code points, and the code points. */
export function regexMatches(
  re: CompiledRegex,
  s: string,
  max: number,
): { cps: string[]; matches: number[][] } {
  const cps = Array.from(s);
  checkInput(cps);
  const matches: number[][] = [];
  const budget = newBudget();
  let from = 0;
  while (from <= cps.length && matches.length < max) {
    const m = execRegex(re, cps, from, budget);
    if (m === null) break;
    matches.push(m);
    const s0 = m[0] as number;
    const s1 = m[1] as number;
    from = s1 === s0 ? s0 + 1 : s1;
  }
  return { cps, matches };
}

/** True when the pattern matches anywhere in `s`. */
export function regexTest(re: CompiledRegex, s: string): boolean {
  const cps = Array.from(s);
  checkInput(cps);
  return execRegex(re, cps, 0, newBudget()) !== null;
}

/** Replace every match; `$1`, `${1}` insert groups, `$$` a dollar sign. */
export function regexReplaceAll(
  re: CompiledRegex,
  s: string,
  replacement: string,
  maxLength: number,
): string {
  const cps = Array.from(s);
  checkInput(cps);
  const out: string[] = [];
  let size = 0;
  const push = (x: string): void => {
    size += x.length;
    if (size > maxLength)
      throw new RegexError(`Result is longer than the limit of ${maxLength} characters.`, -1);
    out.push(x);
  };
  let pos = 0;
  let from = 0;
  const budget = newBudget();
  while (from <= cps.length) {
    const m = execRegex(re, cps, from, budget);
    if (m === null) break;
    const s0 = m[0] as number;
    const s1 = m[1] as number;
    push(cps.slice(pos, s0).join(""));
    push(expand(replacement, m, cps));
    if (s1 === s0) {
      if (s0 < cps.length) push(cps[s0] as string);
      pos = s0 + 1;
      from = s0 + 1;
    } else {
      pos = s1;
      from = s1;
    }
  }
  if (pos < cps.length) push(cps.slice(pos).join(""));
  return out.join("");
}

function expand(repl: string, caps: number[], cps: readonly string[]): string {
  if (!repl.includes("$")) return repl;
  return repl.replace(/\$(\$|\{(\d+)\}|(\d+))/g, (_all, what: string, braced?: string, bare?: string) => {
    if (what === "$") return "$";
    const g = Number(braced ?? bare);
    const a = caps[g * 2];
    const b = caps[g * 2 + 1];
    if (a === undefined || b === undefined || a < 0 || b < 0) return "";
    return cps.slice(a, b).join("");
  });
}
