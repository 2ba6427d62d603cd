/**
 * End to end without a VM: `runBuild` loads build files whose null source points at a real
 * OpenSSH server on this machine (as a throwaway user when root), and the real ansible-playbook
 * provisions it: through kiln's local endpoint (relayed over kiln's SSH connection), straight
 * (use_proxy: false) and staged (ansible-local). Then the failures: a failing task, a missing
 * playbook, a wrong become password — each a clear error, and nothing left behind.
 */
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { KilnEvent } from "@kiln/core";
import {
  type NullHost,
  processesMentioning,
  runBuildFile,
  type Sshd,
  sshdAvailability,
  startNullHost,
  startSshd,
  stopAllSshd,
} from "@kiln/sdk/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ansibleSkip } from "./test-support.js";

const sshd = sshdAvailability();
const { skip: noAnsible } = ansibleSkip("ansible end-to-end");
if (!sshd.available && process.env.CI === "true") throw new Error(`CI=true needs sshd: ${sshd.reason}`);
const skip = noAnsible || !sshd.available;
const isRoot = process.getuid?.() === 0;

const PLAYBOOK = `- hosts: all
  gather_facts: true
  tasks:
    - name: make the folder
      ansible.builtin.file: { path: "{{ out }}", state: directory, mode: "0755" }
    - name: template the config
      ansible.builtin.template: { src: app.conf.j2, dest: "{{ out }}/app-{{ mode }}.conf" }
      notify: record the restart
    - name: show the api token
      ansible.builtin.debug: { msg: "token is {{ api_token }}" }
  handlers:
    - name: record the restart
      ansible.builtin.copy: { content: "restarted by {{ mode }}\\n", dest: "{{ out }}/handler-{{ mode }}.txt" }
`;
const BECOME = `- hosts: all
  gather_facts: false
  tasks:
    - name: become the other user through su
      ansible.builtin.command: id -un
      become: true
      become_method: su
      become_user: "{{ other }}"
      register: who
    - ansible.builtin.file: { path: "{{ out }}", state: directory }
    - ansible.builtin.copy: { content: "{{ who.stdout }}\\n", dest: "{{ out }}/become.txt" }
`;
const FAILING = `- hosts: all
  gather_facts: false
  tasks:
    - name: a step that works
      ansible.builtin.command: "true"
    - name: install the missing thing
      ansible.builtin.command: /nonexistent/kiln-tool --install
`;

// several ansible-playbook runs per test, on a machine whose 2 cores other tests share
describe.skipIf(skip)("ansible provisioners end to end against a real sshd", { timeout: 180_000 }, () => {
  let host: NullHost;
  let server: Sshd;
  let key: NullHost["key"];
  let scratch: string;
  let out: string;
  const token = "tok-kiln-e2e-7731";

  let privateTmp: string;
  const savedTmp = process.env.TMPDIR;

  beforeAll(async () => {
    // this file's runs make their folders in a TMPDIR of its own, so the checks below see only
    // them (other test files run ansible at the same time)
    privateTmp = mkdtempSync(join(tmpdir(), "kiln-e2e-tmp-"));
    chmodSync(privateTmp, 0o755); // the throwaway users' sshd homes are made in it too
    process.env.TMPDIR = privateTmp;
    host = await startNullHost({ password: isRoot });
    server = host.sshd;
    key = host.key;
    // inside the workspace, so that the resolver finds the workspace packages
    const testDir = fileURLToPath(new URL("../test/", import.meta.url));
    mkdirSync(testDir, { recursive: true });
    scratch = mkdtempSync(join(testDir, "tmp-e2e-"));
    out = join(server.user.home, "out");
    writeFileSync(join(scratch, "site.yml"), PLAYBOOK);
    writeFileSync(join(scratch, "become.yml"), BECOME);
    writeFileSync(join(scratch, "failing.yml"), FAILING);
    writeFileSync(
      join(scratch, "app.conf.j2"),
      "port={{ app_port }}\nuser={{ ansible_user_id }}\nbuild={{ packer_build_name }}\n",
    );
  });

  afterAll(async () => {
    if (savedTmp === undefined) delete process.env.TMPDIR;
    else process.env.TMPDIR = savedTmp;
    if (privateTmp) rmSync(privateTmp, { recursive: true, force: true });
    await stopAllSshd();
    await key?.dispose();
    if (scratch) rmSync(scratch, { recursive: true, force: true });
  });

  /** The run folders this file's runs left in their TMPDIR. */
  function kilnTemp(): string[] {
    return readdirSync(privateTmp).filter((n) => n.startsWith("kiln-ansible-"));
  }

  /** Processes of this file's runs (ansible, its ssh and control masters all name the run folder). */
  function leftProcesses(): number[] {
    return processesMentioning(join(privateTmp, "kiln-ansible-"));
  }

  /** The folders a run named on the machine (ansible's temporary folder, ansible-local's staging). */
  function remoteFolders(events: KilnEvent[]): string[] {
    return events.flatMap((e) => {
      if (e.type !== "message") return [];
      const m =
        /^(?:ansible's temporary folder on the machine: (\S+)|Creating the staging directory (\S+)\.\.\.)/.exec(
          e.text,
        );
      return m ? [(m[1] ?? m[2]) as string] : [];
    });
  }

  async function build(
    provisioners: string,
    env: Record<string, string> = {},
    onEvent?: (e: KilnEvent, abort: () => void) => void,
  ) {
    const file = join(scratch, "build.yaml");
    writeFileSync(
      file,
      `kiln: 1
variables:
  api_token: { type: string, sensitive: true, env: KILN_E2E_TOKEN }
  become_password: { type: string, sensitive: true, default: "", env: KILN_E2E_BECOME }
sources:
${host.source()}builds:
  - name: e2e
    sources: [host]
    provisioners:
${provisioners}`,
    );
    const ctl = new AbortController();
    const { result, events } = await runBuildFile(file, {
      env: { KILN_E2E_TOKEN: token, ...env },
      resolver: {
        standard: {
          builder: { null: "@kiln/builder-null" },
          provisioner: {
            ansible: "@kiln/provisioner-ansible",
            "ansible-local": "@kiln/provisioner-ansible",
          },
        },
      },
      signal: ctl.signal,
      ...(onEvent ? { onEvent: (e: KilnEvent) => onEvent(e, () => ctl.abort()) } : {}),
    });
    const text = events.map((e) => JSON.stringify(e)).join("\n");
    const errors = events.flatMap((e) => (e.type === "run-end" && e.error ? [e.error] : []));
    return { result, events, text, errors };
  }

  const vars = (mode: string) => `        extra_vars:
          out: ${out}
          mode: ${mode}
          app_port: 8080
          api_token: \${{ var.api_token }}`;

  it("runs playbooks through the local endpoint, straight, and staged on the machine; nothing left behind", async () => {
    const before = kilnTemp();
    const r = await build(`      - type: ansible
        playbook_file: site.yml
${vars("proxy")}
      - type: ansible
        playbook_file: site.yml
        use_proxy: false
        use_sftp: true
${vars("direct")}
      - type: ansible-local
        playbook_file: site.yml
        playbook_dir: .
${vars("local")}
      - type: ansible-local
        playbook_file: site.yml
        playbook_dir: .
        staging_directory: ${join(server.user.home, "kept")}
        clean_staging_directory: false
${vars("kept")}
`);
    expect(r.result.ok, r.text).toBe(true);
    for (const mode of ["proxy", "direct", "local", "kept"]) {
      expect(readFileSync(join(out, `app-${mode}.conf`), "utf8")).toBe(
        `port=8080\nuser=${server.user.username}\nbuild=host\n`,
      );
      expect(readFileSync(join(out, `handler-${mode}.txt`), "utf8")).toBe(`restarted by ${mode}\n`);
    }
    // the token was printed by the playbook and is redacted in every event
    expect(r.text).not.toContain(token);
    expect(r.text).toContain("token is <sensitive>");
    const lines = r.events.flatMap((e) => (e.type === "output" ? [e.line] : []));
    expect(lines).toContain(
      "TASK [template the config] *****************************************************",
    );
    // nothing left behind: the run folders (keys, inventory, variables), ansible's temporary
    // folder on the machine, the staging directory, ssh control masters
    expect(kilnTemp()).toEqual(before);
    const remote = remoteFolders(r.events);
    expect(remote).toHaveLength(4); // two temporary folders, two staging directories
    for (const f of remote.slice(0, 3)) expect(existsSync(f), f).toBe(false);
    // kept as asked, but without the variables file (it may hold secrets)
    const kept = readdirSync(join(server.user.home, "kept"));
    expect(kept).toContain("site.yml");
    expect(kept).toContain("kiln-inventory");
    expect(kept).not.toContain("kiln-extra-vars.json");
    expect(leftProcesses()).toEqual([]);
  });

  it("fails a failing task with the task's name, the host and ansible's message", async () => {
    const before = kilnTemp();
    const r = await build(`      - type: ansible
        playbook_file: failing.yml
`);
    expect(r.result.ok).toBe(false);
    expect(r.errors.join("\n")).toMatch(
      /\[ansible\] task "install the missing thing" failed on default: .*No such file or directory.* \(ansible-playbook exited with code 2\)/,
    );
    expect(kilnTemp()).toEqual(before);
    expect(leftProcesses()).toEqual([]);

    const missing = await build(`      - type: ansible-local
        playbook_file: nope.yml
`);
    expect(missing.result.ok).toBe(false);
    expect(missing.errors.join("\n")).toContain("[ansible-local] playbook_file: nope.yml does not exist");
  });

  it("Ctrl-C ends ansible-playbook's process group and the relayed command on the machine", async () => {
    const marker = `kiln-e2e-sleep-${process.pid}`;
    writeFileSync(
      join(scratch, "long.yml"),
      `- hosts: all\n  gather_facts: false\n  tasks:\n    - name: sleep long\n      ansible.builtin.shell: exec -a ${marker} sleep 600\n`,
    );
    const before = kilnTemp();
    let sawTask = false;
    const r = await build(
      `      - type: ansible
        playbook_file: long.yml
`,
      {},
      (e, abort) => {
        if (!sawTask && e.type === "output" && e.line.startsWith("TASK [sleep long]")) {
          sawTask = true;
          // once the remote sleep runs
          const t = setInterval(() => {
            if (processesMentioning(marker).length > 0) {
              clearInterval(t);
              abort();
            }
          }, 100);
        }
      },
    );
    expect(sawTask).toBe(true);
    expect(r.result.ok).toBe(false);
    // the whole group went (ansible-playbook, its workers and ssh), and the relayed command with it
    for (
      let i = 0;
      i < 50 &&
      (processesMentioning(join(scratch, "long.yml")).length > 0 || processesMentioning(marker).length > 0);
      i++
    )
      await new Promise((res) => setTimeout(res, 100));
    expect(processesMentioning(join(scratch, "long.yml"))).toEqual([]);
    expect(processesMentioning(marker)).toEqual([]);
    expect(leftProcesses()).toEqual([]);
    expect(kilnTemp()).toEqual(before);
  });

  it.skipIf(!isRoot)(
    "passes the become password from a sensitive variable, and a wrong one fails clearly",
    async () => {
      // another throwaway user (with a password) to become: its sshd only makes the user
      const other = await startSshd({ password: true });
      const password = other.user.password as string;
      const ok = await build(
        `      - type: ansible
        playbook_file: become.yml
        # an unprivileged become user must be able to read the temporary module files
        ansible_env_vars: ["ANSIBLE_SHELL_ALLOW_WORLD_READABLE_TEMP=True"]
        become_password: \${{ var.become_password }}
        extra_vars: { out: ${out}, other: ${other.user.username} }
`,
        { KILN_E2E_BECOME: password },
      );
      expect(ok.result.ok, ok.text).toBe(true);
      expect(readFileSync(join(out, "become.txt"), "utf8")).toBe(`${other.user.username}\n`);
      expect(ok.text).not.toContain(password);

      const wrong = await build(
        `      - type: ansible
        playbook_file: become.yml
        # an unprivileged become user must be able to read the temporary module files
        ansible_env_vars: ["ANSIBLE_SHELL_ALLOW_WORLD_READABLE_TEMP=True"]
        become_password: \${{ var.become_password }}
        extra_vars: { out: ${out}, other: ${other.user.username} }
`,
        { KILN_E2E_BECOME: "not-the-password-1234" },
      );
      expect(
        wrong.result.ok,
        wrong.events.flatMap((e) => (e.type === "output" ? [e.line] : [])).join("\n"),
      ).toBe(false);
      expect(wrong.errors.join("\n")).toMatch(
        /\[ansible\] task "become the other user through su" failed on default: .*(Incorrect su password|Authentication failure)/i,
      );
      expect(wrong.text).not.toContain("not-the-password-1234");
    },
  );
});
