import { definePlugin, defineProvisioner } from "@kiln/core";
import { ansibleLocalSchema, ansibleSchema } from "./schema.js";

// The implementations are loaded only when a build runs them, so validation never loads them.

export const ansible = defineProvisioner({
  type: "ansible",
  description:
    "Run an ansible playbook from this machine against the machine being built, through kiln's connection.",
  schema: ansibleSchema,
  create: async () => (await import("./ansible.js")).ansible,
});
export const ansibleLocal = defineProvisioner({
  type: "ansible-local",
  description: "Upload an ansible playbook to the machine and run it there.",
  schema: ansibleLocalSchema,
  create: async () => (await import("./ansible-local.js")).ansibleLocal,
});

export default definePlugin({
  name: "@kiln/provisioner-ansible",
  provisioners: [ansible, ansibleLocal],
});
