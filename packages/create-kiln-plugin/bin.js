#!/usr/bin/env node
import { main } from "./lib.js";

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err) => {
    process.stderr.write(`create-kiln-plugin: ${err?.message ? err.message : String(err)}\n`);
    process.exitCode = 1;
  },
);
