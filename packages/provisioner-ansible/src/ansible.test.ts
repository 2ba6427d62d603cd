/** The ansible provisioner's errors before any playbook runs: each clear, none a crash. */
import { mkdtemp, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { applyDefaults, createRunContext, NoneCommunicator } from "@kiln/core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ansible } from "./ansible.js";
import { ansibleSchema } from "./schema.js";
import { ansibleSkip } from "./test-support.js";

const { skip } = ansibleSkip("ansible provisioner errors");
let dir: string;
let privateTmp: string;
const savedTmp = process.env.TMPDIR;
beforeAll(async () => {
  // run folders go to a TMPDIR of this file's own: other files run ansible meanwhile
  privateTmp = await mkdtemp(join(tmpdir(), "kiln-errors-tmp-"));
  process.env.TMPDIR = privateTmp;
  dir = await mkdtemp(join(tmpdir(), "kiln-ansible-errors-test-"));
  await writeFile(join(dir, "site.yml"), "- hosts: all\n  tasks: []\n");
});
afterAll(async () => {
  if (savedTmp === undefined) delete process.env.TMPDIR;
  else process.env.TMPDIR = savedTmp;
  await rm(privateTmp, { recursive: true, force: true });
});

async function provision(options: Record<string, unknown>, buildVars: Record<string, string> = {}) {
  const noop = () => {};
  const ui = { say: noop, message: noop, error: noop, output: noop, progress: noop, fork: () => ui };
  const { ctx } = createRunContext({
    run: { name: "t.null.host", build: "t", source: "host", type: "null", runUuid: "u" },
    ui,
    baseDir: dir,
    buildVars,
  });
  const before = (await readdir(tmpdir())).filter(
    (n) => n.startsWith("kiln-ansible-") && !n.includes("errors-test"),
  );
  const o = applyDefaults(ansibleSchema, options as never);
  const err = await ansible.provision({ ...ctx, options: o, communicator: new NoneCommunicator() }).then(
    () => undefined,
    (e: unknown) => e as Error & { code?: string; hint?: string },
  );
  const after = (await readdir(tmpdir())).filter(
    (n) => n.startsWith("kiln-ansible-") && !n.includes("errors-test"),
  );
  expect(after, "a run folder was left behind").toEqual(before);
  return err;
}

describe("ansible's clear errors", () => {
  it("says how to install ansible when ansible-playbook is missing", async () => {
    const err = await provision({ playbook_file: "site.yml", command: "kiln-no-such-ansible-playbook" });
    expect(err?.code).toBe("KILN_ANSIBLE_NOT_FOUND");
    expect(err?.message).toBe(
      "[ansible] kiln-no-such-ansible-playbook was not found (looked for it on PATH)",
    );
    expect(err?.hint).toMatch(/apt-get install ansible/);
  });

  it("names a missing playbook, inventory or galaxy file and a malformed ansible_env_vars entry", async () => {
    expect((await provision({ playbook_file: "nope.yml" }))?.message).toBe(
      "[ansible] playbook_file: nope.yml does not exist",
    );
    expect((await provision({ playbook_file: "site.yml", inventory_file: "inv" }))?.message).toBe(
      "[ansible] inventory_file: inv does not exist",
    );
    expect((await provision({ playbook_file: "site.yml", inventory_directory: "site.yml" }))?.message).toBe(
      "[ansible] inventory_directory: site.yml is a file, not a folder",
    );
    expect((await provision({ playbook_file: "site.yml", ansible_env_vars: ["JUSTNAME"] }))?.message).toMatch(
      /ansible_env_vars: "JUSTNAME" is not in the form NAME=value/,
    );
  });

  it.skipIf(skip)("says at once that a machine without a connection cannot be provisioned", async () => {
    const err = await provision({ playbook_file: "site.yml" });
    expect(err?.code).toBe("KILN_COMMUNICATOR_NONE");
    expect(err?.message).toMatch(
      /^\[ansible\] the machine does not take commands over kiln's connection: .*communicator "none"/,
    );
    const direct = await provision({ playbook_file: "site.yml", use_proxy: false });
    expect(direct?.message).toMatch(/use_proxy: false needs the machine's address and the builder's SSH key/);
  });
});
