/**
 * Cloud-init drives as Proxmox VE makes them (qemu-server PVE/QemuServer/Cloudinit.pm, PVE 9.1):
 * the NoCloud generator's user-data / network-config / meta-data / vendor-data, written as an
 * ISO 9660 image with volume label `cidata` (`genisoimage -quiet -iso-level 3 -J -R -V cidata`,
 * or `xorriso -as mkisofs` with the same options) into the VM's cloud-init volume.
 *
 * Also: PVE::Tools::encrypt_pw (SHA-256 crypt, for `cipassword` set through the config API),
 * PVE::Tools::validate_ssh_public_keys (for `sshkeys`), PVE::INotify::read_etc_resolv_conf (the
 * node's DNS settings, the default for `nameserver` / `searchdomain`).
 */
import { spawnSync } from "node:child_process";
import crypto from "node:crypto";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { hasTool, run } from "./exec.js";
import { splitPropertyString } from "./spec.js";

/** 4 MiB, PVE's CLOUDINIT_DISK_SIZE: the size every cloud-init volume is allocated with. */
export const CLOUDINIT_DISK_SIZE = 4 * 1024 * 1024;

/** The node's /etc/resolv.conf as PVE reads it: first `search`/`domain` word, up to 3 nameservers. */
export interface HostDns {
  search?: string;
  nameservers: string[];
}

/** PVE::INotify::read_etc_resolv_conf. */
export function readResolvConf(file = "/etc/resolv.conf"): HostDns {
  let text = "";
  try {
    text = fs.readFileSync(file, "utf8");
  } catch {
    /* no resolv.conf: nothing */
  }
  const res: HostDns = { nameservers: [] };
  for (const line of text.split("\n")) {
    const s = /^(search|domain)\s+(\S+)\s*/.exec(line);
    if (s) res.search = s[2];
    else {
      const ns = /^\s*nameserver\s+(\S+)/.exec(line);
      if (ns && net.isIP(ns[1] as string) && res.nameservers.length < 3)
        res.nameservers.push(ns[1] as string);
    }
  }
  return res;
}

/** Drive::drive_is_cloudinit on a drive's file (volume id). */
export function isCloudinitVolume(file: string | undefined): boolean {
  return !!file && /[:/](?:vm-\d+-)?cloudinit(?:\.(?:raw|qcow|qcow2|qed|vmdk|cloop))?$/.test(file);
}

/** Perl's split(/\s+/, $s): leading empty field kept, trailing empty fields dropped. */
function perlSplitWs(s: string): string[] {
  const parts = s.split(/\s+/);
  while (parts.length && parts[parts.length - 1] === "") parts.pop();
  return parts;
}

/** URI::Escape::uri_unescape: %XX only ('+' stays), as bytes, read as UTF-8. */
export function uriUnescape(s: string): string {
  const parts = s
    .split(/(%[0-9A-Fa-f]{2})/)
    .map((p) =>
      /^%[0-9A-Fa-f]{2}$/.test(p) ? Buffer.from([Number.parseInt(p.slice(1), 16)]) : Buffer.from(p),
    );
  return Buffer.concat(parts).toString("utf8");
}

/** Helpers::windows_version($ostype) is true. */
export const isWindowsOstype = (ostype: string | undefined) =>
  !!ostype && /^(wxp|w2k|w2k3|w2k8|wvista|win\d+)$/.test(ostype);

/** Cloudinit::get_cloudinit_format: citype, else configdrive2 for Windows ostypes, else nocloud. */
export function cloudinitFormat(conf: Record<string, string>): string {
  if (conf.citype !== undefined) return conf.citype;
  if (isWindowsOstype(conf.ostype)) return "configdrive2";
  return "nocloud";
}

function hostnameFqdn(conf: Record<string, string>, vmid: number): [string, string] {
  let hostname = conf.name ?? `VM${vmid}`;
  let fqdn: string;
  if (hostname.includes(".")) {
    fqdn = hostname;
    hostname = hostname.replace(/\..*$/, "");
  } else if (conf.searchdomain) fqdn = `${hostname}.${conf.searchdomain}`;
  else fqdn = hostname;
  return [hostname, fqdn];
}

const perlTrue = (v: string | undefined) => v !== undefined && v !== "" && v !== "0";

/** Cloudinit::cloudinit_userdata. */
export function nocloudUserData(conf: Record<string, string>, vmid: number, maskPassword = false): string {
  const [hostname, fqdn] = hostnameFqdn(conf, vmid);
  let c = "#cloud-config\n";
  c += `hostname: ${hostname}\n`;
  c += "manage_etc_hosts: true\n";
  c += `fqdn: ${fqdn}\n`;
  const username = conf.ciuser;
  const password = conf.cipassword;
  if (username !== undefined) c += `user: ${username}\n`;
  if (username === "root") c += "disable_root: False\n";
  if (password !== undefined) c += `password: ${maskPassword ? "**********" : password}\n`;
  if (conf.sshkeys !== undefined) {
    const keys = uriUnescape(conf.sshkeys)
      .split("\n")
      .filter((k) => /\S/.test(k));
    c += "ssh_authorized_keys:\n";
    for (const k of keys) c += `  - ${k}\n`;
  }
  c += "chpasswd:\n";
  c += "  expire: False\n";
  if (username === undefined || username !== "root") c += "users:\n  - default\n";
  if (conf.ciupgrade === undefined || perlTrue(conf.ciupgrade)) c += "package_upgrade: true\n";
  return c;
}

/** Network::parse_ipconfig (undefined where PVE warns and ignores the value). */
function parseIpconfig(v: string): Record<string, string> | undefined {
  // parse_property_string: no default key, only ip/gw/ip6/gw6 (PVE warns and ignores otherwise)
  const parts = v.split(",").filter((p) => p.trim());
  if (parts.some((p) => !/^(ip|gw|ip6|gw6)=./.test(p))) return undefined;
  const r = splitPropertyString(v, "ip");
  if (r.gw && !r.ip) return undefined;
  if (r.gw6 && !r.ip6) return undefined;
  if (r.gw && r.ip === "dhcp") return undefined;
  if (r.gw6 && !net.isIPv6((r.ip6 ?? "").split("/")[0] as string)) return undefined;
  if (!r.ip && !r.ip6) return { ip: "dhcp", ip6: "dhcp" };
  return r;
}

const NIC_MODELS = [
  "virtio",
  "e1000",
  "e1000e",
  "rtl8139",
  "vmxnet3",
  "i82551",
  "i82557b",
  "i82559er",
  "ne2k_isa",
  "ne2k_pci",
  "pcnet",
  "e1000-82540em",
  "e1000-82544gc",
  "e1000-82545em",
];

function macOf(netValue: string): string | undefined {
  const n = splitPropertyString(netValue, "model");
  for (const m of NIC_MODELS) if (n[m] !== undefined) return n[m];
  return n.macaddr;
}

function ipv4Mask(prefix: number): string {
  const bits = prefix <= 0 ? 0 : (0xffffffff << (32 - Math.min(prefix, 32))) >>> 0;
  return [24, 16, 8, 0].map((s) => (bits >>> s) & 255).join(".");
}

/** Cloudinit::get_dns_conf. */
function dnsConf(conf: Record<string, string>, host: HostDns): [string[], string[]] {
  const search = perlSplitWs(conf.searchdomain ?? host.search ?? "");
  const ns = conf.nameserver === undefined ? host.nameservers.filter(Boolean) : perlSplitWs(conf.nameserver);
  return [search, ns];
}

/** Perl's `sort` of the netN keys: string order (net0, net1, net10, net2, …). */
const netKeys = (conf: Record<string, string>) =>
  Object.keys(conf)
    .filter((k) => /^net\d+$/.test(k))
    .sort();

/** Cloudinit::nocloud_network (network config version 1). */
export function nocloudNetwork(conf: Record<string, string>, host: HostDns): string {
  let c = "version: 1\nconfig:\n";
  for (const iface of netKeys(conf)) {
    const id = iface.slice(3);
    const ipc = conf[`ipconfig${id}`];
    if (!ipc) continue;
    let i = "    ";
    const mac = (macOf(conf[iface] as string) ?? "").toLowerCase();
    if (!mac) throw new Error(`network interface '${iface}' has no mac address`);
    const ipconfig = parseIpconfig(ipc) ?? {};
    c += `${i}- type: physical\n${i}  name: eth${id}\n${i}  mac_address: '${mac}'\n${i}  subnets:\n`;
    i += "  ";
    if (ipconfig.ip !== undefined) {
      if (ipconfig.ip === "dhcp") c += `${i}- type: dhcp4\n`;
      else {
        const [addr, mask] = ipconfig.ip.split("/");
        if (mask === undefined) throw new Error(`not a CIDR: ${ipconfig.ip}`);
        c += `${i}- type: static\n${i}  address: '${addr}'\n${i}  netmask: '${ipv4Mask(Number(mask))}'\n`;
        if (ipconfig.gw !== undefined) c += `${i}  gateway: '${ipconfig.gw}'\n`;
      }
    }
    if (ipconfig.ip6 !== undefined) {
      if (ipconfig.ip6 === "dhcp") c += `${i}- type: dhcp6\n`;
      else if (ipconfig.ip6 === "auto") c += `${i}- type: ipv6_slaac\n`;
      else {
        c += `${i}- type: static6\n${i}  address: '${ipconfig.ip6}'\n`;
        if (ipconfig.gw6 !== undefined) c += `${i}  gateway: '${ipconfig.gw6}'\n`;
      }
    }
  }
  // PVE tests two array refs for truth here, so the nameserver entry is always written
  const i = "    ";
  const [search, ns] = dnsConf(conf, host);
  c += `${i}- type: nameserver\n`;
  if (ns.length) {
    c += `${i}  address:\n`;
    for (const n of ns) c += `${i}  - '${n}'\n`;
  }
  if (search.length) {
    c += `${i}  search:\n`;
    for (const s of search) c += `${i}  - '${s}'\n`;
  }
  return c;
}

/** Cloudinit::nocloud_gen_metadata: the instance id is the SHA-1 of user-data . network-config. */
export function nocloudMetaData(userData: string, network: string): string {
  return `instance-id: ${crypto
    .createHash("sha1")
    .update(userData + network, "utf8")
    .digest("hex")}\n`;
}

export type NoCloudFiles = Record<"user-data" | "network-config" | "meta-data" | "vendor-data", string>;

/** Cloudinit::generate_nocloud without cicustom: the four files of the `cidata` image. */
export function nocloudFiles(conf: Record<string, string>, vmid: number, host: HostDns): NoCloudFiles {
  const user = nocloudUserData(conf, vmid);
  const network = nocloudNetwork(conf, host);
  const files = {
    "user-data": user,
    "network-config": network,
    "meta-data": nocloudMetaData(user, network),
    "vendor-data": "",
  };
  const sum = Object.values(files).reduce((a, f) => a + Buffer.byteLength(f), 0);
  if (sum > 3 * 1024 * 1024) throw new Error("Cloud-Init sum of snippets too big (> 3 MiB)");
  return files;
}

/** Cloudinit::dump_cloudinit_config for type user | network | meta (nocloud). */
export function dumpCloudinit(
  conf: Record<string, string>,
  vmid: number,
  type: string,
  host: HostDns,
  maskPassword = false,
): string {
  if (cloudinitFormat(conf) !== "nocloud")
    throw new Error(`cloud-init format '${cloudinitFormat(conf)}' is not modelled by the PVE double`);
  if (type === "user") return nocloudUserData(conf, vmid, maskPassword);
  if (type === "network") return nocloudNetwork(conf, host);
  return nocloudMetaData(nocloudUserData(conf, vmid), nocloudNetwork(conf, host));
}

/**
 * Writes files into an ISO 9660 image with Rock Ridge + Joliet and the given volume label, with
 * PVE's options (`genisoimage -quiet -iso-level 3 -J -R -V LABEL`); xorriso's mkisofs emulation
 * where genisoimage is missing.
 */
export async function writeIso(files: Record<string, string>, label: string, out: string): Promise<void> {
  const tool = hasTool("genisoimage") ? "genisoimage" : hasTool("xorriso") ? "xorriso" : undefined;
  if (!tool)
    throw new Error(
      "generating cloud-init ISO needs genisoimage or xorriso on the host (apt-get install genisoimage xorriso)",
    );
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "kiln-pve-ci-"));
  try {
    for (const [name, content] of Object.entries(files)) fs.writeFileSync(path.join(dir, name), content);
    const opts = ["-quiet", "-iso-level", "3", "-J", "-R", "-V", label, "-o", out, dir];
    await run(tool, tool === "xorriso" ? ["-as", "mkisofs", ...opts] : opts);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * Cloudinit::commit_cloudinit_disk: the ISO goes into the (qcow2 or raw) volume, which keeps its
 * size (PVE: `qemu-img dd -n -O FMT osize=SIZE`); a missing volume is allocated with 4 MiB first.
 */
export async function commitCloudinitVolume(
  files: Record<string, string>,
  label: string,
  volume: string,
  format: string,
  hasQemuImg: boolean,
): Promise<void> {
  const iso = `${volume}.iso-${crypto.randomBytes(4).toString("hex")}`;
  try {
    await writeIso(files, label, iso);
    const qemuFormat = hasQemuImg && format !== "raw";
    if (!fs.existsSync(volume)) {
      if (qemuFormat)
        await run("qemu-img", ["create", "-q", "-f", format, volume, String(CLOUDINIT_DISK_SIZE)]);
      else fs.writeFileSync(volume, "");
    }
    let size = CLOUDINIT_DISK_SIZE;
    if (qemuFormat) {
      const r = spawnSync("qemu-img", ["info", "--output=json", volume], { encoding: "utf8" });
      if (r.status === 0) size = (JSON.parse(r.stdout) as { "virtual-size": number })["virtual-size"];
    } else size = Math.max(fs.statSync(volume).size, CLOUDINIT_DISK_SIZE);
    if (fs.statSync(iso).size > size) throw new Error("cloud-init ISO does not fit into its volume");
    fs.truncateSync(iso, size);
    if (qemuFormat) await run("qemu-img", ["convert", "-n", "-f", "raw", "-O", format, iso, volume]);
    else fs.copyFileSync(iso, volume);
  } finally {
    fs.rmSync(iso, { force: true });
  }
}

/**
 * Reads the files of a cloud-init volume (qcow2 or raw ISO) back, for tests: `qemu-img convert`
 * to raw, then `xorriso -osirrox on -indev X -extract / DIR` (or `isoinfo -R -x` without xorriso).
 */
export async function readCloudinitVolume(volume: string): Promise<Record<string, string>> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "kiln-pve-ciread-"));
  try {
    let iso = volume;
    const head = Buffer.alloc(4);
    const fd = fs.openSync(volume, "r");
    fs.readSync(fd, head, 0, 4, 0);
    fs.closeSync(fd);
    if (head.toString("latin1") === "QFI\xfb") {
      iso = path.join(dir, "image.iso");
      await run("qemu-img", ["convert", "-f", "qcow2", "-O", "raw", volume, iso]);
    }
    const out = path.join(dir, "files");
    const files: Record<string, string> = {};
    if (hasTool("xorriso")) {
      await run("xorriso", ["-osirrox", "on", "-indev", iso, "-extract", "/", out]);
      for (const f of fs.readdirSync(out)) files[f] = fs.readFileSync(path.join(out, f), "utf8");
    } else if (hasTool("isoinfo")) {
      const ls = spawnSync("isoinfo", ["-R", "-f", "-i", iso], { encoding: "utf8" });
      for (const p of ls.stdout.split("\n").filter(Boolean))
        files[p.replace(/^\//, "")] = spawnSync("isoinfo", ["-R", "-i", iso, "-x", p], {
          encoding: "utf8",
        }).stdout;
    } else throw new Error("reading an ISO needs xorriso or isoinfo");
    return files;
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** The ISO 9660 volume label (primary volume descriptor at 32 KiB) of a raw image or qcow2 volume. */
export async function isoVolumeLabel(volume: string): Promise<string> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "kiln-pve-cilabel-"));
  try {
    const raw = path.join(dir, "image.iso");
    await run("qemu-img", ["convert", "-O", "raw", volume, raw]);
    const pvd = Buffer.alloc(2048);
    const fd = fs.openSync(raw, "r");
    fs.readSync(fd, pvd, 0, 2048, 16 * 2048);
    fs.closeSync(fd);
    if (pvd.toString("latin1", 1, 6) !== "CD001") return "";
    return pvd.toString("latin1", 40, 72).trimEnd();
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** PVE::Tools::validate_ssh_public_keys (ssh-keygen -l on every non-blank line), on decoded keys. */
export function validateSshPublicKeys(raw: string): void {
  for (const line of raw.split("\n")) {
    if (/^\s*$/.test(line)) continue;
    if (!looksLikePublicKey(line)) throw new Error("SSH public key validation error");
  }
}

const KEY_TYPES =
  /^(ssh-(?:rsa|dss|ed25519)|ecdsa-sha2-nistp(?:256|384|521)|sk-ssh-ed25519@openssh\.com|sk-ecdsa-sha2-nistp256@openssh\.com)(?:-cert-v01@openssh\.com)?$/;

/** An authorized_keys line (optional options, type, base64 blob whose embedded type matches). */
function looksLikePublicKey(line: string): boolean {
  const words = line.trim().split(/\s+/);
  for (let i = 0; i + 1 < words.length; i++) {
    const type = words[i] as string;
    if (!KEY_TYPES.test(type)) continue;
    const blobText = words[i + 1] as string;
    if (!/^[A-Za-z0-9+/]+={0,2}$/.test(blobText)) return false;
    const blob = Buffer.from(blobText, "base64");
    if (blob.length < 4) return false;
    const n = blob.readUInt32BE(0);
    return blob.length >= 4 + n && blob.toString("latin1", 4, 4 + n) === type;
  }
  return false;
}

const CRYPT_B64 = "./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/** glibc crypt(3) SHA-256 ("$5$salt$…", 5000 rounds), as Perl's crypt() computes it. */
export function sha256Crypt(password: string, salt: string): string {
  const pw = Buffer.from(password, "utf8");
  const s = Buffer.from(salt.slice(0, 16), "utf8");
  const sha = (...parts: Buffer[]) => {
    const h = crypto.createHash("sha256");
    for (const p of parts) h.update(p);
    return h.digest();
  };
  const b = sha(pw, s, pw);
  const ctxA = crypto.createHash("sha256");
  ctxA.update(pw);
  ctxA.update(s);
  let cnt = pw.length;
  for (; cnt > 32; cnt -= 32) ctxA.update(b);
  ctxA.update(b.subarray(0, cnt));
  for (cnt = pw.length; cnt > 0; cnt >>= 1) ctxA.update(cnt & 1 ? b : pw);
  let a = ctxA.digest();
  const dp = sha(...Array<Buffer>(pw.length).fill(pw));
  const p = Buffer.alloc(pw.length);
  for (let i = 0; i < pw.length; i++) p[i] = dp[i % 32] as number;
  const ds = sha(...Array<Buffer>(16 + (a[0] as number)).fill(s));
  const sBytes = ds.subarray(0, s.length);
  for (let r = 0; r < 5000; r++) {
    const h = crypto.createHash("sha256");
    h.update(r & 1 ? p : a);
    if (r % 3) h.update(sBytes);
    if (r % 7) h.update(p);
    h.update(r & 1 ? a : p);
    a = h.digest();
  }
  let out = "";
  const b64 = (b2: number, b1: number, b0: number, n: number) => {
    let w = (b2 << 16) | (b1 << 8) | b0;
    for (let i = 0; i < n; i++) {
      out += CRYPT_B64[w & 0x3f];
      w >>= 6;
    }
  };
  const at = (i: number) => a[i] as number;
  const order = [
    [0, 10, 20],
    [21, 1, 11],
    [12, 22, 2],
    [3, 13, 23],
    [24, 4, 14],
    [15, 25, 5],
    [6, 16, 26],
    [27, 7, 17],
    [18, 28, 8],
    [9, 19, 29],
  ] as const;
  for (const [x, y, z] of order) b64(at(x), at(y), at(z), 4);
  b64(0, at(31), at(30), 3);
  return `$5$${s.toString("utf8")}$${out}`;
}

/** PVE::Tools::encrypt_pw: SHA-256 crypt with an 8-character salt ('+' replaced by 'X'). */
export function encryptPw(password: string): string {
  const salt = crypto.createHash("sha1").update(crypto.randomBytes(16)).digest("base64").slice(0, 8);
  return sha256Crypt(password, salt.replace(/\+/g, "X"));
}

/** API2::Qemu update_vm: cipassword is hashed unless it already looks like a crypt hash. */
export const isCryptHash = (pw: string) => /^\$(?:[156]|2[ay])(\$.+){2}/.test(pw);
