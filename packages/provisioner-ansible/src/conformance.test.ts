/**
 * The provisioner conformance suite from @kiln/sdk for ansible and ansible-local, with the real
 * ansible-playbook (Debian's ansible). The suite's "machine" is this one (its local communicator
 * runs commands here), so ansible really goes through kiln's local SSH endpoint and the relay,
 * and ansible-local really runs ansible-playbook -c local in the staging directory.
 */
import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { testProvisioner } from "@kiln/sdk/conformance";
import { expect } from "vitest";
import plugin from "./index.js";
import { ansibleSkip } from "./test-support.js";

const token = "kiln-ansible-conformance-4821";
const { skip } = ansibleSkip("ansible conformance");

const PLAYBOOK = `- hosts: all
  gather_facts: false
  tasks:
    - name: write the marker
      ansible.builtin.shell: echo "made by {{ greeting }}" > ansible-ran.txt
    - name: show the token
      ansible.builtin.debug:
        msg: "token {{ api_secret }}"
`;
const FAILING = `- hosts: all
  gather_facts: false
  tasks:
    - name: this task fails
      ansible.builtin.fail:
        msg: failed on purpose
`;
const LONG = `- hosts: all
  gather_facts: false
  tasks:
    - name: sleep
      ansible.builtin.command: sleep 600
`;
// ansible-local runs in its staging directory (here "staging", in the machine's folder)
const LOCAL_PLAYBOOK = PLAYBOOK.replace("> ansible-ran.txt", "> ../ansible-ran.txt");
const files = {
  "play.yml": PLAYBOOK,
  "local-play.yml": LOCAL_PLAYBOOK,
  "fail.yml": FAILING,
  "long.yml": LONG,
};
const vars = { greeting: "conformance", api_secret: token };

for (const type of ["ansible", "ansible-local"] as const) {
  const local = type === "ansible-local";
  testProvisioner({
    plugin,
    type,
    files,
    run: !skip,
    timeoutMs: 240_000,
    example: local
      ? { playbook_file: "local-play.yml", staging_directory: "staging", extra_vars: vars }
      : { playbook_file: "play.yml", extra_vars: vars },
    secrets: [token],
    invalid: [
      ...(local ? [{ playbook_file: "a.yml", clean_staging_directory: "yes" }] : [{}]),
      { playbook_file: "play.yml", extra_vars: { "bad-name": 1 } },
      { playbook_file: 3 },
    ],
    failing: [
      { playbook_file: "fail.yml" },
      { playbook_file: "no-such-playbook.yml" },
      { playbook_file: "play.yml", command: "kiln-no-such-ansible-playbook" },
    ],
    longRunning: { playbook_file: "long.yml" },
    verify: async (run) => {
      expect(await readFile(join(run.remoteDir, "ansible-ran.txt"), "utf8")).toBe("made by conformance\n");
      const out = run.events.flatMap((e) => (e.type === "output" ? [e.line] : []));
      expect(out.some((l) => l.includes("token <sensitive>"))).toBe(true);
      // nothing left on the machine: no staging directory, no ansible temporary folder
      expect(existsSync(join(run.remoteDir, "staging"))).toBe(false);
    },
  });
}
