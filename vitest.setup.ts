import fc from "fast-check";

// Property tests explore new random cases on every local run; in CI they replay a fixed seed so
// a landing never depends on luck (set KILN_FC_SEED to replay another one).
if (process.env.CI === "true" || process.env.KILN_FC_SEED) {
  fc.configureGlobal({ seed: Number(process.env.KILN_FC_SEED ?? 20261122) });
}
