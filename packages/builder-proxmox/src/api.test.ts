/**
 * The proxmox builders against the Proxmox VE API double (testbed/pve) with its FakeRunner:
 * every request is checked against PVE's schema by the double; VMs do not boot, so these builds
 * use `communicator: none`. They prove the API sequence, both auth modes, TLS verification,
 * secrets redaction, and that every fault ends in a clear error with nothing left behind.
 * The real guests are in proxmox.e2e.test.ts.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { KilnError } from "@kiln/core";
import { type BuildRun, buildFile, ensureDist, makeScratch } from "@kiln/sdk/testing";
import { FakeRunner, type PveDouble, readCloudinitVolume, startPveDouble } from "@kiln-testbed/pve";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";

const PKG_DIR = fileURLToPath(new URL("..", import.meta.url));
const RESOLVER = {
  standard: { builder: { "proxmox-iso": "@kiln/builder-proxmox", "proxmox-clone": "@kiln/builder-proxmox" } },
};
const TOKEN_SECRET = "3f0b8a52-6d1c-4e8e-9b59-0c1d2e3f4a5b";
const PASSWORD = "s3cret-Pa55word";

let pve: PveDouble;
let runner: FakeRunner;
let dir: string;
let caFile: string;
let isoFile: string;
let otherIso: string;

function errorOf(run: BuildRun): KilnError | undefined {
  return run.result.runs[0]?.error as KilnError | undefined;
}
function errorText(run: BuildRun): string {
  const e = errorOf(run);
  return e ? `${e.message}\n${e.hint ?? ""}` : "";
}

/** What the double holds: VMs, ISOs and running tasks. */
function leftovers() {
  return {
    vms: [...pve.state.vms.keys()],
    running: [...pve.state.tasks.values()].filter((t) => t.status === "running").map((t) => t.type),
  };
}

async function isoVolumes(): Promise<string[]> {
  const { readdirSync } = await import("node:fs");
  return readdirSync(join(pve.state.storageDir, "template", "iso")).sort();
}

function sourceBlock(name: string, extra: string, opts: { auth?: string; type?: string } = {}): string {
  return `  ${name}:
    type: ${opts.type ?? "proxmox-iso"}
    proxmox_url: ${pve.url}
${opts.auth ?? `    username: root@pam\n    password: ${PASSWORD}\n    proxmox_ca_file: ${caFile}`}
    node: pve
    communicator: none
    task_timeout: 20s
    shutdown_timeout: 20s
${extra}
`;
}

function source(extra: string, opts: { auth?: string; type?: string } = {}): string {
  return `kiln: 1\nsources:\n${sourceBlock("box", extra, opts)}builds:\n  - sources: [box]\n`;
}

const ISO_SOURCE = `    boot_iso:
      iso_url: ISO_PATH
      iso_checksum: none
      iso_storage_pool: local
      unmount: true
    disks:
      - type: virtio
        storage_pool: local
        disk_size: 1G
        format: qcow2
    network_adapters:
      - model: virtio
        bridge: vmbr0
    memory: 256
    boot_wait: 0s
    boot_command: ["<esc>install url=http://\${{ http.ip }}:\${{ http.port }}/config<enter>"]
    http_content:
      /config: "hostname=box\\n"`;

beforeAll(async () => {
  ensureDist(PKG_DIR);
  runner = new FakeRunner({ shutdownMs: 50 });
  pve = await startPveDouble({
    runner,
    users: { "root@pam": { password: PASSWORD, privileges: "all" } },
    tokens: {
      "kiln@pve!ci": { secret: TOKEN_SECRET, privileges: "all" },
      "viewer@pve!ro": {
        secret: "11111111-2222-3333-4444-555555555555",
        privileges: [
          "VM.Audit",
          "VM.Allocate",
          "VM.Config.Disk",
          "VM.Config.CDROM",
          "VM.Config.CPU",
          "VM.Config.Memory",
          "VM.Config.Network",
          "VM.Config.Options",
          "VM.Config.HWType",
          "VM.PowerMgmt",
          "Datastore.AllocateSpace",
          "Datastore.AllocateTemplate",
          "Datastore.Audit",
          "Datastore.Allocate",
          "Sys.Audit",
        ],
      },
    },
    taskDurationMs: 20,
  });
  dir = makeScratch(PKG_DIR, "api");
  caFile = join(dir, "pve-root-ca.pem");
  writeFileSync(caFile, pve.caCert);
  isoFile = join(dir, "installer.iso");
  writeFileSync(isoFile, Buffer.alloc(64 * 1024, 7));
  otherIso = join(dir, "other.iso"); // not on the storage: every build uploads it (and must delete it on failure)
  writeFileSync(otherIso, Buffer.alloc(32 * 1024, 9));
}, 120_000);

afterAll(async () => {
  await pve?.close();
  const { rmSync } = await import("node:fs");
  if (dir) rmSync(dir, { recursive: true, force: true });
});

beforeEach(() => {
  pve.faults.clear();
});

const iso = (extra = "") => source(`${ISO_SOURCE.replace("ISO_PATH", isoFile)}\n${extra}`);

describe("proxmox-iso against the API double", () => {
  it("creates the VM, uploads the ISO, types the boot command with sendkey, makes a template", async () => {
    const run = await buildFile(
      dir,
      "iso.kiln.yaml",
      iso("    template_name: box-template\n    vm_id: 150"),
      { resolver: RESOLVER },
    );
    expect(run.result.ok, run.log).toBe(true);
    const vm = pve.state.vms.get(150);
    expect(vm?.config.template).toBe("1");
    expect(vm?.config.name).toBe("box-template");
    expect(vm?.config.ide2).toBeUndefined(); // unmount: true removed the drive
    expect(vm?.config.virtio0).toMatch(/^local:150\/base-150-disk-0\.qcow2/);
    expect(vm?.config.net0).toMatch(/^virtio=/);
    // The boot command reached the VM as PVE sendkey qcodes, the HTTP address rendered in.
    const keys = runner.vms.get(150)?.keys ?? [];
    expect(keys[0]).toBe("esc");
    expect(keys.slice(1, 8)).toEqual(["i", "n", "s", "t", "a", "l", "l"]);
    expect(keys.at(-1)).toBe("ret");
    expect(keys).toContain("shift-semicolon"); // the ':' of http://
    // The uploaded ISO stays on the storage as a cache for the next build; it is named after the file.
    expect(await isoVolumes()).toEqual(["installer.iso"]);
    const artifact = run.result.runs[0]?.artifacts[0];
    expect(artifact).toMatchObject({
      builderType: "proxmox-iso",
      id: "150",
      description: "A template was created: 150",
    });
    // Password, ticket and CSRF token never appear in the events.
    const all = JSON.stringify(run.events);
    expect(all).not.toContain(PASSWORD);
    expect(leftovers().running).toEqual([]);
  }, 60_000);

  it("a second build reuses the ISO already on the storage and refuses to replace vm_id without --force", async () => {
    const uploadsBefore = pve.state.requests.filter((r) => r.path.endsWith("/upload")).length;
    const again = await buildFile(
      dir,
      "iso.kiln.yaml",
      iso("    template_name: box-template\n    vm_id: 150"),
      { resolver: RESOLVER },
    );
    expect(again.result.ok).toBe(false);
    expect(errorOf(again)?.code).toBe("KILN_PROXMOX_VMID");
    expect(errorText(again)).toMatch(/vm_id 150 is already used by template 150 \(box-template\)/);
    expect(errorText(again)).toMatch(/--force/);
    const forced = await buildFile(
      dir,
      "iso.kiln.yaml",
      iso("    template_name: box-template\n    vm_id: 150"),
      {
        resolver: RESOLVER,
        force: true,
      },
    );
    expect(forced.result.ok, forced.log).toBe(true);
    expect(forced.log).toMatch(/already on the storage/);
    expect(pve.state.requests.filter((r) => r.path.endsWith("/upload")).length).toBe(uploadsBefore);
    expect(pve.state.vms.get(150)?.config.template).toBe("1");
  }, 60_000);

  it("iso_download_pve: the Proxmox host downloads the ISO itself (checksum passed along); keep_cdrom_device", async () => {
    const { createServer } = await import("node:http");
    const { createHash } = await import("node:crypto");
    const body = Buffer.alloc(48 * 1024, 5);
    const sha = createHash("sha256").update(body).digest("hex");
    const srv = createServer((_req, res) => res.end(body));
    await new Promise<void>((r) => srv.listen(0, "127.0.0.1", r));
    const port = (srv.address() as { port: number }).port;
    try {
      const run = await buildFile(
        dir,
        "dl.kiln.yaml",
        iso("    vm_id: 154\n    skip_convert_to_template: true")
          .replace(`iso_url: ${isoFile}`, `iso_url: http://127.0.0.1:${port}/images/netinst.iso`)
          .replace(
            "iso_checksum: none",
            `iso_checksum: sha256:${sha}\n      iso_download_pve: true\n      keep_cdrom_device: true`,
          ),
        { resolver: RESOLVER },
      );
      expect(run.result.ok, run.log).toBe(true);
      expect(run.log).toMatch(
        /Asking Proxmox to download http:\/\/127\.0\.0\.1:\d+\/images\/netinst\.iso into local/,
      );
      expect(
        pve.state.requests.some((r) => r.path.endsWith("/storage/local/download-url") && r.status === 200),
      ).toBe(true);
      const name = `netinst-${sha.slice(0, 12)}.iso`;
      expect(await isoVolumes()).toContain(name);
      expect(pve.state.vms.get(154)?.config.ide2).toBe("none,media=cdrom"); // unmounted, drive kept
      await run.result.runs[0]?.artifacts[0]?.destroy?.();
    } finally {
      srv.close();
    }
  }, 60_000);

  it("every hardware option ends up in a create request that PVE's schema accepts", async () => {
    const run = await buildFile(
      dir,
      "hw.kiln.yaml",
      source(`    vm_id: 155
    boot_iso: { iso_url: "${isoFile}", iso_checksum: none }
    vm_name: hw-test
    template_name: hw-template
    tags: kiln;test
    memory: 1024
    ballooning_minimum: 512
    cores: 2
    sockets: 2
    cpu_type: x86-64-v2-AES
    numa: true
    os: l26
    bios: ovmf
    efi_config: { efi_storage_pool: local, efi_type: 4m, pre_enrolled_keys: true }
    machine: q35
    scsi_controller: virtio-scsi-single
    vga: { type: virtio, memory: 32 }
    serials: [socket]
    onboot: true
    disks:
      - { type: scsi, storage_pool: local, disk_size: 1G, format: qcow2, io_thread: true, discard: true, ssd: true, cache_mode: writeback, asyncio: io_uring }
      - { type: sata, storage_pool: local, disk_size: 512M, exclude_from_backup: true }
    network_adapters:
      - { model: virtio, bridge: vmbr0, vlan_tag: "10", firewall: true, packet_queues: 2, mtu: 1500, mac_address: "BC:24:11:00:00:01" }
      - { bridge: vmbr1 }
    cloud_init: true
    cloud_init_storage_pool: local`),
      { resolver: RESOLVER },
    );
    expect(run.result.ok, run.log).toBe(true);
    const c = pve.state.vms.get(155)?.config ?? {};
    expect(c).toMatchObject({
      name: "hw-template",
      template: "1",
      tags: "kiln;test",
      bios: "ovmf",
      machine: "q35",
      scsihw: "virtio-scsi-single",
      ostype: "l26",
      cpu: "x86-64-v2-AES",
      vga: "virtio,memory=32",
      serial0: "socket",
    });
    expect(c.scsi0).toMatch(/^local:155\/base-155-disk-\d\.qcow2,.*iothread=1/);
    expect(c.sata0).toMatch(/backup=0/);
    expect(c.efidisk0).toMatch(/efitype=4m/);
    expect(c.net0).toMatch(/^virtio=BC:24:11:00:00:01,bridge=vmbr0,.*tag=10/);
    expect(c.net1).toMatch(/^e1000=.*bridge=vmbr1/);
    expect(c.ide2).toBe("local:iso/installer.iso,media=cdrom"); // not unmounted: stays attached
    expect(Object.values(c).some((v) => /cloudinit/.test(String(v)))).toBe(true);
    await run.result.runs[0]?.artifacts[0]?.destroy?.();
    expect(pve.state.vms.has(155)).toBe(false);
  }, 60_000);

  it("API token auth (no ticket), cd_content seed ISO uploaded, attached and deleted after the build", async () => {
    const before = pve.state.requests.length;
    const run = await buildFile(
      dir,
      "token.kiln.yaml",
      source(
        `${ISO_SOURCE.replace("ISO_PATH", isoFile)}
    vm_id: 151
    additional_iso_files:
      - cd_label: cidata
        iso_storage_pool: local
        unmount: true
        cd_content:
          meta-data: "instance-id: x\\n"
          user-data: "#cloud-config\\n"`,
        { auth: `    username: kiln@pve!ci\n    token: ${TOKEN_SECRET}\n    proxmox_ca_file: ${caFile}` },
      ),
      { resolver: RESOLVER },
    );
    expect(run.result.ok, run.log).toBe(true);
    const mine = pve.state.requests.slice(before);
    expect(mine.some((r) => r.path === "/api2/json/access/ticket")).toBe(false);
    expect(mine.filter((r) => r.user).every((r) => r.user === "kiln@pve!ci")).toBe(true);
    // the seed was attached while the VM ran, and is gone from the template and the storage
    expect(
      mine.some(
        (r) =>
          r.method === "DELETE" &&
          /content\/local%3Aiso%2Fkiln-box-|content\/local:iso\/kiln-box-/.test(r.path),
      ),
    ).toBe(true);
    expect(pve.state.vms.get(151)?.config.ide3).toBeUndefined();
    expect((await isoVolumes()).filter((f) => f.startsWith("kiln-"))).toEqual([]);
    expect(JSON.stringify(run.events)).not.toContain(TOKEN_SECRET);
  }, 60_000);
});

describe("boot command keys, parallel builds, Ctrl-C", () => {
  it("sendkey gets PVE's qcodes for Packer's special keys, held modifiers and page keys", async () => {
    const run = await buildFile(
      dir,
      "keys.kiln.yaml",
      iso("    vm_id: 152\n    skip_convert_to_template: true").replace(
        /boot_command: .*/,
        'boot_command: ["<pageUp><pageDown><leftCtrlOn><leftAltOn><del><leftAltOff><leftCtrlOff><f12>A<spacebar><tab><leftSuperOn>r<leftSuperOff>"]',
      ),
      { resolver: RESOLVER },
    );
    expect(run.result.ok, run.log).toBe(true);
    expect(runner.vms.get(152)?.keys).toEqual([
      "pgup",
      "pgdn",
      "ctrl-alt-delete",
      "f12",
      "shift-a",
      "spc",
      "tab",
      "meta_l-r",
    ]);
    await run.result.runs[0]?.artifacts[0]?.destroy?.();
  }, 60_000);

  it("parallel builds without vm_id each get their own VM ID", async () => {
    const extra = `${ISO_SOURCE.replace("ISO_PATH", isoFile)}\n    skip_convert_to_template: true`;
    const yaml = `kiln: 1\nsources:\n${sourceBlock("box", extra)}${sourceBlock("box2", extra)}builds:\n  - sources: [box, box2]\n`;
    const run = await buildFile(dir, "parallel.kiln.yaml", yaml, { resolver: RESOLVER });
    expect(run.result.ok, run.log).toBe(true);
    const ids = run.result.runs.map((r) => r.artifacts[0]?.id);
    expect(ids).toHaveLength(2);
    expect(new Set(ids).size).toBe(2);
    for (const r of run.result.runs) await r.artifacts[0]?.destroy?.();
  }, 60_000);

  it("Ctrl-C while the boot command is typed: the VM and the generated ISO are removed", async () => {
    const isos = await isoVolumes();
    const ac = new AbortController();
    const run = await buildFile(
      dir,
      "abort.kiln.yaml",
      source(`${ISO_SOURCE.replace("ISO_PATH", isoFile).replace("boot_wait: 0s", "boot_wait: 30s")}
    vm_id: 153
    additional_iso_files:
      - cd_label: cidata
        cd_content: { meta-data: "instance-id: z\\n" }`),
      {
        resolver: RESOLVER,
        signal: ac.signal,
        onEvent: (e) => {
          if (e.type === "say" && /Waiting 30s for boot/.test(e.text)) ac.abort();
        },
      },
    );
    expect(run.result.ok).toBe(false);
    expect(run.log).toMatch(/Deleting VM 153/);
    expect(pve.state.vms.has(153)).toBe(false);
    expect(await isoVolumes()).toEqual(isos);
    expect([...pve.state.tasks.values()].filter((t) => t.status === "running")).toEqual([]);
  }, 60_000);
});

describe("proxmox-clone against the API double", () => {
  it("clone_vm_id, full clone, cloud-init network settings for the build only", async () => {
    const tpl = await buildFile(
      dir,
      "tpl.kiln.yaml",
      iso("    vm_id: 156\n    template_name: clone-source\n    cloud_init: true"),
      {
        resolver: RESOLVER,
      },
    );
    expect(tpl.result.ok, tpl.log).toBe(true);
    const run = await buildFile(
      dir,
      "clone.kiln.yaml",
      source(
        `    clone_vm_id: 156
    vm_id: 157
    full_clone: true
    template_name: cloned
    cores: 4
    disks: [{ type: virtio, storage_pool: local, disk_size: 1G }]
    ipconfig: [{ ip: 10.0.0.5/24, gateway: 10.0.0.1 }]
    nameserver: 10.0.0.53
    searchdomain: example.test`,
        { type: "proxmox-clone" },
      ),
      { resolver: RESOLVER },
    );
    expect(run.result.ok, run.log).toBe(true);
    expect(run.log).toMatch(/Cloning clone-source \(156, full\) into VM 157/);
    const c = pve.state.vms.get(157)?.config ?? {};
    expect(c).toMatchObject({ template: "1", name: "cloned", cores: "4" });
    expect(c.virtio0).toMatch(/^local:157\/base-157-disk-0\.qcow2/); // a full copy, not an overlay of 156
    expect(c.virtio1).toMatch(/^local:157\//); // the new disk went into the next free slot
    // The network settings were the build's: gone from the template, but they were in the
    // cloud-init drive the clone booted with.
    expect(c.ipconfig0).toBeUndefined();
    expect(c.nameserver).toBeUndefined();
    const ciVolume = Object.values(c).find((v) => /cloudinit/.test(String(v)));
    const files = await readCloudinitVolume(
      pve.state.volumePath(String(ciVolume).split(",")[0] as string) as string,
    );
    expect(files["network-config"]).toMatch(/10\.0\.0\.5/);
    expect(files["network-config"]).toMatch(/10\.0\.0\.53/);
    expect(files["network-config"]).toMatch(/example\.test/);
    for (const r of [run, tpl]) await r.result.runs[0]?.artifacts[0]?.destroy?.();
  }, 60_000);

  it("clone_vm that names no VM says which templates there are", async () => {
    const run = await buildFile(
      dir,
      "noclone.kiln.yaml",
      source("    clone_vm: no-such-template", { type: "proxmox-clone" }),
      {
        resolver: RESOLVER,
      },
    );
    expect(errorOf(run)?.code).toBe("KILN_PROXMOX_CLONE");
    expect(errorText(run)).toMatch(/clone_vm "no-such-template": no VM or template has this name/);
    expect(errorText(run)).toMatch(/Templates here:/);
  }, 30_000);
});

describe("TLS and credentials", () => {
  it("refuses the self-signed certificate unless it is trusted; insecure_skip_tls_verify connects", async () => {
    const auth = `    username: root@pam\n    password: ${PASSWORD}`;
    const refused = await buildFile(
      dir,
      "tls.kiln.yaml",
      source(`${ISO_SOURCE.replace("ISO_PATH", isoFile)}\n    vm_id: 160`, { auth }),
      {
        resolver: RESOLVER,
      },
    );
    expect(refused.result.ok).toBe(false);
    expect(errorOf(refused)?.code).toBe("KILN_PROXMOX_TLS");
    expect(errorText(refused)).toMatch(/certificate .* is not trusted/);
    expect(errorText(refused)).toContain(pve.fingerprint);
    expect(errorText(refused)).toMatch(/proxmox_ca_file|insecure_skip_tls_verify/);
    expect(pve.state.vms.has(160)).toBe(false);
    const insecure = await buildFile(
      dir,
      "tls.kiln.yaml",
      source(
        `${ISO_SOURCE.replace("ISO_PATH", isoFile)}\n    vm_id: 160\n    skip_convert_to_template: true`,
        {
          auth: `${auth}\n    insecure_skip_tls_verify: true`,
        },
      ),
      { resolver: RESOLVER },
    );
    expect(insecure.result.ok, insecure.log).toBe(true);
    expect(pve.state.vms.get(160)?.config.template).toBeUndefined(); // skip_convert_to_template
    expect(pve.state.vms.get(160)?.status).toBe("stopped");
  }, 60_000);

  it("a wrong password is a clear 401 error, redacted, with nothing created", async () => {
    const vmsBefore = [...pve.state.vms.keys()];
    const run = await buildFile(
      dir,
      "badpw.kiln.yaml",
      source(`${ISO_SOURCE.replace("ISO_PATH", isoFile)}`, {
        auth: `    username: root@pam\n    password: not-the-password-42\n    proxmox_ca_file: ${caFile}`,
      }),
      { resolver: RESOLVER },
    );
    expect(errorOf(run)?.code).toBe("KILN_PROXMOX_AUTH");
    expect(errorText(run)).toMatch(/401/);
    expect(JSON.stringify(run.events)).not.toContain("not-the-password-42");
    expect([...pve.state.vms.keys()]).toEqual(vmsBefore);
  }, 30_000);

  it("credentials from PROXMOX_* variables; a token without user@realm!id is refused before any request", async () => {
    const saved = { ...process.env };
    Object.assign(process.env, {
      PROXMOX_URL: pve.url,
      PROXMOX_USERNAME: "kiln@pve!ci",
      PROXMOX_TOKEN: TOKEN_SECRET,
    });
    try {
      const fromEnv = await buildFile(
        dir,
        "env.kiln.yaml",
        source(`${ISO_SOURCE.replace("ISO_PATH", isoFile)}\n    skip_convert_to_template: true`, {
          auth: `    proxmox_ca_file: ${caFile}`,
        }).replace(/ {4}proxmox_url: .*\n/, ""),
        { resolver: RESOLVER },
      );
      expect(fromEnv.result.ok, fromEnv.log).toBe(true);
      expect(fromEnv.log).toMatch(/as kiln@pve!ci \(API token\)/);
      expect(JSON.stringify(fromEnv.events)).not.toContain(TOKEN_SECRET);
      await fromEnv.result.runs[0]?.artifacts[0]?.destroy?.();
    } finally {
      for (const k of ["PROXMOX_URL", "PROXMOX_USERNAME", "PROXMOX_TOKEN"]) delete process.env[k];
      Object.assign(process.env, saved);
    }
    const before = pve.state.requests.length;
    // Found by the builder's check before anything starts: at the option, nothing sent.
    const run = await buildFile(
      dir,
      "badtoken.kiln.yaml",
      source(ISO_SOURCE.replace("ISO_PATH", isoFile), {
        auth: `    username: kiln@pve\n    token: ${TOKEN_SECRET}`,
      }),
      { resolver: RESOLVER },
    );
    expect(errorOf(run)?.code).toBe("KILN_CONFIG");
    expect(errorText(run)).toMatch(
      /badtoken\.kiln\.yaml:\d+:\d+: sources\.box\.username: \[proxmox-iso\] .*user@realm!tokenid/,
    );
    expect(pve.state.requests.length).toBe(before);
    expect(JSON.stringify(run.events)).not.toContain(TOKEN_SECRET);
  }, 30_000);
});

describe("faults end in a clear error and leave no VM, ISO or task", () => {
  const withUpload = (extra: string, opts: { auth?: string } = {}) =>
    source(
      `${ISO_SOURCE.replace("ISO_PATH", otherIso)}
    additional_iso_files:
      - cd_label: cidata
        cd_content: { meta-data: "instance-id: y\\n" }
${extra}`,
      opts,
    );

  async function expectClean(isosBefore: string[]) {
    expect(leftovers()).toEqual({ vms: [150, 151, 160].filter((v) => pve.state.vms.has(v)), running: [] });
    expect(await isoVolumes()).toEqual(isosBefore);
  }

  it("transient 503s are retried", async () => {
    pve.faults.inject({ path: /\/status\/current$/, method: "GET", status: 503, times: 2 });
    pve.faults.inject({ path: "/cluster/nextid", status: 429, headers: { "Retry-After": "0" }, times: 1 });
    const run = await buildFile(dir, "retry.kiln.yaml", iso("    skip_convert_to_template: true"), {
      resolver: RESOLVER,
    });
    expect(run.result.ok, run.log).toBe(true);
    expect(run.log).toMatch(/503 .*retrying/);
    const vmid = Number(run.result.runs[0]?.artifacts[0]?.id);
    await run.result.runs[0]?.artifacts[0]?.destroy?.();
    expect(pve.state.vms.has(vmid)).toBe(false);
  }, 60_000);

  it("a failing start task: the VM and the uploaded ISOs are deleted", async () => {
    const isos = await isoVolumes();
    pve.faults.failTasks("qmstart", "start failed: QEMU exited with code 1", 1);
    const run = await buildFile(dir, "fail.kiln.yaml", withUpload(""), { resolver: RESOLVER });
    expect(run.result.ok).toBe(false);
    expect(errorOf(run)?.code).toBe("KILN_PROXMOX_TASK");
    expect(errorText(run)).toMatch(/starting VM \d+ failed: start failed: QEMU exited with code 1/);
    await expectClean(isos);
  }, 60_000);

  it("a task slower than task_timeout: kiln waits for it in cleanup, then deletes the VM", async () => {
    const isos = await isoVolumes();
    pve.faults.slowTasks(2500, "qmcreate");
    const run = await buildFile(
      dir,
      "slow.kiln.yaml",
      withUpload("").replace("task_timeout: 20s", "task_timeout: 1s"),
      { resolver: RESOLVER },
    );
    pve.faults.slowTasks(0, "qmcreate");
    expect(errorOf(run)?.code).toBe("KILN_PROXMOX_TASK_TIMEOUT");
    expect(errorText(run)).toMatch(/creating VM \d+ did not finish within 1s/);
    expect(errorText(run)).toMatch(/task_timeout/);
    await expectClean(isos);
  }, 60_000);

  it("a 503 on the upload is retried; an expired ticket (401) is renewed once", async () => {
    pve.faults.inject({ path: "/nodes/pve/storage/local/upload", status: 503, times: 1 });
    pve.faults.inject({
      path: "/cluster/nextid",
      status: 401,
      message: "permission denied - invalid PVE ticket",
      times: 1,
    });
    const logins = () => pve.state.requests.filter((r) => r.path.endsWith("/access/ticket")).length;
    const before = logins();
    const run = await buildFile(dir, "retry2.kiln.yaml", withUpload("    skip_convert_to_template: true"), {
      resolver: RESOLVER,
    });
    expect(run.result.ok, run.log).toBe(true);
    expect(run.log).toMatch(/upload of \S+\.iso: .*503.*; retrying/);
    expect(logins() - before).toBe(2); // the first login and the renewal
    await run.result.runs[0]?.artifacts[0]?.destroy?.();
  }, 60_000);

  it("two builds told the same ID: the one whose create task finds it taken tries the next", async () => {
    pve.faults.failTasks("qmcreate", "unable to create VM 180 - VM 180 already exists on node 'pve'", 1);
    const before = pve.state.vms.size;
    const run = await buildFile(dir, "race.kiln.yaml", iso("    skip_convert_to_template: true"), {
      resolver: RESOLVER,
    });
    expect(run.result.ok, run.log).toBe(true);
    expect(run.log).toMatch(/was taken meanwhile .*trying the next free ID/);
    expect(pve.state.vms.size, run.log).toBe(before + 1); // the half-made VM of the failed create is gone
    await run.result.runs[0]?.artifacts[0]?.destroy?.();
  }, 60_000);

  it("Ctrl-C while the Proxmox host downloads the ISO: kiln waits for the task, then deletes the ISO", async () => {
    const { createServer } = await import("node:http");
    const srv = createServer((_req, res) => res.end(Buffer.alloc(16 * 1024, 3)));
    await new Promise<void>((r) => srv.listen(0, "127.0.0.1", r));
    const port = (srv.address() as { port: number }).port;
    const isos = await isoVolumes();
    pve.faults.slowTasks(1500, "download");
    const ac = new AbortController();
    try {
      const run = await buildFile(
        dir,
        "dlabort.kiln.yaml",
        iso("")
          .replace(`iso_url: ${isoFile}`, `iso_url: http://127.0.0.1:${port}/slow.iso`)
          .replace("iso_checksum: none", "iso_checksum: none\n      iso_download_pve: true"),
        {
          resolver: RESOLVER,
          signal: ac.signal,
          onEvent: (e) => {
            if (e.type === "say" && /Asking Proxmox to download/.test(e.text))
              setTimeout(() => ac.abort(), 200);
          },
        },
      );
      expect(run.result.ok).toBe(false);
      expect(await isoVolumes()).toEqual(isos);
      expect([...pve.state.tasks.values()].filter((t) => t.status === "running")).toEqual([]);
    } finally {
      pve.faults.slowTasks(0, "download");
      srv.close();
    }
  }, 60_000);

  it("two additional ISOs and a boot ISO get distinct CD-ROM slots", async () => {
    const run = await buildFile(
      dir,
      "cds.kiln.yaml",
      source(`${ISO_SOURCE.replace("ISO_PATH", isoFile)}
    vm_id: 158
    skip_convert_to_template: true
    additional_iso_files:
      - { cd_label: one, cd_content: { a: "1" } }
      - { cd_label: two, cd_content: { b: "2" } }
      - { cd_label: three, type: sata, cd_content: { c: "3" } }`),
      { resolver: RESOLVER },
    );
    expect(run.result.ok, run.log).toBe(true);
    const c = pve.state.vms.get(158)?.config ?? {};
    expect(
      Object.keys(c)
        .filter((k) => /^(ide|sata)\d$/.test(k))
        .sort(),
    ).toEqual(["ide0", "ide1", "sata0"]); // ide2 held the boot ISO until unmount removed it
    expect(c.ide0).toMatch(/^local:iso\/kiln-box-[0-9a-f]+\.iso,media=cdrom/); // generated, not unmounted: kept
    await run.result.runs[0]?.artifacts[0]?.destroy?.();
  }, 60_000);

  it("a VMID taken elsewhere in the cluster", async () => {
    const isos = await isoVolumes();
    pve.faults.takeVmid(170, "pve2");
    const run = await buildFile(dir, "taken.kiln.yaml", withUpload("    vm_id: 170"), { resolver: RESOLVER });
    expect(errorOf(run)?.code).toBe("KILN_PROXMOX_VMID");
    expect(errorText(run)).toMatch(/vm_id 170 is already used/);
    expect(errorText(run)).toMatch(/another vm_id/);
    await expectClean(isos);
  }, 60_000);

  it("the guest agent never answers: the error says so instead of waiting silently", async () => {
    const isos = await isoVolumes();
    pve.faults.agentDown();
    const run = await buildFile(
      dir,
      "agent.kiln.yaml",
      withUpload("").replace(
        "communicator: none",
        "ssh_username: root\n    ssh_password: x\n    ssh_timeout: 3s",
      ),
      { resolver: RESOLVER },
    );
    pve.faults.agentDown(undefined, false);
    expect(errorOf(run)?.code).toBe("KILN_PROXMOX_ADDRESS");
    expect(errorText(run)).toMatch(/QEMU guest agent is not running/);
    expect(errorText(run)).toMatch(/qemu-guest-agent/);
    expect(run.log).toMatch(/Waiting for the guest's address: the QEMU guest agent is not running/);
    await expectClean(isos);
  }, 60_000);

  it("a token without VM.Console: sendkey is refused with the privilege named", async () => {
    const isos = await isoVolumes();
    const run = await buildFile(
      dir,
      "perm.kiln.yaml",
      withUpload("", {
        auth: `    username: viewer@pve!ro\n    token: 11111111-2222-3333-4444-555555555555\n    proxmox_ca_file: ${caFile}`,
      }),
      { resolver: RESOLVER },
    );
    expect(run.result.ok).toBe(false);
    expect(errorOf(run)?.code).toBe("KILN_PROXMOX_BOOT_COMMAND");
    expect(errorText(run)).toMatch(/403 Permission check failed \(\/vms\/\d+, VM\.Console\)/);
    expect(errorText(run)).toMatch(/VM\.Console/);
    await expectClean(isos);
  }, 60_000);
});
