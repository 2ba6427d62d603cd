import { definePlugin, defineProvisioner } from "@kiln/core";
import { breakpointSchema, fileSchema, shellLocalSchema, shellSchema } from "./schema.js";

// The implementations are loaded only when a build runs them, so validation never loads them.

export const shell = defineProvisioner({
  type: "shell",
  description: "Run shell commands or scripts on the machine.",
  schema: shellSchema,
  create: async () => (await import("./shell.js")).shell,
});
export const file = defineProvisioner({
  type: "file",
  description: "Upload or download files and folders.",
  schema: fileSchema,
  create: async () => (await import("./file.js")).file,
});
export const shellLocal = defineProvisioner({
  type: "shell-local",
  description: "Run commands on the machine running kiln.",
  schema: shellLocalSchema,
  create: async () => (await import("./shell-local.js")).shellLocal,
});
export const breakpoint = defineProvisioner({
  type: "breakpoint",
  description: "Pause the build until Enter is pressed.",
  schema: breakpointSchema,
  create: async () => (await import("./breakpoint.js")).breakpoint,
});

export default definePlugin({
  name: "@kiln/provisioners",
  provisioners: [shell, file, shellLocal, breakpoint],
});
