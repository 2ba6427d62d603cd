/** Shared helpers for the expression tests (excluded from the build by the tsconfig). */
import { expect } from "vitest";
import { ExprError } from "./errors.js";
import { evaluateTemplate } from "./evaluate.js";
import { parseTemplate } from "./parse.js";
import type { Scope } from "./scope.js";

export function scope(extra: Partial<Scope> = {}): Scope {
  return {
    values: {
      var: {
        version: "24.04",
        name: "ubuntu",
        n: 3,
        flag: true,
        list: ["a", "b", "c"],
        map: { k: "v", n: 1 },
        empty: "",
        nil: null,
      },
      local: { disk: "10G" },
      env: { HOME: "/home/u" },
      path: { root: "/project", cwd: "/project" },
    },
    deferred: new Set(["build", "http"]),
    members: {
      var: new Set(["version", "name", "n", "flag", "list", "map", "empty", "nil", "password"]),
      local: new Set(["disk", "later"]),
    },
    baseDir: "/project",
    now: () => new Date(Date.UTC(2026, 0, 2, 3, 4, 5, 678)),
    ...extra,
  };
}

/** Evaluate a template string against the test scope (or another). */
export function ev(text: string, s: Scope = scope()): unknown {
  return evaluateTemplate(parseTemplate(text), s);
}

/** Evaluate `${{ src }}`. */
export function ex(src: string, s: Scope = scope()): unknown {
  return ev(`\${{ ${src} }}`, s);
}

/** Run f, expect an ExprError, and return it. */
export function caught(f: () => unknown): ExprError {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(ExprError);
    return e as ExprError;
  }
  throw new Error("expected an ExprError, but nothing was thrown");
}
