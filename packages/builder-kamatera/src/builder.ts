/**
 * The kamatera builder's run time, after Kamatera's Packer plugin and better where it falls
 * short (RESEARCH 1.4):
 *
 *   API client → pre-flight check (datacenter, image, CPU, memory, disks, library names) →
 *   temporary SSH key (ed25519) → server created with the key in `ssh-key` (or, with
 *   disable_ssh, only the first-boot script) → the create command waited for → external IP →
 *   SSH as root → provisioners → (disable_ssh: wait for the script to power the server off) →
 *   power off → each disk cloned to the hard-disk library → the server terminated.
 *
 * The server's name is recorded before it is created, and the create step's cleanup — which
 * runs on success, failure and Ctrl-C, also during the create wait — finds it by name and
 * terminates it, so no server is left behind.
 */

import { randomBytes } from "node:crypto";
import type { Artifact, BuilderRuntime, BuildStepsContext, RunContext, Step } from "@kiln/core";
import { type CommunicatorOptions, clearAuthorizedKeysStep, connectStep, temporaryKeyStep } from "@kiln/sdk";
import { credentials } from "./credentials.js";
import { errors } from "./errors.js";
import { defaultImageName, diskPlan, serverPasswordProblem, waitsForPowerOff } from "./params.js";
import type { KamateraOptions } from "./schema.js";
import { RESULT } from "./state.js";
import { addressStep } from "./steps/address.js";
import { connectApiStep } from "./steps/connect-api.js";
import { createServerStep } from "./steps/create-server.js";
import { powerOffStep } from "./steps/power-off.js";
import { preflightStep } from "./steps/preflight.js";
import { saveDisksStep } from "./steps/save-disks.js";
import { waitScriptStep } from "./steps/wait-script.js";
import { waits } from "./waits.js";

export type { KamateraResult } from "./state.js";

/** With disable_ssh the build has no communicator: no key, no SSH, provisioners get `none`. */
function communicatorOf(o: KamateraOptions): CommunicatorOptions & KamateraOptions {
  return o.disable_ssh ? { ...o, communicator: "none" } : o;
}

function prepare(o: KamateraOptions, ctx: RunContext): void {
  const c = credentials(o);
  ctx.secret(c.secret);
  if (o.ssh_password) {
    ctx.secret(o.ssh_password);
    const problem = serverPasswordProblem(o.ssh_password);
    if (problem)
      throw errors.config(
        `ssh_password becomes the server's root password, and Kamatera refuses it: ${problem}`,
        "Choose another password, or leave ssh_password unset: kiln then logs in with a temporary key and Kamatera generates a password (build.Password).",
      );
  }
  diskPlan(o);
  waits(o);
  errors.duration("script_timeout", o.script_timeout);
  if (o.wait_for_power_off && !o.disable_ssh)
    throw errors.config(
      "wait_for_power_off applies with disable_ssh only",
      "Over SSH kiln powers the server off itself after the provisioners; remove wait_for_power_off.",
    );
  if (waitsForPowerOff(o) && !o.script)
    throw errors.config(
      "wait_for_power_off needs a script that powers the server off",
      "Set script, ending with `poweroff` (Linux) or `Stop-Computer -Force` (Windows).",
    );
  if (!o.disable_ssh && o.communicator === "ssh" && o.ssh_username !== "root")
    ctx.ui.message(
      `ssh_username is ${o.ssh_username}: Kamatera puts the key (and the password) on root; the image must let ${o.ssh_username} in itself.`,
    );
}

function steps(o: KamateraOptions, ctx: BuildStepsContext): Step[] {
  const provision = ctx.provisionStep();
  const comm = communicatorOf(o);
  // Once: the default image name holds the time of the build.
  const disks = diskPlan(o, defaultImageName(ctx.run.source, Date.now(), randomBytes(2).toString("hex")));
  const list: Step[] = [
    connectApiStep(o),
    preflightStep(o, disks),
    temporaryKeyStep(comm),
    createServerStep(o, comm, disks),
    addressStep(o, comm),
    connectStep(comm),
    provision,
    clearAuthorizedKeysStep(comm),
    ...(waitsForPowerOff(o) ? [waitScriptStep(o)] : []),
    powerOffStep(o, comm),
    saveDisksStep(o, disks),
  ];
  return list.map((s) => (s === provision ? s : errors.wrap(s)));
}

export const kamateraBuilder: BuilderRuntime<KamateraOptions> = {
  prepare: (o, ctx) =>
    errors
      .wrap({
        name: "prepare",
        run: async () => prepare(o, ctx),
      })
      .run(ctx),
  steps,
  artifact: (_o, ctx) => artifactOf(ctx),
};

/** The library images the build made, one per disk; Kamatera's API cannot delete them. */
function artifactOf(ctx: RunContext): Artifact | undefined {
  const r = ctx.state.get(RESULT);
  if (!r) return undefined;
  const names = r.images.map((i) => `${i.name}${i.id ? ` (${i.id})` : ""}`).join(", ");
  return {
    builderType: "kamatera",
    id: r.images.map((i) => i.name).join(","),
    files: [],
    description: `Kamatera hard-disk library image${r.images.length > 1 ? "s" : ""} in ${r.datacenter}: ${names}`,
    data: {
      datacenter: r.datacenter,
      images: r.images.map((i) => ({ disk: i.disk, name: i.name, id: i.id ?? null, size_gb: i.sizeGB })),
    },
    async destroy() {
      throw errors.error(
        "KILN_KAMATERA_DESTROY",
        `cannot delete ${names}: Kamatera's API has no call that deletes a hard-disk library image`,
        `Delete ${r.images.length > 1 ? "them" : "it"} in the Kamatera console: Hard Disk Library → ${r.datacenter} → My private images (or keep_input_artifact: true).`,
      );
    },
  };
}
