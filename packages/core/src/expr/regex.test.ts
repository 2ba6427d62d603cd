import { describe, expect, it } from "vitest";
import { compileRegex, RegexError, regexReplaceAll, regexTest } from "./regex.js";

const m = (p: string, s: string) => regexTest(compileRegex(p), s);
const r = (p: string, s: string, repl: string) => regexReplaceAll(compileRegex(p), s, repl, 1 << 20);

describe("regex engine", () => {
  it("matches the common syntax", () => {
    expect(m("abc", "xxabcxx")).toBe(true);
    expect(m("^abc$", "xabc")).toBe(false);
    expect(m("^a.c$", "abc")).toBe(true);
    expect(m("^a.c$", "a\nc")).toBe(false);
    expect(m("^[a-c]+$", "abcab")).toBe(true);
    expect(m("^[^a-c]+$", "xyz")).toBe(true);
    expect(m("^[^a-c]+$", "xaz")).toBe(false);
    expect(m("^\\d{2,3}$", "123")).toBe(true);
    expect(m("^\\d{2,3}$", "1234")).toBe(false);
    expect(m("^\\d{2}$", "12")).toBe(true);
    expect(m("^\\d{2,}$", "12345")).toBe(true);
    expect(m("^(ab|cd)*$", "abcdab")).toBe(true);
    expect(m("^(ab|cd)*$", "abc")).toBe(false);
    expect(m("^\\w+\\s\\S$", "ab_1 x")).toBe(true);
    expect(m("\\bcat\\b", "a cat!")).toBe(true);
    expect(m("\\bcat\\b", "concat")).toBe(false);
    expect(m("^[[:alpha:]]+[[:digit:]]$", "abc1")).toBe(true);
    expect(m("^a{,2}$", "a{,2}")).toBe(true); // not a repeat: a literal brace, as in RE2
    expect(m("^\\.\\*$", ".*")).toBe(true);
    expect(m("^(?:a|b)?c$", "c")).toBe(true);
    expect(m("^😀.$", "😀é")).toBe(true);
    expect(m("^[😀-😂]$", "😁")).toBe(true);
    expect(m("(?i)^ABC$", "abc")).toBe(true);
    expect(m("^$", "")).toBe(true);
    expect(m("x*", "")).toBe(true);
  });

  it("prefers leftmost, then greedy or lazy as written", () => {
    expect(r("a+", "baaab", "X")).toBe("bXb");
    expect(r("a+?", "baaab", "X")).toBe("bXXXb");
    expect(r("<.*>", "<a><b>", "X")).toBe("X");
    expect(r("<.*?>", "<a><b>", "X")).toBe("XX");
    expect(r("(a|ab)(c|bcd)", "abcd", "[$1,$2]")).toBe("[a,bcd]");
    expect(r("(x)?y", "y", "[$1]")).toBe("[]");
    expect(r("", "ab", "-")).toBe("-a-b-");
  });

  it("rejects what it does not support, with the offset", () => {
    const bad: Array<[string, number]> = [
      ["(", 0],
      ["a)", 1],
      ["[a", 0],
      ["*a", 0],
      ["a**", 2],
      ["\\1", 0],
      ["(?=a)", 0],
      ["a{2,1}", 1],
      ["a{1001}", 1],
      ["[z-a]", 2],
      ["\\", 0],
    ];
    for (const [p, at] of bad) {
      let e: unknown;
      try {
        compileRegex(p);
      } catch (x) {
        e = x;
      }
      expect(e, p).toBeInstanceOf(RegexError);
      expect((e as RegexError).at, p).toBe(at);
    }
  });

  it("runs catastrophic patterns in linear time", () => {
    const t0 = Date.now();
    const input = `${"a".repeat(30_000)}!`;
    expect(m("^(a+)+$", input)).toBe(false);
    expect(m("^(a|a)*$", input)).toBe(false);
    expect(m("^(a*)*b$", "a".repeat(5000))).toBe(false);
    expect(m("(x+x+)+y", "x".repeat(5000))).toBe(false);
    expect(Date.now() - t0).toBeLessThan(5000);
  });

  it("stops patterns that would take too long instead of hanging", () => {
    // a*b|a over many a's: each of ~64K matches rescans the rest of the text.
    const t0 = Date.now();
    let e: unknown;
    try {
      r("a*b|a", "a".repeat(60_000), "x");
    } catch (x) {
      e = x;
    }
    expect(e).toBeInstanceOf(RegexError);
    expect(Date.now() - t0).toBeLessThan(8000);
  });

  it("refuses long patterns and long inputs", () => {
    expect(() => compileRegex("a".repeat(257))).toThrow(RegexError);
    expect(() => regexTest(compileRegex("a"), "b".repeat(64 * 1024 + 1))).toThrow(RegexError);
  });
});
