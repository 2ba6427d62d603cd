/**
 * The ansible provisioner on a real Debian guest, under QEMU TCG, with the real CLI: `kiln build`
 * boots testbed/debian's cloud image (qemu builder, a cidata seed with kiln's temporary key) and
 * runs Debian's ansible-playbook on this machine against it — through kiln's local SSH endpoint
 * (relayed over kiln's own connection) and straight to the forwarded port (use_proxy: false, over
 * SFTP). The playbook creates a user, templates a config and a systemd unit and restarts the
 * service when its config changes. Then ansible-local runs in the guest (Debian's ansible-core,
 * installed from .deb files fetched here, as the guest has no network): a playbook with a role,
 * group_vars and an inventory group, staged and removed afterwards. A shell provisioner then reads
 * the guest's state back. The
 * last provisioner is a failing playbook, so the same boot also shows that a failing task fails
 * the build (exit ≠ 0) with the task, the host and ansible's message, and that nothing is left.
 *
 * One boot for all of it. Skips where the host tools, root or ansible are missing; under CI=true
 * it fails instead.
 */
import { execFile, execFileSync } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, rmdirSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { ensureDist, makeScratch, processesMentioning } from "@kiln/sdk/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DEBIAN_DIR, type DebianImage, ensureDebianImage, installHint, missingHostTools } from "./image.js";
import { KILN_BIN, REPO } from "./repo.js";

function hasAnsible(): boolean {
  try {
    execFileSync("ansible-playbook", ["--version"], { stdio: "ignore", timeout: 60_000 });
    return true;
  } catch {
    return false;
  }
}

const missing = missingHostTools();
const reason =
  missing.length > 0
    ? `missing ${missing.join(", ")}: ${installHint(missing)}`
    : process.getuid?.() !== 0
      ? "building the Debian image needs root (mmdebstrap root mode)"
      : !hasAnsible()
        ? "ansible-playbook is missing (apt-get install ansible)"
        : "";
const skip = reason !== "" && process.env.CI !== "true";
if (skip) console.warn(`SKIP the ansible on Debian e2e: ${reason}`);

const SITE = `- hosts: all
  become: true
  gather_facts: true
  tasks:
    - name: create the service user
      ansible.builtin.user: { name: "{{ app_user }}", system: true, shell: /usr/sbin/nologin, create_home: false }
    - name: template the config
      ansible.builtin.template: { src: app.conf.j2, dest: /etc/kiln-app.conf, mode: "0640", owner: root, group: "{{ app_user }}" }
      notify: restart kiln-app
    - name: install the unit
      ansible.builtin.copy:
        dest: /etc/systemd/system/kiln-app.service
        content: |
          [Unit]
          Description=kiln ansible e2e service
          [Service]
          User={{ app_user }}
          ExecStart=/bin/sh -c 'echo "started $(date +%s%N)" >> /tmp/kiln-app.starts; exec sleep infinity'
          [Install]
          WantedBy=multi-user.target
    - name: start it
      ansible.builtin.systemd: { name: kiln-app, enabled: true, state: started, daemon_reload: true }
  handlers:
    - name: restart kiln-app
      ansible.builtin.systemd: { name: kiln-app, state: restarted }
`;
const DIRECT = `- hosts: all
  gather_facts: false
  tasks:
    - name: write through the direct connection
      ansible.builtin.copy: { content: "direct {{ packer_builder_type }}\\n", dest: /home/debian/direct.txt }
`;
const LOCAL = `- hosts: web
  become: true
  gather_facts: false
  roles: [motd]
`;
const ROLE_TASKS = `- name: write the message of the day
  ansible.builtin.template: { src: motd.j2, dest: /etc/motd-kiln, mode: "0644" }
`;
/**
 * ansible-core and the two libraries it cannot start without that the guest lacks (it has
 * cloud-init's python3-jinja2, -yaml and -cryptography); ansible-core's other Depends (paramiko,
 * dnspython, netaddr …) serve modules this test does not use, so dpkg is told to go on without them.
 */
const ANSIBLE_DEBS = ["ansible-core", "python3-packaging", "python3-resolvelib"];
const FAILING = `- hosts: all
  gather_facts: false
  tasks:
    - name: enable the missing service
      become: true
      ansible.builtin.systemd: { name: kiln-no-such.service, state: started }
`;

/** Reads the guest's state back (a shell provisioner, after the playbooks). */
const VERIFY = `#!/bin/sh
echo "user=$(getent passwd kiln-app | cut -d: -f7)"
echo "conf=$(sudo stat -c '%a %U:%G' /etc/kiln-app.conf) $(sudo sed -n 2p /etc/kiln-app.conf)"
echo "token-ok=$(sudo grep -c "^token=$KILN_T$" /etc/kiln-app.conf)"
echo "active=$(systemctl is-active kiln-app) enabled=$(systemctl is-enabled kiln-app)"
echo "starts=$(wc -l < /tmp/kiln-app.starts)"
echo "direct=$(cat /home/debian/direct.txt)"
echo "motd=$(cat /etc/motd-kiln)"
echo "leftover=$(ls -a /tmp /home/debian /home/debian/.ansible 2>/dev/null | grep -c kiln-ansible)"
`;

function run(cmd: string, args: string[], timeout: number, env: NodeJS.ProcessEnv) {
  return new Promise<{ code: number | null; out: string }>((resolve) => {
    execFile(
      cmd,
      args,
      { encoding: "utf8", timeout, maxBuffer: 64 * 1024 * 1024, env },
      (err, stdout, stderr) => {
        resolve({
          code: err ? (typeof err.code === "number" ? err.code : null) : 0,
          out: `${stdout}${stderr}`,
        });
      },
    );
  });
}

describe.skipIf(skip)(`ansible on a Debian guest${skip ? ` (skipped: ${reason})` : ""}`, () => {
  let image: DebianImage;
  let scratch: string;
  let debs: string;

  beforeAll(async () => {
    for (const p of ["core", "sdk", "provisioners", "provisioner-ansible", "builder-qemu", "cli"])
      ensureDist(path.join(REPO, "packages", p));
    image = await ensureDebianImage();
    scratch = makeScratch(DEBIAN_DIR, "ansible");
    // ansible-core for the guest, fetched once next to the image (the guest has no network)
    debs = path.join(image.cacheDir, "ansible-core-debs");
    if (!existsSync(path.join(debs, ".complete"))) {
      mkdirSync(debs, { recursive: true });
      execFileSync("apt-get", ["download", ...ANSIBLE_DEBS], { cwd: debs, stdio: "pipe", timeout: 300_000 });
      writeFileSync(path.join(debs, ".complete"), "");
    }
  }, 900_000);

  afterAll(() => {
    if (scratch) rmSync(scratch, { recursive: true, force: true });
    try {
      rmdirSync(path.join(DEBIAN_DIR, "test"));
    } catch {
      /* other files still use it */
    }
  });

  it("provisions the guest with real playbooks; a failing task fails the build clearly", async () => {
    writeFileSync(path.join(scratch, "site.yml"), SITE);
    writeFileSync(path.join(scratch, "direct.yml"), DIRECT);
    writeFileSync(path.join(scratch, "failing.yml"), FAILING);
    writeFileSync(path.join(scratch, "verify.sh"), VERIFY);
    writeFileSync(path.join(scratch, "local.yml"), LOCAL);
    mkdirSync(path.join(scratch, "roles", "motd", "tasks"), { recursive: true });
    mkdirSync(path.join(scratch, "roles", "motd", "templates"), { recursive: true });
    writeFileSync(path.join(scratch, "roles", "motd", "tasks", "main.yml"), ROLE_TASKS);
    writeFileSync(
      path.join(scratch, "roles", "motd", "templates", "motd.j2"),
      "{{ motd_text }} ({{ site }}, {{ packer_builder_type }})\n",
    );
    mkdirSync(path.join(scratch, "group_vars"));
    writeFileSync(path.join(scratch, "group_vars", "web.yml"), "motd_text: staged by ansible-local\n");
    writeFileSync(
      path.join(scratch, "app.conf.j2"),
      "# for {{ inventory_hostname }} on {{ ansible_facts.distribution }} {{ ansible_facts.distribution_major_version }}\nlisten={{ listen | join(',') }}\ntoken={{ api_token }}\n",
    );
    const outDir = path.join(scratch, "output");
    const token = "tok-debian-ansible-5582";
    writeFileSync(
      path.join(scratch, "build.yaml"),
      `kiln: 1
variables:
  api_token: { type: string, sensitive: true, env: KILN_E2E_TOKEN }
sources:
  debian:
    type: qemu
    iso_url: ${image.disk}
    iso_checksum: none
    disk_image: true
    format: qcow2
    accelerator: tcg
    memory: 1024
    cd_label: cidata
    cd_content:
      meta-data: |
        instance-id: kiln-ansible-e2e
        local-hostname: kiln-ansible
      user-data: |
        #cloud-config
        ssh_authorized_keys:
          - "\${{ build.SSHPublicKey }}"
    ssh_username: debian
    ssh_timeout: 10m
    shutdown_command: sudo shutdown -P now
    output_directory: ${outDir}
builds:
  - name: ansible
    sources: [debian]
    provisioners:
      - type: shell
        inline: ["cloud-init status --wait >/dev/null"]
      - type: ansible
        playbook_file: site.yml
        extra_vars:
          app_user: kiln-app
          listen: ["127.0.0.1:8080", "[::1]:8080"]
          api_token: \${{ var.api_token }}
      - type: ansible
        playbook_file: direct.yml
        use_proxy: false
        use_sftp: true
      - type: file
        source: ${debs}/
        destination: /tmp/ansible-debs
      - type: shell
        inline: ["sudo dpkg -i --force-depends /tmp/ansible-debs/*.deb >/dev/null 2>&1", "rm -rf /tmp/ansible-debs"]
      - type: ansible-local
        playbook_file: local.yml
        role_paths: [roles/motd]
        group_vars: group_vars
        inventory_groups: [web]
        extra_vars: { site: lab }
      - type: shell
        script: verify.sh
        environment_vars: ["KILN_T=\${{ var.api_token }}"]
      - type: ansible
        playbook_file: failing.yml
`,
    );
    // kiln's temporary folders go to a TMPDIR of this test's own, to be checked afterwards
    const tmp = path.join(scratch, "tmp");
    mkdirSync(tmp);
    const t0 = Date.now();
    const r = await run(process.execPath, [KILN_BIN, "build", path.join(scratch, "build.yaml")], 900_000, {
      ...process.env,
      NO_COLOR: "1",
      TMPDIR: tmp,
      KILN_E2E_TOKEN: token,
    });
    console.info(`[debian ansible e2e] kiln build: ${((Date.now() - t0) / 1000).toFixed(1)}s`);
    const log = r.out;
    if (process.env.KILN_DEBIAN_DEBUG) console.info(log);
    // the failing playbook fails the build, clearly, with the task, the host and systemd's word
    expect(r.code, log).not.toBe(0);
    expect(log).toMatch(/\[ansible\] task "enable the missing service" failed on default: .*kiln-no-such/);
    // what the playbooks did, as the guest reports it
    expect(log).toContain("user=/usr/sbin/nologin");
    expect(log).toContain("conf=640 root:kiln-app listen=127.0.0.1:8080,[::1]:8080");
    expect(log).toContain("token-ok=1");
    expect(log).toContain("active=active enabled=enabled");
    // started once, restarted once by the handler the changed config notified
    expect(log).toContain("starts=2");
    expect(log).toContain("direct=direct qemu");
    expect(log).toContain("motd=staged by ansible-local (lab, qemu)");
    expect(log).toContain("leftover=0");
    expect(log).toContain("TASK [template the config]");
    // the token went into the guest, never into kiln's output
    expect(log).not.toContain(token);
    // nothing left behind: no VM, no half-built output, no run folders, no ssh control masters
    expect(existsSync(outDir)).toBe(false);
    expect(processesMentioning(scratch)).toEqual([]);
    expect(readdirSync(tmp)).toEqual([]);
  }, 900_000);
});
