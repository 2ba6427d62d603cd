/**
 * The seed flow "autoinstall on Proxmox → wait for cloud-init → configure", end to end against
 * the PVE double with testbed/debian's real Debian 12 (one boot, ~60 s under TCG):
 *
 *  - a cloud-image template made through the API as a PVE user would: the Debian disk imported
 *    into the LVM-thin pool (`local-lvm:0,import-from=…`), a cloud-init drive, the agent on;
 *  - `kiln build` with proxmox-clone: a linked clone, kiln's temporary key as cloud-init
 *    `ciuser`/`sshkeys` (the double writes the NoCloud drive; cloud-init in the guest applies
 *    it), the address from the guest's real qemu-guest-agent (the VM's own address — 198.18.0.0/15 on lo as root — port 22),
 *    a shell provisioner that waits for `cloud-init status --wait`, then an ansible playbook
 *    (Debian's ansible-playbook on this machine, through kiln's local endpoint relayed over its
 *    SSH connection) configures it, and the clone becomes a template;
 *  - meanwhile the test asks the API's agent routes, answered by the real agent.
 *
 * Skips without QEMU or the Debian image's build tools, or not as root (the image build needs
 * root and the flow port 22 on the VM's address); under CI=true it fails instead.
 */

import { execFileSync } from "node:child_process";
import { rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { buildFile, ensureDist, makeScratch } from "@kiln/sdk/testing";
import { ensureImage, imageUnavailable } from "@kiln/testbed-guests/images";
import { guestIp, missingQemu, samePortForwards } from "@kiln/testbed-guests/testing";
import {
  login,
  type PveDouble,
  packerVmIp,
  QemuRunner,
  request,
  startPveDouble,
  waitTask,
} from "@kiln-testbed/pve";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const PKG_DIR = fileURLToPath(new URL("..", import.meta.url));
const RESOLVER = {
  standard: {
    builder: { "proxmox-clone": "@kiln/builder-proxmox" },
    provisioner: { shell: "@kiln/provisioners", ansible: "@kiln/provisioner-ansible" },
  },
};
const PLAYBOOK = `- hosts: all
  become: true
  tasks:
    - name: mark the template as configured
      ansible.builtin.copy:
        content: "configured by ansible after cloud-init on {{ ansible_facts.hostname }}\\n"
        dest: /etc/kiln-configured
`;
function noAnsible(): string {
  try {
    execFileSync("ansible-playbook", ["--version"], { stdio: "ignore", timeout: 60_000 });
    return "";
  } catch {
    return "ansible-playbook is missing (apt-get install ansible)";
  }
}
const reason =
  missingQemu() ||
  imageUnavailable("debian") ||
  (process.getuid?.() !== 0 ? "needs root (the Debian image build)" : "") ||
  noAnsible();
const skip = reason !== "" && process.env.CI !== "true";
// biome-ignore lint/suspicious/noConsole: say why it skips
if (skip) console.warn(`SKIP proxmox cloud-init e2e: ${reason}`);

const PASSWORD = "pve-root-pw";
// port 22 on the VM's own address where it can be bound; else a port chosen up front, as ssh_port
const port22 = await samePortForwards(22);
const SSH_PORT = 30_000 + Math.floor(Math.random() * 20_000);

describe.skipIf(skip)("proxmox-clone of a Debian cloud image: wait for cloud-init, then configure", () => {
  let pve: PveDouble;
  let dir: string;
  let caFile: string;
  const serial: string[] = [];

  beforeAll(async () => {
    ensureDist(PKG_DIR);
    const img = await ensureImage("debian");
    pve = await startPveDouble({
      runner: new QemuRunner({
        ...(port22 ? {} : { sshPort: () => SSH_PORT }),
        serial: (vmid, line) => serial.push(`${vmid}| ${line}`),
      }),
      users: { "root@pam": { password: PASSWORD, privileges: "all" } },
      hostDns: { search: "kiln.test", nameservers: ["10.0.2.3"] },
      taskDurationMs: 0,
    });
    dir = makeScratch(PKG_DIR, "e2e-ci");
    caFile = join(dir, "pve-root-ca.pem");
    writeFileSync(caFile, pve.caCert);
    // the cloud-image template, through the API
    const s = await login(pve.url, pve.caCert, "root@pam", PASSWORD);
    const api = async (method: string, path: string, params: Record<string, string | number>) => {
      const r = await request(pve.url, method, path, { ...s, params });
      expect(r.status, `${method} ${path}: ${r.reason} ${JSON.stringify(r.body)}`).toBe(200);
      expect((await waitTask(pve.url, "pve", r.body.data as string, s, 120_000)).exitstatus).toBe("OK");
    };
    await api("POST", "/nodes/pve/qemu", {
      vmid: 9000,
      name: "debian-12-cloud",
      memory: img.memoryMiB,
      cores: 1,
      virtio0: `local-lvm:0,import-from=${img.file}`,
      ide2: "local-lvm:cloudinit",
      net0: "virtio,bridge=vmbr0",
      agent: 1,
      serial0: "socket",
      ipconfig0: "ip=dhcp",
    });
    await api("POST", "/nodes/pve/qemu/9000/template", {});
  }, 900_000);

  afterAll(async () => {
    await pve?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("boots the clone, reaches it at the agent's address, waits for cloud-init, configures, templates it", async () => {
    const s = await login(pve.url, pve.caCert, "root@pam", PASSWORD);
    // the API's agent routes while the build runs, answered by the guest's real agent
    const agentSeen: Record<string, unknown> = {};
    let polling = true;
    const poll = (async () => {
      const want = [
        ["GET", "get-osinfo"],
        ["GET", "network-get-interfaces"],
        ["POST", "ping"],
        ["GET", "get-host-name"],
        ["POST", "fsfreeze-status"],
      ] as const;
      while (polling && Object.keys(agentSeen).length < want.length) {
        for (const [m, c] of want) {
          if (c in agentSeen) continue;
          const r = await request(pve.url, m, `/nodes/pve/qemu/9001/agent/${c}`, s).catch(() => undefined);
          if (r?.status === 200) agentSeen[c] = (r.body.data as { result: unknown }).result;
        }
        await new Promise((r) => setTimeout(r, 1000));
      }
    })();
    writeFileSync(join(dir, "configure.yml"), PLAYBOOK);
    const t0 = Date.now();
    const build = await buildFile(
      dir,
      "debian.kiln.yaml",
      `kiln: 1
sources:
  debian:
    type: proxmox-clone
    proxmox_url: ${pve.url}
    username: root@pam
    password: ${PASSWORD}
    proxmox_ca_file: ${caFile}
    node: pve
    clone_vm_id: 9000
    full_clone: false
    vm_id: 9001
    template_name: debian-12-configured
    ssh_username: debian
    ssh_timeout: 5m
    ${port22 ? "" : `ssh_port: ${SSH_PORT}`}
builds:
  - sources: [debian]
    provisioners:
      - type: shell
        inline:
          - cloud-init status --wait
          - "cloud-init status --long | sed -n 's/^status: /cloud-init: /p'"
          - hostname
      - type: ansible
        playbook_file: configure.yml
      - type: shell
        inline:
          - cat /etc/kiln-configured
          - sudo cloud-init clean --logs
`,
      { resolver: RESOLVER },
    ).finally(() => {
      polling = false;
    });
    await poll;
    const took = Date.now() - t0;
    // biome-ignore lint/suspicious/noConsole: the timing, for the test log
    console.info(`proxmox cloud-init e2e: kiln build ${took} ms`);
    expect(build.result.ok, `${build.log}\n--- serial ---\n${serial.slice(-60).join("\n")}`).toBe(true);
    // address from the real agent: the VM's own address (port 22 there: no ssh_port set)
    const ip = new RegExp(`The guest agent reports (${guestIp()})\\.`).exec(build.log)?.[1];
    expect(ip).toBeDefined();
    expect(ip).not.toBe("127.0.0.1");
    expect(build.log).toContain("out: cloud-init: done");
    expect(build.log).toContain("out: kiln-debian"); // the hostname cloud-init set from the VM's name (PVE's user-data)
    expect(build.log).toContain("TASK [mark the template as configured]");
    expect(build.log).toContain("out: configured by ansible after cloud-init on kiln-debian");
    // what the API's agent routes said while the guest ran
    expect(agentSeen["get-osinfo"]).toMatchObject({ id: "debian", "version-id": "12" });
    expect(agentSeen.ping).toEqual({});
    expect(agentSeen["fsfreeze-status"]).toBe("thawed");
    const ifs = agentSeen["network-get-interfaces"] as {
      name: string;
      "ip-addresses"?: { "ip-address": string }[];
    }[];
    const nic = ifs.find((i) => i.name !== "lo");
    expect(nic?.name).toMatch(/^(ens|enp|eth)/); // the guest's own interface name
    expect(nic?.["ip-addresses"]?.[0]?.["ip-address"]).toBe(ip);
    // Packer's rule (first IPv4 not in 127/8, any interface) picks the address the build's SSH
    // used too; with 127.0.0.N (not root, off CI) it would find none
    if (!ip?.startsWith("127.")) expect(packerVmIp(ifs)).toBe(ip);
    expect(ifs.flatMap((i) => i["ip-addresses"] ?? []).map((a) => a["ip-address"])).not.toContain(
      "10.0.2.15",
    );
    // the clone is a template on the thin pool, an overlay of the cloud image's base volume
    const v = pve.state.vms.get(9001);
    expect(v?.config).toMatchObject({ template: "1", name: "debian-12-configured" });
    expect(v?.config.virtio0).toMatch(
      /^local-lvm:base-9000-disk-0\/base-9001-disk-0|^local-lvm:base-9000-disk-0\/vm-9001-disk-0/,
    );
    expect([...pve.state.vms.values()].filter((x) => x.status === "running")).toEqual([]);
  }, 900_000);
});
