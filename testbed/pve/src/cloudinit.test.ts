/**
 * Cloud-init drives like PVE's (qemu-server Cloudinit.pm, NoCloud): `<storage>:cloudinit` drives
 * allocate vm-<vmid>-cloudinit.qcow2, deleting frees it, templates keep it, clones get their own,
 * and a start (re)generates the `cidata` ISO from the config. Contract tests with the FakeRunner;
 * the last test boots the test appliance under QEMU (TCG) and logs in with a key that only went
 * in through `sshkeys` (skips without QEMU/appliance, except under CI=true).
 */
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { login, request, waitTask } from "./client.js";
import {
  encryptPw,
  isoVolumeLabel,
  nocloudMetaData,
  nocloudNetwork,
  nocloudUserData,
  readCloudinitVolume,
  readResolvConf,
  sha256Crypt,
  uriUnescape,
} from "./cloudinit.js";
import { QemuRunner } from "./qemu-runner.js";
import { FakeRunner } from "./runner.js";
import { type PveDouble, startPveDouble } from "./server.js";
import { CI, findApplianceDisk, hasTool, ssh2, sshExec } from "./test-guest.js";

const has = hasTool;
const hasIsoTools =
  has("qemu-img") && (has("genisoimage") || has("xorriso")) && (has("xorriso") || has("isoinfo"));
if (!hasIsoTools) {
  if (CI) throw new Error("PVE double cloud-init test: qemu-img + genisoimage/xorriso missing");
  console.warn("SKIP PVE double cloud-init ISO tests: qemu-img + genisoimage/xorriso missing");
}

const KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDBdd2KEWiLnnYjJA0HPlIQjoM6BKs4CqQ8YBBfKdXWh kiln@test";
const KEY2 =
  "ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBEQl1yGjuUE1bnZpQuvexLN5Dj3f81kD/zRWkOuw5xFm6Go2Jqbc4Y2cP1l98Y5Nq1zHbgVdn8kHn6LJI8fR2VQ= second";

describe("generators (Cloudinit.pm)", () => {
  test("user-data for ciuser=root + sshkeys, as PVE writes it", () => {
    const conf = {
      name: "kiln-ci",
      ciuser: "root",
      sshkeys: encodeURIComponent(`${KEY}\n\n${KEY2}\n`),
    };
    expect(nocloudUserData(conf, 100)).toBe(
      [
        "#cloud-config",
        "hostname: kiln-ci",
        "manage_etc_hosts: true",
        "fqdn: kiln-ci",
        "user: root",
        "disable_root: False",
        "ssh_authorized_keys:",
        `  - ${KEY}`,
        `  - ${KEY2}`,
        "chpasswd:",
        "  expire: False",
        "package_upgrade: true",
        "",
      ].join("\n"),
    );
  });

  test("no ciuser: no user line, users: [default]; fqdn from searchdomain or a dotted name; ciupgrade=0", () => {
    expect(nocloudUserData({ searchdomain: "example.com", cipassword: "pw", ciupgrade: "0" }, 105)).toBe(
      [
        "#cloud-config",
        "hostname: VM105",
        "manage_etc_hosts: true",
        "fqdn: VM105.example.com",
        "password: pw",
        "chpasswd:",
        "  expire: False",
        "users:",
        "  - default",
        "",
      ].join("\n"),
    );
    const u = nocloudUserData({ name: "box.lab.local", ciuser: "debian" }, 1);
    expect(u).toContain("hostname: box\nmanage_etc_hosts: true\nfqdn: box.lab.local\nuser: debian\n");
    expect(u).not.toContain("disable_root");
    expect(nocloudUserData({ cipassword: "$5$x$y" }, 1, true)).toContain("password: **********\n");
  });

  test("network-config v1 from netN/ipconfigN; DNS from the config or the node's resolv.conf", () => {
    const conf = {
      net0: "virtio=BC:24:11:AA:BB:CC,bridge=vmbr0",
      net1: "e1000=BC:24:11:00:00:01,bridge=vmbr0",
      net2: "virtio=BC:24:11:00:00:02,bridge=vmbr0",
      ipconfig0: "ip=192.0.2.10/24,gw=192.0.2.1,ip6=auto",
      ipconfig1: "ip=dhcp",
      nameserver: "1.1.1.1 9.9.9.9",
      searchdomain: "a.example b.example",
    };
    expect(nocloudNetwork(conf, { nameservers: ["10.0.0.1"] })).toBe(
      [
        "version: 1",
        "config:",
        "    - type: physical",
        "      name: eth0",
        "      mac_address: 'bc:24:11:aa:bb:cc'",
        "      subnets:",
        "      - type: static",
        "        address: '192.0.2.10'",
        "        netmask: '255.255.255.0'",
        "        gateway: '192.0.2.1'",
        "      - type: ipv6_slaac",
        "    - type: physical",
        "      name: eth1",
        "      mac_address: 'bc:24:11:00:00:01'",
        "      subnets:",
        "      - type: dhcp4",
        "    - type: nameserver",
        "      address:",
        "      - '1.1.1.1'",
        "      - '9.9.9.9'",
        "      search:",
        "      - 'a.example'",
        "      - 'b.example'",
        "",
      ].join("\n"),
    );
    // without nameserver/searchdomain PVE takes the node's resolv.conf; the entry is always there
    expect(nocloudNetwork({ net0: "virtio=BC:24:11:AA:BB:CC" }, { nameservers: [] })).toBe(
      "version: 1\nconfig:\n    - type: nameserver\n",
    );
    expect(
      nocloudNetwork({ net0: "virtio=BC:24:11:AA:BB:CC" }, { search: "lan", nameservers: ["10.0.0.1"] }),
    ).toBe(
      "version: 1\nconfig:\n    - type: nameserver\n      address:\n      - '10.0.0.1'\n      search:\n      - 'lan'\n",
    );
    const tmp = path.join(os.tmpdir(), `resolv-${process.pid}`);
    fs.writeFileSync(
      tmp,
      "# x\ndomain corp.example other\nnameserver 10.1.1.1\nnameserver bogus\nnameserver ::1\n",
    );
    expect(readResolvConf(tmp)).toEqual({ search: "corp.example", nameservers: ["10.1.1.1", "::1"] });
    fs.rmSync(tmp);
  });

  test("meta-data: instance-id is the SHA-1 of user-data . network-config", () => {
    expect(nocloudMetaData("a", "b")).toBe("instance-id: da23614e02469a0d7c7bd1bdab5c9c474b1904dc\n");
  });

  test("sshkeys are URL-decoded like URI::Escape (%XX only, '+' stays)", () => {
    expect(uriUnescape("ssh-ed25519%20AAA%2B%2F+x%0A%C3%A4")).toBe("ssh-ed25519 AAA+/+x\nä");
  });

  test("cipassword hashing: glibc SHA-256 crypt like PVE::Tools::encrypt_pw", () => {
    expect(sha256Crypt("kiln", "abcdefgh")).toBe("$5$abcdefgh$1bDNAXK6.YxVpidMLORlAl.WazwsKwaCOL1Rg0Pnpa2");
    if (has("openssl"))
      for (const [pw, salt] of [
        ["x", "saltsalt"],
        ["a".repeat(70), "XyZ/12.3"],
        ["pässwörd", "Ab3Xa.b9"],
      ] as const)
        expect(sha256Crypt(pw, salt)).toBe(
          spawnSync("openssl", ["passwd", "-5", "-salt", salt, pw], { encoding: "utf8" }).stdout.trim(),
        );
    expect(encryptPw("x")).toMatch(/^\$5\$[A-Za-z0-9/X]{8}\$[./0-9A-Za-z]{43}$/);
  });
});

describe.skipIf(!hasIsoTools)("cloud-init drives through the API (FakeRunner)", () => {
  let d: PveDouble;
  let s: Awaited<ReturnType<typeof login>>;
  const runner = new FakeRunner();
  const api = (method: string, p: string, params?: Record<string, string | number>) =>
    request(d.url, method, p, { ...s, params });
  const task = async (method: string, p: string, params?: Record<string, string | number>) => {
    const r = await api(method, p, params);
    expect(r.status, `${method} ${p}: ${r.reason}`).toBe(200);
    return waitTask(d.url, "pve", r.body.data as string, s);
  };
  const config = async (vmid: number) =>
    (await api("GET", `/nodes/pve/qemu/${vmid}/config`)).body.data as Record<string, string>;
  const vol = (volid: string) => d.state.volumePath(volid) as string;
  const images = async (vmid: number) =>
    (
      (await api("GET", "/nodes/pve/storage/local/content", { content: "images", vmid })).body.data as {
        volid: string;
        size: number;
      }[]
    ).map((v) => `${v.volid} ${v.size}`);

  beforeAll(async () => {
    d = await startPveDouble({
      runner,
      taskDurationMs: 0,
      hostDns: { search: "node.lan", nameservers: ["10.0.0.53"] },
    });
    s = await login(d.url, d.caCert, "root@pam", "kiln");
  });
  afterAll(async () => {
    await d?.close();
  });

  test("create allocates vm-100-cloudinit.qcow2 (4 MiB, empty until start); start writes the cidata ISO", async () => {
    const created = await task("POST", "/nodes/pve/qemu", {
      vmid: 100,
      name: "kiln-ci",
      scsi0: "local:1",
      ide2: "local:cloudinit",
      net0: "virtio=BC:24:11:AA:BB:CC,bridge=vmbr0",
      ipconfig0: "ip=dhcp",
      ciuser: "root",
      cipassword: "plain-at-create",
      sshkeys: encodeURIComponent(`${KEY}\n${KEY2}\n`),
      boot: "order=scsi0",
    });
    expect(created.exitstatus).toBe("OK");
    const conf = await config(100);
    expect(conf.ide2).toBe("local:100/vm-100-cloudinit.qcow2,media=cdrom");
    expect(conf.cipassword).toBe("**********");
    expect(conf.sshkeys).toBe(encodeURIComponent(`${KEY}\n${KEY2}\n`));
    expect(await images(100)).toEqual([
      "local:100/vm-100-cloudinit.qcow2 4194304",
      "local:100/vm-100-disk-0.qcow2 1073741824",
    ]);
    const file = vol("local:100/vm-100-cloudinit.qcow2");
    expect(spawnSync("qemu-img", ["info", "--output=json", file], { encoding: "utf8" }).stdout).toMatch(
      /"format": "qcow2"/,
    );
    expect(await isoVolumeLabel(file)).toBe(""); // PVE generates it at start, not at create

    expect((await task("POST", "/nodes/pve/qemu/100/status/start")).exitstatus).toBe("OK");
    expect(runner.vms.get(100)?.spec.drives.find((x) => x.key === "ide2")).toEqual({
      key: "ide2",
      path: file,
      media: "cdrom",
      format: "qcow2",
    });
    expect(await isoVolumeLabel(file)).toBe("cidata");
    const files = await readCloudinitVolume(file);
    expect(Object.keys(files).sort()).toEqual(["meta-data", "network-config", "user-data", "vendor-data"]);
    expect(files["user-data"]).toBe(
      [
        "#cloud-config",
        "hostname: kiln-ci",
        "manage_etc_hosts: true",
        "fqdn: kiln-ci", // fqdn only from the VM's own searchdomain
        "user: root",
        "disable_root: False",
        "password: plain-at-create",
        "ssh_authorized_keys:",
        `  - ${KEY}`,
        `  - ${KEY2}`,
        "chpasswd:",
        "  expire: False",
        "package_upgrade: true",
        "",
      ].join("\n"),
    );
    expect(files["network-config"]).toBe(
      [
        "version: 1",
        "config:",
        "    - type: physical",
        "      name: eth0",
        "      mac_address: 'bc:24:11:aa:bb:cc'",
        "      subnets:",
        "      - type: dhcp4",
        "    - type: nameserver",
        "      address:",
        "      - '10.0.0.53'",
        "      search:",
        "      - 'node.lan'",
        "",
      ].join("\n"),
    );
    expect(files["meta-data"]).toBe(
      nocloudMetaData(files["user-data"] as string, files["network-config"] as string),
    );
    expect(files["meta-data"]).toMatch(/^instance-id: [0-9a-f]{40}\n$/);
    expect(files["vendor-data"]).toBe("");
    // the dump endpoint shows the same
    for (const [type, name] of [
      ["user", "user-data"],
      ["network", "network-config"],
      ["meta", "meta-data"],
    ] as const)
      expect((await api("GET", "/nodes/pve/qemu/100/cloudinit/dump", { type })).body.data).toBe(files[name]);
    // it is in use
    expect(
      (
        await api(
          "DELETE",
          `/nodes/pve/storage/local/content/${encodeURIComponent("local:100/vm-100-cloudinit.qcow2")}`,
        )
      ).reason,
    ).toBe("unable to delete 'local:100/vm-100-cloudinit.qcow2' - volume is still in use (by VM 100)");
    await task("POST", "/nodes/pve/qemu/100/status/stop");
  });

  test("config changes regenerate at the next start; cipassword set through config is hashed ($5$)", async () => {
    const before = await readCloudinitVolume(vol("local:100/vm-100-cloudinit.qcow2"));
    expect(
      (await api("PUT", "/nodes/pve/qemu/100/config", { cipassword: "s3cret", name: "renamed" })).status,
    ).toBe(200);
    expect((await config(100)).cipassword).toBe("**********");
    const stored = d.state.vms.get(100)?.config.cipassword as string;
    expect(stored).toMatch(/^\$5\$[^$]{8}\$[./0-9A-Za-z]{43}$/);
    expect(sha256Crypt("s3cret", stored.split("$")[2] as string)).toBe(stored);
    // not regenerated by a plain option change while stopped
    expect(await readCloudinitVolume(vol("local:100/vm-100-cloudinit.qcow2"))).toEqual(before);
    await task("POST", "/nodes/pve/qemu/100/status/start");
    const after = await readCloudinitVolume(vol("local:100/vm-100-cloudinit.qcow2"));
    expect(after["user-data"]).toContain(`hostname: renamed\nmanage_etc_hosts: true\nfqdn: renamed\n`);
    expect(after["user-data"]).toContain(`password: ${stored}\n`);
    expect(after["meta-data"]).not.toBe(before["meta-data"]);
    await task("POST", "/nodes/pve/qemu/100/status/stop");
  });

  test("errors like PVE: one cloud-init drive per VM, bad or unencoded sshkeys, unknown storage", async () => {
    const second = await api("PUT", "/nodes/pve/qemu/100/config", { sata0: "local:cloudinit" });
    expect(second.status).toBe(500);
    expect(second.reason).toBe("sata0 - cloud-init drive is already attached at 'ide2'");
    const same = await api("PUT", "/nodes/pve/qemu/100/config", { ide2: "local:cloudinit" });
    expect(same.reason).toMatch(/^disk image '.*\/images\/100\/vm-100-cloudinit\.qcow2' already exists$/);
    const bad = await api("PUT", "/nodes/pve/qemu/100/config", {
      sshkeys: encodeURIComponent("ssh-ed25519 nope"),
    });
    expect([bad.status, bad.reason]).toEqual([500, "SSH public key validation error"]);
    const raw = await api("PUT", "/nodes/pve/qemu/100/config", { sshkeys: KEY });
    expect(raw.status).toBe(400);
    expect(raw.body.errors?.sshkeys).toBe(`invalid format - invalid urlencoded string: ${KEY}\n`);
    const store = await task("POST", "/nodes/pve/qemu", { vmid: 109, ide0: "nfs:cloudinit" });
    expect(store.exitstatus).toBe("unable to create VM 109 - storage 'nfs' does not exist");
    const two = await task("POST", "/nodes/pve/qemu", {
      vmid: 109,
      ide0: "local:cloudinit",
      scsi1: "local:cloudinit",
    });
    expect(two.exitstatus).toBe(
      "unable to create VM 109 - scsi1 - cloud-init drive is already attached at 'ide0'",
    );
    expect(fs.existsSync(path.join(d.state.storageDir, "images/109"))).toBe(false);
  });

  test("delete=ide2 frees the volume (no unusedN); a drive set through config is generated at once", async () => {
    expect((await api("PUT", "/nodes/pve/qemu/100/config", { delete: "ide2" })).status).toBe(200);
    const conf = await config(100);
    expect(conf.ide2).toBeUndefined();
    expect(Object.keys(conf).filter((k) => k.startsWith("unused"))).toEqual([]);
    expect(fs.existsSync(vol("local:100/vm-100-cloudinit.qcow2"))).toBe(false);
    expect(await images(100)).toEqual(["local:100/vm-100-disk-0.qcow2 1073741824"]);

    expect((await task("POST", "/nodes/pve/qemu/100/config", { ide0: "local:cloudinit" })).exitstatus).toBe(
      "OK",
    );
    expect((await config(100)).ide0).toBe("local:100/vm-100-cloudinit.qcow2,media=cdrom");
    const file = vol("local:100/vm-100-cloudinit.qcow2");
    expect(await isoVolumeLabel(file)).toBe("cidata");
    expect((await readCloudinitVolume(file))["user-data"]).toContain("hostname: renamed\n");
    // replacing it with an empty CD-ROM frees it too
    expect((await api("PUT", "/nodes/pve/qemu/100/config", { ide0: "none,media=cdrom" })).status).toBe(200);
    expect(fs.existsSync(file)).toBe(false);
    expect((await task("POST", "/nodes/pve/qemu/100/config", { ide2: "local:cloudinit" })).exitstatus).toBe(
      "OK",
    );
  });

  test("a template keeps vm-100-cloudinit; clones get their own vm-NEWID-cloudinit, generated from their config", async () => {
    expect((await task("POST", "/nodes/pve/qemu/100/template")).exitstatus).toBe("OK");
    const t = await config(100);
    expect(t.scsi0).toMatch(/^local:100\/base-100-disk-0\.qcow2,/);
    expect(t.ide2).toBe("local:100/vm-100-cloudinit.qcow2,media=cdrom");
    expect(fs.existsSync(vol(t.ide2?.split(",")[0] as string))).toBe(true);

    expect((await task("POST", "/nodes/pve/qemu/100/clone", { newid: 101, name: "linked" })).exitstatus).toBe(
      "OK",
    );
    expect(
      (await task("POST", "/nodes/pve/qemu/100/clone", { newid: 102, name: "full", full: 1 })).exitstatus,
    ).toBe("OK");
    const linked = await config(101);
    expect(linked.scsi0).toMatch(/^local:100\/base-100-disk-0\.qcow2\/101\/vm-101-disk-0\.qcow2,/);
    expect(linked.ide2).toBe("local:101/vm-101-cloudinit.qcow2,media=cdrom,size=4M");
    expect((await config(102)).ide2).toBe("local:102/vm-102-cloudinit.qcow2,media=cdrom,size=4M");
    expect(await images(101)).toEqual([
      "local:101/vm-101-cloudinit.qcow2 4194304",
      "local:100/base-100-disk-0.qcow2/101/vm-101-disk-0.qcow2 1073741824",
    ]);
    const file = vol("local:101/vm-101-cloudinit.qcow2");
    expect(await isoVolumeLabel(file)).toBe(""); // no data copied
    await task("POST", "/nodes/pve/qemu/101/status/start");
    const files = await readCloudinitVolume(file);
    expect(files["user-data"]).toContain("hostname: linked\n");
    const mac = /^virtio=([0-9A-F:]{17})/.exec(linked.net0 as string)?.[1]?.toLowerCase();
    expect(mac).not.toBe("bc:24:11:aa:bb:cc"); // a clone gets a new MAC
    expect(files["network-config"]).toContain(`mac_address: '${mac}'`);
    await task("POST", "/nodes/pve/qemu/101/status/stop");
    // the template's own volume is untouched
    expect((await readCloudinitVolume(vol("local:100/vm-100-cloudinit.qcow2")))["user-data"]).toContain(
      "hostname: renamed\n",
    );
    await task("DELETE", "/nodes/pve/qemu/101");
    expect(fs.existsSync(file)).toBe(false);
  });

  test("citype other than nocloud and cicustom are refused at start (not modelled)", async () => {
    expect(
      (await task("POST", "/nodes/pve/qemu", { vmid: 110, ide2: "local:cloudinit", citype: "configdrive2" }))
        .exitstatus,
    ).toBe("OK");
    expect((await task("POST", "/nodes/pve/qemu/110/status/start")).exitstatus).toBe(
      "cloud-init format 'configdrive2' is not modelled by the PVE double (only nocloud)",
    );
    const set = { delete: "citype", cicustom: "user=local:snippets/user.yaml" };
    expect((await api("PUT", "/nodes/pve/qemu/110/config", set)).status).toBe(200);
    expect((await task("POST", "/nodes/pve/qemu/110/status/start")).exitstatus).toBe(
      "cicustom is not modelled by the PVE double",
    );
    expect(runner.isRunning(110)).toBe(false);
  });
});

const hasQemu = hasIsoTools && has("qemu-system-x86_64");
const applianceDisk = hasQemu ? await findApplianceDisk() : undefined;
if (!applianceDisk) {
  const msg = !hasQemu ? "qemu-system-x86_64/qemu-img/genisoimage missing" : "no test appliance";
  if (CI) throw new Error(`PVE double cloud-init QEMU test: ${msg}`);
  console.warn(`SKIP PVE double cloud-init QEMU test: ${msg} (run bash testbed/appliance/build.sh)`);
}

describe.skipIf(!applianceDisk)("QemuRunner: the appliance applies the generated cidata drive", () => {
  let d: PveDouble;
  let s: Awaited<ReturnType<typeof login>>;
  const runner = new QemuRunner({
    serial: process.env.KILN_PVE_DEBUG ? (vmid, l) => console.log(`[${vmid}] ${l}`) : undefined,
  });
  const api = (method: string, p: string, params?: Record<string, string | number>) =>
    request(d.url, method, p, { ...s, params });

  beforeAll(async () => {
    d = await startPveDouble({ runner, taskDurationMs: 0 });
    s = await login(d.url, d.caCert, "root@pam", "kiln");
  });
  afterAll(async () => {
    await d?.close(); // SIGKILLs any QEMU still running
  });

  test("SSH as root with a fresh key that only went in as sshkeys (ide2: local:cloudinit, TCG)", async () => {
    const key = ssh2().utils.generateKeyPairSync("ed25519", { comment: "kiln-pve-ci" });
    const cr = await api("POST", "/nodes/pve/qemu", {
      vmid: 120,
      name: "ci-guest",
      memory: 512,
      virtio0: `local:0,import-from=${applianceDisk}`,
      ide2: "local:cloudinit",
      net0: "virtio,bridge=vmbr0",
      boot: "order=virtio0",
      agent: 1,
      ciuser: "root",
      sshkeys: encodeURIComponent(`${key.public}\n`),
      ipconfig0: "ip=dhcp",
    });
    expect((await waitTask(d.url, "pve", cr.body.data as string, s)).exitstatus).toBe("OK");
    const start = await api("POST", "/nodes/pve/qemu/120/status/start");
    expect((await waitTask(d.url, "pve", start.body.data as string, s)).exitstatus).toBe("OK");
    const ci = await readCloudinitVolume(d.state.volumePath("local:120/vm-120-cloudinit.qcow2") as string);
    const iid = /^instance-id: (\w+)$/m.exec(ci["meta-data"] as string)?.[1];

    let ep: { host: string; port: number } | undefined;
    const deadline = Date.now() + 150_000;
    while (Date.now() < deadline && !ep) {
      const r = await api("GET", "/nodes/pve/qemu/120/agent/network-get-interfaces");
      if (r.status === 200) ep = d.state.sshEndpoint(120);
      else await new Promise((res) => setTimeout(res, 1000));
    }
    const serial = () => fs.readFileSync(runner.serialLog(120) as string, "utf8");
    expect(ep, `guest did not come up:\n${serial()}`).toBeDefined();
    const out = await sshExec(
      ep as { host: string; port: number },
      { privateKey: key.private }, // key only: no password, no agent
      "hostname; cat /var/lib/kiln/instance-id; cat /root/.ssh/authorized_keys",
    );
    const [hostname, appliedIid, ...authorized] = out.split("\n");
    expect([hostname, appliedIid]).toEqual(["ci-guest", iid]);
    expect(authorized).toContain(key.public.trim());
    expect(serial()).toMatch(new RegExp(`KILN-CIDATA: applied /dev/\\w+ instance ${iid}`));

    const stop = await api("POST", "/nodes/pve/qemu/120/status/stop");
    expect((await waitTask(d.url, "pve", stop.body.data as string, s)).exitstatus).toBe("OK");
    expect(runner.isRunning(120)).toBe(false);
  }, 240_000);
});
