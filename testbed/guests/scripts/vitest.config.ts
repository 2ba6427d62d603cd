import { defineConfig } from "vitest/config";

// Only for booting an image by hand (see boot.ts); not part of the suite.
export default defineConfig({
  test: {
    root: new URL(".", import.meta.url).pathname,
    include: ["boot.ts"],
    testTimeout: 24 * 3600_000,
    hookTimeout: 600_000,
    reporters: ["verbose"],
  },
});
