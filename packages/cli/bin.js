#!/usr/bin/env node
import { bundlePath, loadBundle } from "./dist/start.js";

const { main } = loadBundle(bundlePath());

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err) => {
    process.stderr.write(`kiln: internal error: ${err?.message ? err.message : String(err)}\n`);
    process.exitCode = 70;
  },
);
