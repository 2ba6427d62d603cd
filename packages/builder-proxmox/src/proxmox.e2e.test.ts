/**
 * proxmox-iso and proxmox-clone end to end against the Proxmox VE API double whose VMs are real
 * QEMU guests (QemuRunner, TCG) of kiln's test appliance:
 *
 *  1. proxmox-iso: the installer ISO is uploaded through the API, the VM created, the boot
 *     command typed with sendkey at the installer's `boot:` prompt, the install config served by
 *     kiln's HTTP server, SSH (address from the guest agent), shell + file provisioners, ACPI
 *     shutdown, CD-ROM removed, cloud-init drive added, template made.
 *  2. proxmox-clone from that template: its disk boots, the first build's file is there; kiln's
 *     temporary SSH key reaches the clone only through cloud-init (ciuser/sshkeys → the double's
 *     NoCloud drive), is removed again (ssh_clear_authorized_keys), and the clone becomes a
 *     template too.
 *
 * The double's guests sit behind QEMU user networking; each VM has its own address (198.18.0.0/15
 * on the host's lo as root — not loopback, so Packer would take it too — else 127.0.0.N), which
 * the guest agent reports, with the guest's port 22 forwarded from port 22 there: the builds connect to the reported address with the default port, as on real PVE.
 * Where port 22 cannot be bound (not root, a host sshd on 0.0.0.0:22), the forward is a port chosen up front (QemuRunner's sshPort),
 * given to the builds as ssh_port.
 */
import { spawnSync } from "node:child_process";
import { rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { buildFile, ensureDist, makeScratch } from "@kiln/sdk/testing";
import { guestIp, samePortForwards } from "@kiln/testbed-guests/testing";
import { type Appliance, ensureAppliance } from "@kiln-testbed/appliance";
import { type PveDouble, QemuRunner, startPveDouble } from "@kiln-testbed/pve";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const PKG_DIR = fileURLToPath(new URL("..", import.meta.url));
const RESOLVER = {
  standard: {
    builder: { "proxmox-iso": "@kiln/builder-proxmox", "proxmox-clone": "@kiln/builder-proxmox" },
    provisioner: { shell: "@kiln/provisioners", file: "@kiln/provisioners" },
  },
};
const missing = ["qemu-system-x86_64", "qemu-img", "xorriso"].filter(
  (t) => spawnSync("sh", ["-c", `command -v ${t}`], { stdio: "ignore" }).status !== 0,
);
// Skip where QEMU is missing — never under CI=true, where the test must fail instead.
const skip = missing.length > 0 && process.env.CI !== "true";

const PASSWORD = "pve-root-pw";
const GUEST_PASSWORD = "kiln-pve-demo";
const BASE_PORT = 30_000 + Math.floor(Math.random() * 20_000);
// port 22 on each VM's own address, where this process may bind it (root, no sshd on 0.0.0.0:22)
const asRoot = await samePortForwards(22);
const sshPort = (vmid: number) => BASE_PORT + (vmid - 200);
const sshPortLine = (vmid: number) => (asRoot ? "" : `ssh_port: ${sshPort(vmid)}`);

describe.skipIf(skip)(
  `proxmox builders with real guests${skip ? ` (skipped: missing ${missing.join(", ")})` : ""}`,
  () => {
    let appliance: Appliance;
    let pve: PveDouble;
    let dir: string;
    let caFile: string;
    const serial: string[] = [];

    beforeAll(async () => {
      ensureDist(PKG_DIR);
      appliance = await ensureAppliance();
      pve = await startPveDouble({
        runner: new QemuRunner({
          ...(asRoot ? {} : { sshPort }),
          serial: (vmid, line) => serial.push(`${vmid}| ${line}`),
        }),
        users: { "root@pam": { password: PASSWORD, privileges: "all" } },
      });
      dir = makeScratch(PKG_DIR, "e2e");
      caFile = join(dir, "pve-root-ca.pem");
      writeFileSync(caFile, pve.caCert);
    }, 300_000);

    afterAll(async () => {
      await pve?.close(); // kills any guest still running
      if (dir) rmSync(dir, { recursive: true, force: true });
    });

    const connection = () => `    proxmox_url: ${pve.url}
    username: root@pam
    password: ${PASSWORD}
    proxmox_ca_file: ${caFile}
    node: pve
    memory: 256
    network_adapters: [{ model: virtio, bridge: vmbr0 }]
    ssh_username: root
    ssh_timeout: 5m`;

    it("proxmox-iso installs the appliance into a template, and proxmox-clone provisions a clone of it", async () => {
      const iso = await buildFile(
        dir,
        "iso.kiln.yaml",
        `kiln: 1
sources:
  appliance:
    type: proxmox-iso
${connection()}
    vm_id: 200
    vm_name: kiln-appliance-build
    template_name: kiln-appliance
    template_description: the kiln test appliance
    ${sshPortLine(200)}
    ssh_password: ${GUEST_PASSWORD}
    cloud_init: true
    cloud_init_storage_pool: local
    boot_iso:
      iso_url: ${appliance.installerIso}
      iso_checksum: none
      iso_storage_pool: local
      unmount: true
    disks:
      - type: virtio
        storage_pool: local
        disk_size: 256M
        format: qcow2
    http_content:
      /config: |
        hostname=kiln-pve
        password=${GUEST_PASSWORD}
    boot_wait: 3s
    boot_command:
      - "install url=http://\${{ http.ip }}:\${{ http.port }}/config<enter>"
builds:
  - sources: [appliance]
    provisioners:
      - type: shell
        inline:
          - echo "built-on-pve by \${{ build.PackerRunUUID }}" > /etc/kiln-build
          - hostname
      - type: file
        content: "Baked on Proxmox by kiln.\\n"
        destination: /etc/motd
`,
        { resolver: RESOLVER },
      );
      expect(iso.result.ok, `${iso.log}\n--- serial ---\n${serial.slice(-40).join("\n")}`).toBe(true);
      expect(iso.log).toMatch(/Uploading .*installer.* to local/);
      expect(iso.log).toMatch(/Typed \d+ keys in .* keys\/s/);
      expect(iso.log).toMatch(/HTTP GET \/config 200/);
      // the VM's own address (198.18.0.0/15 as root), not the host's 127.0.0.1
      expect(iso.log).toMatch(new RegExp(`The guest agent reports (?!127\\.0\\.0\\.1\\.)${guestIp()}\\.`));
      expect(iso.log).toContain("out: kiln-pve");
      // The installer got the command line typed through sendkey, with kiln's HTTP address in it.
      expect(serial.join("\n")).toMatch(/200\| .*KILN-CMDLINE:.*install url=http:\/\/[0-9.]+:\d+\/config/);
      const tpl = pve.state.vms.get(200);
      expect(tpl?.status).toBe("stopped");
      expect(tpl?.config).toMatchObject({
        template: "1",
        name: "kiln-appliance",
        description: "the kiln test appliance",
      });
      expect(tpl?.config.ide2).toBeUndefined(); // CD-ROM removed
      expect(tpl?.config.virtio0).toMatch(/^local:200\/base-200-disk-0\.qcow2/);
      expect(iso.result.runs[0]?.artifacts[0]).toMatchObject({ builderType: "proxmox-iso", id: "200" });

      // The template's disk boots: a linked clone, provisioned again.
      const clone = await buildFile(
        dir,
        "clone.kiln.yaml",
        `kiln: 1
sources:
  again:
    type: proxmox-clone
${connection()}
    clone_vm: kiln-appliance
    full_clone: false
    vm_id: 201
    template_name: kiln-appliance-v2
    ${sshPortLine(201)}
    ssh_clear_authorized_keys: true
builds:
  - sources: [again]
    provisioners:
      - type: shell
        inline:
          - cat /etc/kiln-build /etc/motd
          - echo second >> /etc/kiln-build
          - grep -c . /root/.ssh/authorized_keys
`,
        { resolver: RESOLVER },
      );
      expect(clone.result.ok, `${clone.log}\n--- serial ---\n${serial.slice(-40).join("\n")}`).toBe(true);
      expect(clone.log).toMatch(/out: built-on-pve by [0-9a-f-]{36}/);
      expect(clone.log).toContain("out: Baked on Proxmox by kiln.");
      expect(clone.log).toMatch(/Cloning kiln-appliance \(200, linked\) into VM 201/);
      // No password: kiln's temporary key reached the clone as cloud-init sshkeys (ciuser root) …
      expect(clone.log).toMatch(/Created a temporary ed25519 key pair/);
      expect(clone.log).toMatch(/Configuring VM 201: .*ciuser.*sshkeys/);
      // … and was removed from authorized_keys before the template was made.
      expect(clone.log).toMatch(/Removed the temporary key from .*authorized_keys \(1 line\(s\)\)/);
      const v2 = pve.state.vms.get(201);
      expect(v2?.config).toMatchObject({ template: "1", name: "kiln-appliance-v2" });
      expect(v2?.config.sshkeys).toBeUndefined(); // the build-only cloud-init settings are gone
      expect(v2?.config.ciuser).toBeUndefined();
      expect(tpl?.config.ide0 ?? tpl?.config.ide1 ?? tpl?.config.ide3).toMatch(/cloudinit/); // cloud_init: true
      expect(v2?.config.virtio0).toMatch(/^local:200\/base-200-disk-0\.qcow2\/201\//); // an overlay of the first template's disk
      // No guest left running, no task left.
      expect([...pve.state.vms.values()].filter((v) => v.status === "running")).toEqual([]);
      expect([...pve.state.tasks.values()].filter((t) => t.status === "running")).toEqual([]);
    }, 600_000);
  },
);
