import { definePlugin, defineProvisioner, KilnError } from "@kiln/core";
import { breakpointSchema, fileSchema, shellLocalSchema, shellSchema } from "./schema.js";

const notYet = (type: string) => () => {
  throw new KilnError("KILN_PLUGIN_INCOMPATIBLE", `this version of @kiln/provisioners validates ${type} provisioners but cannot run them yet`, {
    hint: "Upgrade @kiln/provisioners to a version that runs builds.",
  });
};

export const shell = defineProvisioner({ type: "shell", description: "Run shell commands or scripts on the machine.", schema: shellSchema, create: notYet("shell") });
export const file = defineProvisioner({ type: "file", description: "Upload or download files and folders.", schema: fileSchema, create: notYet("file") });
export const shellLocal = defineProvisioner({
  type: "shell-local",
  description: "Run commands on the machine running kiln.",
  schema: shellLocalSchema,
  create: notYet("shell-local"),
});
export const breakpoint = defineProvisioner({
  type: "breakpoint",
  description: "Pause the build until Enter is pressed.",
  schema: breakpointSchema,
  create: notYet("breakpoint"),
});

export default definePlugin({ name: "@kiln/provisioners", provisioners: [shell, file, shellLocal, breakpoint] });
