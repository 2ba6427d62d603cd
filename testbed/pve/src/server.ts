/**
 * A local Proxmox VE API double: HTTPS on 127.0.0.1, the real /api2/json wire protocol,
 * ticket + CSRF and API-token auth, privilege checks, every request checked against the
 * PVE 9.1 schema subset (spec/pve-api.subset.json), async calls as UPID tasks, VM disks as
 * real qcow2 files in a temp storage directory, and fault injection.
 */
import { spawn, spawnSync } from "node:child_process";
import crypto from "node:crypto";
import fs from "node:fs";
import http from "node:http";
import https from "node:https";
import type { AddressInfo } from "node:net";
import os from "node:os";
import path from "node:path";
import { makeSelfSignedCert } from "./cert.js";
import {
  CLOUDINIT_DISK_SIZE,
  cloudinitFormat,
  commitCloudinitVolume,
  dumpCloudinit,
  encryptPw,
  type HostDns,
  isCloudinitVolume,
  isCryptHash,
  isWindowsOstype,
  nocloudFiles,
  readResolvConf,
  uriUnescape,
  validateSshPublicKeys,
} from "./cloudinit.js";
import { boundaryOf, readMultipart } from "./multipart.js";
import {
  AgentNotRunningError,
  FakeRunner,
  type SshEndpoint,
  type VmDrive,
  type VmRunner,
  type VmSpec,
} from "./runner.js";
import {
  buildRoutes,
  createValidator,
  type Errors,
  loadSubset,
  type MethodInfo,
  matchRoute,
  type ParamValue,
  type PermCheck,
  splitPropertyString,
} from "./spec.js";
import { parseUpid, type TaskInfo, Tasks } from "./tasks.js";

/** "all" (every privilege everywhere, like root@pam), a list valid on every path, or per ACL path. */
export type Privileges = "all" | string[] | Record<string, string[]>;

export interface UserDef {
  password: string;
  privileges?: Privileges;
}

export interface TokenDef {
  /** The token's secret (a UUID on real PVE). */
  secret: string;
  privileges?: Privileges;
}

export interface PveDoubleOptions {
  /** Node name (default "pve"). */
  node?: string;
  /** Users by "user@realm" (default: root@pam / "kiln" with all privileges). */
  users?: Record<string, UserDef>;
  /** API tokens by "user@realm!tokenid". */
  tokens?: Record<string, TokenDef>;
  /** Runs the VMs (default: a FakeRunner). */
  runner?: VmRunner;
  /** Storage root (default: a new temp dir, removed on close). Holds storage "local". */
  storageDir?: string;
  /** How long tasks take at least, in ms: one number or per task type (default 30). */
  taskDurationMs?: number | Record<string, number>;
  /** Delay before 401 answers (real PVE: 3000 ms; default 0). */
  unauthorizedDelayMs?: number;
  /** Called with one line per request. */
  log?: (line: string) => void;
  /**
   * The node's DNS settings (its /etc/resolv.conf), which PVE writes into a cloud-init drive's
   * network-config when the VM has no `nameserver` / `searchdomain` (default: this host's
   * /etc/resolv.conf).
   */
  hostDns?: HostDns;
}

export interface VmState {
  vmid: number;
  config: Record<string, string>;
  status: "running" | "stopped";
  startedAt?: number;
}

export interface FaultSpec {
  path: RegExp | string;
  method?: string;
  /** HTTP status to answer (500, 503, 429 ...); with `hang` the request is never answered. */
  status?: number;
  message?: string;
  /** Extra headers, e.g. { "Retry-After": "1" }. */
  headers?: Record<string, string>;
  /** How many requests to hit (default: unlimited). */
  times?: number;
  /** Never answer (the client times out). */
  hang?: boolean;
}

export interface Faults {
  /** Answers matching requests with an error instead of handling them. Returns an id. */
  inject(f: FaultSpec): number;
  remove(id: number): void;
  /** Makes tasks of a type (or all, "*") take at least ms. */
  slowTasks(ms: number, type?: string): void;
  /** Makes the next `times` tasks of a type end with exitstatus `message`. */
  failTasks(type: string, message: string, times?: number): void;
  /** The guest agent of a VM (or every VM, when vmid is omitted) does not answer. */
  agentDown(vmid?: number, down?: boolean): void;
  /** Marks a VMID as used elsewhere in the cluster (on another node). */
  takeVmid(vmid: number, node?: string): void;
  /** The guest disappears: the runner's VM is gone, PVE reports it stopped. */
  loseGuest(vmid: number): Promise<void>;
  clear(): void;
}

export interface PveState {
  node: string;
  storageDir: string;
  vms: Map<number, VmState>;
  tasks: Map<string, TaskInfo>;
  /** VMIDs used on other (imaginary) cluster nodes. */
  foreignVmids: Map<number, string>;
  /** Every request the double received: method, path, status. */
  requests: { method: string; path: string; status: number; user?: string }[];
  /** Waits for a task to stop. */
  waitTask(upid: string): Promise<TaskInfo>;
  /** Where the host reaches a guest's SSH port (QemuRunner); undefined with the FakeRunner. */
  sshEndpoint(vmid: number): SshEndpoint | undefined;
  /** Path on the host of a volume id such as local:iso/x.iso. */
  volumePath(volid: string): string | undefined;
}

export interface PveDouble {
  url: string;
  port: number;
  /** PEM of the self-signed certificate: trust it as the CA. */
  caCert: string;
  /** SHA-256 fingerprint of the certificate (AA:BB:...), as PVE clients pin it. */
  fingerprint: string;
  state: PveState;
  faults: Faults;
  runner: VmRunner;
  close(): Promise<void>;
}

class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly errors?: Errors,
  ) {
    super(message);
  }
}

const paramError = (errors: Errors) => new ApiError(400, "Parameter verification failed.", errors);
const permError = (what?: string) => new ApiError(403, `Permission check failed${what ? ` (${what})` : ""}`);
const AUTH_FAIL = "authentication failure";

const STATUS_TEXT: Record<number, string> = {
  429: "Too Many Requests",
  500: "Internal Server Error",
  501: "Not Implemented",
  502: "Bad Gateway",
  503: "Service Unavailable",
  504: "Gateway Timeout",
  595: "Connection refused",
  596: "Connection timed out",
};

const DRIVE_RE = /^(ide|sata|scsi|virtio)\d+$|^efidisk0$|^tpmstate0$/;
const STORAGE = "local";

/** QEMU QKeyCode names (for sendkey). */
const QCODES = new Set(
  (
    "unmapped shift shift_r alt alt_r ctrl ctrl_r menu esc 1 2 3 4 5 6 7 8 9 0 minus equal backspace tab " +
    "q w e r t y u i o p bracket_left bracket_right ret a s d f g h j k l semicolon apostrophe grave_accent " +
    "backslash z x c v b n m comma dot slash asterisk spc caps_lock f1 f2 f3 f4 f5 f6 f7 f8 f9 f10 num_lock " +
    "scroll_lock kp_divide kp_multiply kp_subtract kp_add kp_enter kp_decimal sysrq kp_0 kp_1 kp_2 kp_3 kp_4 " +
    "kp_5 kp_6 kp_7 kp_8 kp_9 less f11 f12 print home pgup pgdn end left up down right insert delete stop " +
    "again props undo front copy open paste find cut lf help meta_l meta_r compose pause ro hiragana henkan " +
    "yen muhenkan katakanahiragana kp_comma kp_equals power sleep wake audionext audioprev audiostop " +
    "audioplay audiomute volumeup volumedown mediaselect mail calculator computer ac_home ac_back " +
    "ac_forward ac_refresh ac_bookmarks lang1 lang2 f13 f14 f15 f16 f17 f18 f19 f20 f21 f22 f23 f24"
  ).split(" "),
);

interface Auth {
  user: string; // user@realm or user@realm!token
  privileges: Privileges;
  viaTicket: boolean;
}

export async function startPveDouble(opts: PveDoubleOptions = {}): Promise<PveDouble> {
  const node = opts.node ?? "pve";
  const spec = loadSubset();
  const routes = buildRoutes(spec);
  const validator = createValidator(spec);
  const users: Record<string, UserDef> = opts.users ?? {
    "root@pam": { password: "kiln", privileges: "all" },
  };
  const tokens: Record<string, TokenDef> = opts.tokens ?? {};
  const runner: VmRunner = opts.runner ?? new FakeRunner();
  const ownStorage = !opts.storageDir;
  const storageDir = opts.storageDir ?? fs.mkdtempSync(path.join(os.tmpdir(), "kiln-pve-storage-"));
  for (const d of ["template/iso", "template/cache", "images", "import", ".tmp"])
    fs.mkdirSync(path.join(storageDir, d), { recursive: true });
  const hasQemuImg = spawnSync("sh", ["-c", "command -v qemu-img"], { stdio: "ignore" }).status === 0;
  const secret = crypto.randomBytes(32);
  const { key, cert } = makeSelfSignedCert();
  const fingerprint = new crypto.X509Certificate(cert).fingerprint256;

  // ---- faults -------------------------------------------------------------------------
  let faultSeq = 0;
  const faultList = new Map<number, FaultSpec & { left: number }>();
  const slow = new Map<string, number>();
  const failing = new Map<string, { message: string; left: number }>();
  const agentDownSet = new Set<number | "*">();
  const foreignVmids = new Map<number, string>();
  const vms = new Map<number, VmState>();

  const durationOf = (type: string): number => {
    const base =
      typeof opts.taskDurationMs === "number"
        ? opts.taskDurationMs
        : (opts.taskDurationMs?.[type] ?? opts.taskDurationMs?.["*"] ?? 30);
    return Math.max(base, slow.get(type) ?? 0, slow.get("*") ?? 0);
  };
  const forcedFailure = (type: string): string | undefined => {
    const f = failing.get(type) ?? failing.get("*");
    if (!f) return undefined;
    if (--f.left <= 0) failing.delete(failing.has(type) ? type : "*");
    return f.message;
  };
  const tasks = new Tasks(node, durationOf, forcedFailure);

  const faults: Faults = {
    inject(f) {
      const id = ++faultSeq;
      faultList.set(id, { ...f, left: f.times ?? Number.POSITIVE_INFINITY });
      return id;
    },
    remove(id) {
      faultList.delete(id);
    },
    slowTasks(ms, type = "*") {
      slow.set(type, ms);
    },
    failTasks(type, message, times = 1) {
      failing.set(type, { message, left: times });
    },
    agentDown(vmid, down = true) {
      const k = vmid ?? "*";
      if (down) agentDownSet.add(k);
      else agentDownSet.delete(k);
    },
    takeVmid(vmid, otherNode = "pve2") {
      foreignVmids.set(vmid, otherNode);
    },
    async loseGuest(vmid) {
      if (runner instanceof FakeRunner) runner.crash(vmid);
      else await runner.stop(vmid);
      const vm = vms.get(vmid);
      if (vm) vm.status = "stopped";
    },
    clear() {
      faultList.clear();
      slow.clear();
      failing.clear();
      agentDownSet.clear();
    },
  };

  runner.onExit?.((vmid) => {
    const vm = vms.get(vmid);
    if (vm) vm.status = "stopped";
  });

  // ---- storage ------------------------------------------------------------------------
  const imagesDir = (vmid: number | string) => path.join(storageDir, "images", String(vmid));
  const volumePath = (volid: string): string | undefined => {
    const m = /^([^:]+):(.+)$/.exec(volid);
    if (!m || m[1] !== STORAGE) return undefined;
    const rel = m[2] as string;
    if (rel.includes("..")) return undefined;
    const flat = /^(iso|vztmpl|import)\/([^/]+)$/.exec(rel);
    if (flat) {
      const dir = { iso: "template/iso", vztmpl: "template/cache", import: "import" }[flat[1] as "iso"];
      return path.join(storageDir, dir, flat[2] as string);
    }
    // images: VMID/NAME or (linked clone) BASEVMID/BASENAME/VMID/NAME
    const img = /^(?:\d+\/[^/]+\/)?(\d+)\/([^/]+)$/.exec(rel);
    if (img) return path.join(imagesDir(img[1] as string), img[2] as string);
    return undefined;
  };

  const run = (cmd: string, args: string[]) =>
    new Promise<void>((resolve, reject) => {
      const p = spawn(cmd, args, { stdio: ["ignore", "ignore", "pipe"] });
      let err = "";
      p.stderr.on("data", (d) => {
        err += d;
      });
      p.on("error", reject);
      p.on("exit", (code) => (code === 0 ? resolve() : reject(new Error(`${cmd} failed: ${err.trim()}`))));
    });

  const nextDiskName = (vmid: number, fmt: string) => {
    const dir = imagesDir(vmid);
    fs.mkdirSync(dir, { recursive: true });
    const used = new Set(fs.readdirSync(dir));
    for (let n = 0; ; n++) {
      const name = `vm-${vmid}-disk-${n}.${fmt}`;
      if (!used.has(name) && !used.has(name.replace(/^vm-/, "base-"))) return name;
    }
  };

  const allocDisk = async (
    vmid: number,
    sizeGiB: number,
    fmt: string,
  ): Promise<{ volid: string; size: string }> => {
    const name = nextDiskName(vmid, fmt);
    const file = path.join(imagesDir(vmid), name);
    const bytes = Math.round(sizeGiB * 1024 * 1024 * 1024);
    if (hasQemuImg) await run("qemu-img", ["create", "-q", "-f", fmt, file, String(bytes)]);
    else {
      fs.writeFileSync(file, "");
      fs.truncateSync(file, bytes);
    }
    return { volid: `${STORAGE}:${vmid}/${name}`, size: formatSize(bytes) };
  };

  const importDisk = async (
    vmid: number,
    source: string,
    fmt: string,
  ): Promise<{ volid: string; size: string }> => {
    const src = source.startsWith("/") ? source : volumePath(source);
    if (!src || !fs.existsSync(src)) throw new Error(`volume '${source}' does not exist`);
    const name = nextDiskName(vmid, fmt);
    const file = path.join(imagesDir(vmid), name);
    if (hasQemuImg) await run("qemu-img", ["convert", "-O", fmt, src, file]);
    else fs.copyFileSync(src, file);
    return { volid: `${STORAGE}:${vmid}/${name}`, size: formatSize(virtualSize(file)) };
  };

  const virtualSize = (file: string): number => {
    if (hasQemuImg) {
      const r = spawnSync("qemu-img", ["info", "--output=json", file], { encoding: "utf8" });
      if (r.status === 0) return (JSON.parse(r.stdout) as { "virtual-size": number })["virtual-size"];
    }
    return fs.statSync(file).size;
  };

  /** Key of a drive (other than `skip`) that is a cloud-init drive (QemuConfig::has_cloudinit). */
  const cloudinitKey = (conf: Record<string, string>, skip?: string): string | undefined =>
    Object.keys(conf).find(
      (k) =>
        k !== skip && DRIVE_RE.test(k) && isCloudinitVolume(splitPropertyString(conf[k] ?? "", "file").file),
    );

  /**
   * `STORAGE:cloudinit` (API2::Qemu create_disks): allocates vm-VMID-cloudinit.FMT (4 MiB, qcow2
   * unless `format=`) and prints the drive as PVE does: volid, then the sorted options with
   * media=cdrom, without format.
   */
  const allocCloudinit = async (
    vmid: number,
    d: Record<string, string>,
    storage: string,
    withSize = false,
  ) => {
    if (storage !== STORAGE) throw new Error(`storage '${storage}' does not exist`);
    const fmt = d.format ?? "qcow2";
    const name = `vm-${vmid}-cloudinit.${fmt}`;
    fs.mkdirSync(imagesDir(vmid), { recursive: true });
    const file = path.join(imagesDir(vmid), name);
    if (fs.existsSync(file)) throw new Error(`disk image '${file}' already exists`);
    if (hasQemuImg && fmt !== "raw")
      await run("qemu-img", ["create", "-q", "-f", fmt, file, String(CLOUDINIT_DISK_SIZE)]);
    else {
      fs.writeFileSync(file, "");
      fs.truncateSync(file, CLOUDINIT_DISK_SIZE);
    }
    const opts: Record<string, string> = { ...d, media: "cdrom" };
    delete opts.file;
    delete opts.format;
    delete opts.size;
    if (withSize) opts.size = formatSize(CLOUDINIT_DISK_SIZE);
    return [
      `${STORAGE}:${vmid}/${name}`,
      ...Object.keys(opts)
        .sort()
        .map((o) => `${o}=${opts[o]}`),
    ].join(",");
  };

  /** Frees a VM's cloud-init volume (QemuServer::vmconfig_register_unused_drive). */
  const freeCloudinit = (file: string, log: (l: string) => void) => {
    const p = volumePath(file);
    if (p && fs.existsSync(p)) fs.rmSync(p, { force: true });
    log(`removed cloud-init volume '${file}'`);
  };

  /**
   * Turns "local:32,..." drive values into allocated volumes and "local:cloudinit" into the VM's
   * cloud-init volume; checks referenced ISOs exist. `existing` is the config being changed.
   */
  const allocateDrives = async (
    vmid: number,
    params: Record<string, string>,
    log: (l: string) => void,
    existing: Record<string, string> = {},
  ) => {
    const done: Record<string, string> = {};
    for (const [k, v] of Object.entries(params)) {
      if (!DRIVE_RE.test(k)) continue;
      const d = splitPropertyString(v, "file");
      const file = d.file ?? "";
      if (isCloudinitVolume(file)) {
        const other = cloudinitKey(existing, k) ?? cloudinitKey(done, k);
        if (other) throw new Error(`${k} - cloud-init drive is already attached at '${other}'`);
      }
      const ci = /^([a-z][a-z0-9\-_.]*[a-z0-9]):cloudinit$/i.exec(file);
      if (ci) {
        params[k] = await allocCloudinit(vmid, d, ci[1] as string);
        done[k] = params[k];
        log(`${k}: successfully created disk '${params[k]}'`);
        continue;
      }
      done[k] = v;
      const alloc = /^([a-z][a-z0-9\-_.]*[a-z0-9]):(\d+(?:\.\d+)?)$/i.exec(file);
      if (alloc) {
        if (alloc[1] !== STORAGE) throw new Error(`storage '${alloc[1]}' does not exist`);
        const fmt = d.format ?? "qcow2";
        const importFrom = d["import-from"];
        const { volid, size } =
          importFrom !== undefined
            ? await importDisk(vmid, importFrom, fmt)
            : await allocDisk(vmid, Number(alloc[2]) || (k === "efidisk0" ? 0.001 : 0), fmt);
        log(`${importFrom ? "imported" : "created"} ${k}: ${volid}`);
        const rest = Object.entries(d)
          .filter(([kk]) => kk !== "file" && kk !== "size" && kk !== "import-from" && kk !== "format")
          .map(([kk, vv]) => `${kk}=${vv}`);
        params[k] = [volid, ...rest, `size=${size}`].join(",");
      } else if (file !== "none" && file !== "cdrom" && !file.startsWith("/")) {
        const p = volumePath(file);
        if (!p || !fs.existsSync(p)) throw new Error(`volume '${file}' does not exist`);
      }
    }
  };

  const vmDrives = (conf: Record<string, string>): VmDrive[] =>
    Object.entries(conf)
      .filter(([k]) => DRIVE_RE.test(k))
      .map(([k, v]) => {
        const d = splitPropertyString(v, "file");
        const file = d.file ?? "none";
        const p =
          file === "none" || file === "cdrom" ? undefined : file.startsWith("/") ? file : volumePath(file);
        const media = d.media === "cdrom" ? "cdrom" : "disk";
        // ISOs are raw; a cloud-init volume is a CD-ROM image in a qcow2 (or raw) volume
        const format =
          d.format ??
          (media === "cdrom" && !isCloudinitVolume(file) ? "raw" : (p?.split(".").pop() ?? "raw"));
        return p ? { key: k, path: p, media, format } : { key: k, media, format };
      });

  /**
   * Cloudinit::generate_cloudinit_config: (re)writes the VM's cloud-init volume (NoCloud `cidata`
   * ISO from the config), as PVE does at every start and when such a drive is set.
   */
  const generateCloudinit = async (vm: VmState, log: (l: string) => void) => {
    for (const [k, v] of Object.entries(vm.config)) {
      if (!DRIVE_RE.test(k)) continue;
      const file = splitPropertyString(v, "file").file ?? "";
      if (!file.includes(`vm-${vm.vmid}-cloudinit`)) continue;
      const format = cloudinitFormat(vm.config);
      if (format !== "nocloud")
        throw new Error(`cloud-init format '${format}' is not modelled by the PVE double (only nocloud)`);
      if (vm.config.cicustom) throw new Error("cicustom is not modelled by the PVE double");
      const p = volumePath(file);
      if (!p) throw new Error(`unable to parse volume ID '${file}'`);
      const files = nocloudFiles(vm.config, vm.vmid, opts.hostDns ?? readResolvConf());
      log("generating cloud-init ISO");
      await commitCloudinitVolume(files, "cidata", p, path.extname(p).slice(1) || "raw", hasQemuImg);
    }
  };

  /** API2::Qemu create/update: sshkeys must decode to valid public keys (ssh-keygen -l). */
  const checkSshKeys = (p: Record<string, ParamValue>) => {
    if (p.sshkeys === undefined || p.sshkeys === null) return;
    try {
      validateSshPublicKeys(uriUnescape(String(p.sshkeys)));
    } catch (e) {
      throw new ApiError(500, (e as Error).message);
    }
  };

  const toSpec = (vm: VmState): VmSpec => {
    const c = vm.config;
    const mem = splitPropertyString(c.memory ?? "512", "current");
    const agent = splitPropertyString(c.agent ?? "0", "enabled");
    const boot = splitPropertyString(c.boot ?? "", "legacy");
    return {
      vmid: vm.vmid,
      name: c.name,
      memoryMiB: Number(mem.current ?? 512),
      cores: Number(c.cores ?? 1),
      sockets: Number(c.sockets ?? 1),
      bios: c.bios ?? "seabios",
      machine: c.machine,
      drives: vmDrives(c),
      bootOrder: (boot.order ?? "").split(";").filter(Boolean),
      nets: Object.entries(c)
        .filter(([k]) => /^net\d+$/.test(k))
        .map(([k, v]) => {
          const n = splitPropertyString(v, "model");
          const model =
            ["virtio", "e1000", "e1000e", "rtl8139", "vmxnet3"].find((m) => n[m] !== undefined) ??
            n.model ??
            "virtio";
          return { key: k, model, macaddr: n[model] ?? n.macaddr };
        }),
      agent: /^(1|on|yes|true)$/i.test(agent.enabled ?? "0"),
      config: { ...c },
    };
  };

  const randomMac = () =>
    `BC:24:11:${[0, 0, 0].map(() => crypto.randomInt(256).toString(16).toUpperCase().padStart(2, "0")).join(":")}`;

  const normalizeNets = (params: Record<string, string>) => {
    for (const [k, v] of Object.entries(params)) {
      if (!/^net\d+$/.test(k)) continue;
      const parts = v.split(",");
      const first = parts[0] ?? "";
      if (!first.includes("=") || /^model=/.test(first)) {
        const model = first.includes("=") ? first.slice(6) : first;
        const mac = parts.find((p) => p.startsWith("macaddr="))?.slice(8) ?? randomMac();
        params[k] = [`${model}=${mac}`, ...parts.slice(1).filter((p) => !p.startsWith("macaddr="))].join(",");
      }
    }
  };

  // ---- helpers ------------------------------------------------------------------------
  const getVm = (vmid: number): VmState => {
    const vm = vms.get(vmid);
    if (!vm)
      throw new ApiError(500, `Configuration file 'nodes/${node}/qemu-server/${vmid}.conf' does not exist`);
    return vm;
  };
  const isTemplate = (vm: VmState) => vm.config.template === "1";
  const vmidUsed = (vmid: number) => vms.has(vmid) || foreignVmids.has(vmid);
  const checkVmidUnused = (vmid: number) => {
    if (vms.has(vmid)) throw new ApiError(500, `VM ${vmid} already exists on node '${node}'`);
    const other = foreignVmids.get(vmid);
    if (other) throw new ApiError(500, `VM ${vmid} already exists on node '${other}'`);
  };
  const checkStorage = (storage: string | undefined) => {
    if (storage !== undefined && storage !== STORAGE)
      throw new ApiError(500, `storage '${storage}' does not exist`);
  };

  const hasPriv = (privs: Privileges, aclPath: string, priv: string): boolean => {
    if (privs === "all") return true;
    if (Array.isArray(privs)) return privs.includes(priv);
    // ACL paths propagate to everything below them
    for (const [p, list] of Object.entries(privs)) {
      const base = p === "/" ? "/" : p.replace(/\/+$/, "");
      if ((aclPath === base || base === "/" || aclPath.startsWith(`${base}/`)) && list.includes(priv))
        return true;
    }
    return false;
  };

  /** Evaluates a PVE permission check array; throws 403 like RPCEnvironment does. */
  const checkPerm = (
    auth: Auth,
    check: PermCheck,
    params: Record<string, ParamValue>,
    noerr: boolean,
  ): boolean => {
    const [kind, ...rest] = check as [string, ...unknown[]];
    if (kind === "and") return rest.every((c) => checkPerm(auth, c as PermCheck, params, noerr));
    if (kind === "or") return rest.some((c) => checkPerm(auth, c as PermCheck, params, true));
    if (kind === "perm") {
      const [tmpl, privs, ...flags] = rest as [string, string[], ...unknown[]];
      const fl: Record<string, unknown> = {};
      for (let i = 0; i + 1 < flags.length; i += 2) fl[String(flags[i])] = flags[i + 1];
      if (fl.require_param && params[String(fl.require_param)] === undefined) return false;
      const aclPath = tmpl.replace(/\{([^}]+)\}/g, (_m, n: string) => String(params[n] ?? ""));
      const ok = fl.any ? privs.some((p) => hasPriv(auth.privileges, aclPath, p)) : undefined;
      if (fl.any) {
        if (!ok && !noerr) throw permError(`${aclPath}, ${privs.join("|")}`);
        return !!ok;
      }
      for (const p of privs) {
        if (!hasPriv(auth.privileges, aclPath, p)) {
          if (noerr) return false;
          throw permError(`${aclPath}, ${p}`);
        }
      }
      return true;
    }
    return true; // userid-param etc.: not modelled
  };

  /** Checks not written as `check` in the schema (only described): PVE's code does them. */
  const EXTRA_CHECKS: Record<string, PermCheck> = {
    "POST /nodes/{node}/qemu": [
      "or",
      ["perm", "/vms/{vmid}", ["VM.Allocate"]],
      ["perm", "/pool/{pool}", ["VM.Allocate"], "require_param", "pool"],
    ],
    "DELETE /nodes/{node}/storage/{storage}/content/{volume}": [
      "perm",
      "/storage/{storage}",
      ["Datastore.Allocate"],
    ],
  };

  const authorize = (
    auth: Auth,
    method: string,
    template: string,
    info: MethodInfo,
    params: Record<string, ParamValue>,
  ) => {
    const check = info.permissions?.check ?? EXTRA_CHECKS[`${method} ${template}`];
    if (!check) return;
    const simple = (check as unknown[])[0] === "perm";
    if (simple) checkPerm(auth, check, params, false);
    else if (!checkPerm(auth, check, params, true)) throw permError();
  };

  const filterAudit = (auth: Auth, vmid: number) => hasPriv(auth.privileges, `/vms/${vmid}`, "VM.Audit");

  // ---- tickets ------------------------------------------------------------------------
  const sign = (data: string) =>
    crypto.createHmac("sha256", secret).update(data).digest("base64").replace(/=+$/, "");
  const makeTicket = (user: string) => {
    const plain = `PVE:${user}:${Math.floor(Date.now() / 1000)
      .toString(16)
      .toUpperCase()}`;
    return `${plain}::${sign(plain)}`;
  };
  const verifyTicket = (ticket: string): string | undefined => {
    const m = /^(PVE:([^:]+):([0-9A-F]{8}))::(.+)$/.exec(ticket);
    if (!m || sign(m[1] as string) !== m[4]) return undefined;
    const age = Date.now() / 1000 - Number.parseInt(m[3] as string, 16);
    if (age > 7200 || age < -300) return undefined;
    return users[m[2] as string] ? (m[2] as string) : undefined;
  };
  const makeCsrf = (user: string) => {
    const ts = Math.floor(Date.now() / 1000)
      .toString(16)
      .toUpperCase();
    return `${ts}:${sign(`${ts}:${user}`)}`;
  };
  const verifyCsrf = (user: string, token: string | undefined) => {
    const m = /^([0-9A-F]{8}):(.+)$/.exec(token ?? "");
    return !!m && sign(`${m[1]}:${user}`) === m[2];
  };

  const authenticate = (req: http.IncomingMessage, method: string, isUpload: boolean): Auth => {
    const authz = req.headers.authorization;
    if (authz?.startsWith("PVEAPIToken")) {
      const m = /^PVEAPIToken[= ]([^!\s]+@[^!\s]+)!([^=\s]+)[=:](\S+)$/.exec(authz);
      if (!m) throw new ApiError(401, "invalid token value!");
      const full = `${m[1]}!${m[2]}`;
      const t = tokens[full];
      if (!t || t.secret !== m[3]) throw new ApiError(401, "invalid token value!");
      return { user: full, privileges: t.privileges ?? [], viaTicket: false };
    }
    const cookie = req.headers.cookie ?? "";
    const cm = /(?:^|;\s*)PVEAuthCookie=([^;]*)/.exec(cookie);
    if (!cm) throw new ApiError(401, "No ticket");
    const user = verifyTicket(decodeURIComponent(cm[1] as string));
    if (!user) throw new ApiError(401, "permission denied - invalid PVE ticket");
    if (method !== "GET" && !isUpload) {
      const csrf = req.headers.csrfpreventiontoken;
      if (!verifyCsrf(user, Array.isArray(csrf) ? csrf[0] : csrf))
        throw new ApiError(401, "Permission denied - invalid csrf token");
    }
    return { user, privileges: users[user]?.privileges ?? [], viaTicket: true };
  };

  // ---- request plumbing ---------------------------------------------------------------
  const requests: PveState["requests"] = [];
  const log = opts.log ?? (() => {});

  const send = (
    res: http.ServerResponse,
    status: number,
    reason: string | undefined,
    body: unknown,
    headers: Record<string, string> = {},
  ) => {
    const raw = body === undefined ? "" : JSON.stringify(body);
    res.writeHead(
      status,
      (reason ?? STATUS_TEXT[status] ?? http.STATUS_CODES[status] ?? "").split("\n")[0] ?? "",
      {
        "Content-Type": "application/json;charset=UTF-8",
        "Content-Length": Buffer.byteLength(raw),
        Server: "pve-api-daemon/3.0",
        "Cache-Control": "max-age=0",
        Pragma: "no-cache",
        ...headers,
      },
    );
    res.end(raw);
  };

  const readBody = async (req: http.IncomingMessage): Promise<string> => {
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const c of req) {
      size += (c as Buffer).length;
      if (size > 512 * 1024) throw new ApiError(413, "Request Entity Too Large");
      chunks.push(c as Buffer);
    }
    return Buffer.concat(chunks).toString("utf8");
  };

  const decodeForm = (s: string, into: Record<string, ParamValue>) => {
    for (const [k, v] of new URLSearchParams(s)) {
      const old = into[k];
      into[k] = old === undefined ? v : `${old}\0${v}`;
    }
  };

  const handlers: Record<
    string,
    (
      p: Record<string, ParamValue>,
      auth: Auth,
      ctx: { req: http.IncomingMessage; upload?: UploadInfo },
    ) => Promise<unknown> | unknown
  > = {};
  interface UploadInfo {
    tmpfile: string;
    filename: string;
    bytes: number;
  }
  const str = (v: ParamValue | undefined) => (v === undefined || v === null ? undefined : String(v));
  const bool = (v: ParamValue | undefined) => v === true || v === "1" || v === 1;
  const stringParams = (p: Record<string, ParamValue>, skip: string[]) => {
    const out: Record<string, string> = {};
    for (const [k, v] of Object.entries(p))
      if (!skip.includes(k) && v !== undefined && v !== null)
        out[k] = typeof v === "boolean" ? (v ? "1" : "0") : String(v);
    return out;
  };
  const upidOf = (t: TaskInfo) => t.upid;

  // ---- endpoints ----------------------------------------------------------------------
  handlers["GET /version"] = () => ({ version: "9.1.1", release: "9.1", repoid: "kilnpve1" });

  handlers["POST /access/ticket"] = (p) => {
    let username = String(p.username);
    if (p.realm !== undefined && !username.includes("@")) username = `${username}@${p.realm}`;
    const password = String(p.password);
    const u = users[username];
    const ok =
      u && (u.password === password || (password.startsWith("PVE:") && verifyTicket(password) === username));
    if (!ok) throw new ApiError(401, AUTH_FAIL);
    return {
      username,
      ticket: makeTicket(username),
      CSRFPreventionToken: makeCsrf(username),
      cap: {},
    };
  };

  handlers["GET /cluster/nextid"] = (p) => {
    if (p.vmid !== undefined) {
      const vmid = Number(p.vmid);
      if (vmidUsed(vmid)) throw paramError({ vmid: `VM ${vmid} already exists` });
      return String(vmid);
    }
    for (let id = 100; ; id++) if (!vmidUsed(id)) return String(id);
  };

  const vmSummary = (vm: VmState) => {
    const s = toSpec(vm);
    const maxdisk = s.drives
      .filter((d) => d.media === "disk" && d.path && fs.existsSync(d.path))
      .reduce((a, d) => a + virtualSizeCached(d.path as string), 0);
    return {
      vmid: vm.vmid,
      name: vm.config.name ?? `VM ${vm.vmid}`,
      status: vm.status,
      cpus: s.cores * s.sockets,
      maxmem: s.memoryMiB * 1024 * 1024,
      mem: vm.status === "running" ? Math.floor((s.memoryMiB * 1024 * 1024) / 4) : 0,
      maxdisk,
      disk: 0,
      uptime: vm.status === "running" && vm.startedAt ? Math.floor((Date.now() - vm.startedAt) / 1000) : 0,
      cpu: 0,
      netin: 0,
      netout: 0,
      diskread: 0,
      diskwrite: 0,
      ...(isTemplate(vm) ? { template: 1 } : {}),
      ...(vm.config.tags ? { tags: vm.config.tags } : {}),
      ...(vm.config.lock ? { lock: vm.config.lock } : {}),
    };
  };
  const sizeCache = new Map<string, { mtime: number; size: number }>();
  const virtualSizeCached = (file: string) => {
    const st = fs.statSync(file);
    const c = sizeCache.get(file);
    if (c && c.mtime === st.mtimeMs) return c.size;
    const size = virtualSize(file);
    sizeCache.set(file, { mtime: st.mtimeMs, size });
    return size;
  };

  const storageInfo = () => {
    const st = fs.statfsSync(storageDir);
    const total = st.blocks * st.bsize;
    const avail = st.bavail * st.bsize;
    return { total, avail, used: total - avail };
  };

  handlers["GET /cluster/resources"] = (p, auth) => {
    const out: unknown[] = [];
    const type = str(p.type);
    if (!type || type === "vm")
      for (const vm of vms.values())
        if (filterAudit(auth, vm.vmid))
          out.push({
            id: `qemu/${vm.vmid}`,
            type: "qemu",
            node,
            ...vmSummary(vm),
            template: isTemplate(vm) ? 1 : 0,
            hastate: undefined,
          });
    if (!type || type === "storage") {
      const s = storageInfo();
      out.push({
        id: `storage/${node}/${STORAGE}`,
        type: "storage",
        storage: STORAGE,
        node,
        status: "available",
        plugintype: "dir",
        content: "iso,vztmpl,images,import",
        shared: 0,
        disk: s.used,
        maxdisk: s.total,
      });
    }
    if (!type || type === "node")
      out.push({
        id: `node/${node}`,
        type: "node",
        node,
        status: "online",
        maxcpu: os.cpus().length,
        maxmem: os.totalmem(),
        uptime: Math.floor(os.uptime()),
        level: "",
      });
    return out;
  };

  handlers["GET /nodes"] = () => [
    {
      node,
      status: "online",
      id: `node/${node}`,
      type: "node",
      cpu: 0.01,
      maxcpu: os.cpus().length,
      mem: os.totalmem() - os.freemem(),
      maxmem: os.totalmem(),
      uptime: Math.floor(os.uptime()),
      level: "",
      ssl_fingerprint: fingerprint,
    },
  ];

  handlers["GET /nodes/{node}/qemu"] = (_p, auth) =>
    [...vms.values()].filter((vm) => filterAudit(auth, vm.vmid)).map(vmSummary);

  handlers["POST /nodes/{node}/qemu"] = (p, auth) => {
    const vmid = Number(p.vmid);
    if (p.archive !== undefined)
      throw new ApiError(501, "restore from archive is not implemented by the double");
    checkVmidUnused(vmid);
    checkSshKeys(p);
    const conf = stringParams(p, [
      "node",
      "vmid",
      "start",
      "pool",
      "storage",
      "unique",
      "force",
      "live-restore",
      "bwlimit",
      "import-working-storage",
    ]);
    normalizeNets(conf);
    conf.smbios1 ??= `uuid=${crypto.randomUUID()}`;
    conf.vmgenid ??= crypto.randomUUID();
    conf.meta ??= `creation-qemu=9.2.0,ctime=${Math.floor(Date.now() / 1000)}`;
    const vm: VmState = { vmid, config: { ...conf, lock: "create" }, status: "stopped" };
    vms.set(vmid, vm);
    const start = bool(p.start);
    return upidOf(
      tasks.start(
        "qmcreate",
        vmid,
        auth.user,
        async (log) => {
          try {
            await allocateDrives(vmid, conf, log);
          } catch (e) {
            vms.delete(vmid);
            fs.rmSync(imagesDir(vmid), { recursive: true, force: true });
            throw new Error(`unable to create VM ${vmid} - ${(e as Error).message}`);
          }
          vm.config = conf;
          if (start) {
            await generateCloudinit(vm, log);
            await runner.start(toSpec(vm));
            vm.status = "running";
            vm.startedAt = Date.now();
          }
        },
        () => vms.delete(vmid),
      ),
    );
  };

  handlers["DELETE /nodes/{node}/qemu/{vmid}"] = (p, auth) => {
    const vmid = Number(p.vmid);
    const vm = getVm(vmid);
    if (vm.status === "running" || runner.isRunning(vmid))
      throw new ApiError(500, `VM ${vmid} is running - destroy failed`);
    if (vm.config.lock && !bool(p.skiplock)) throw new ApiError(500, `VM is locked (${vm.config.lock})`);
    for (const other of vms.values()) {
      if (other.vmid === vmid) continue;
      for (const d of vmDrives(other.config))
        if (d.path && fs.existsSync(d.path) && linkedTo(d.path, imagesDir(vmid)))
          throw new ApiError(
            500,
            `base volume of VM ${vmid} is still in use by linked cloned VM ${other.vmid}`,
          );
    }
    vm.config.lock = "destroyed";
    return upidOf(
      tasks.start("qmdestroy", vmid, auth.user, async () => {
        fs.rmSync(imagesDir(vmid), { recursive: true, force: true });
        vms.delete(vmid);
      }),
    );
  };
  const linkedTo = (file: string, baseDir: string): boolean => {
    if (!hasQemuImg || !file.endsWith(".qcow2")) return false;
    const r = spawnSync("qemu-img", ["info", "--output=json", file], { encoding: "utf8" });
    if (r.status !== 0) return false;
    const bf = (JSON.parse(r.stdout) as { "full-backing-filename"?: string })["full-backing-filename"];
    return !!bf && path.resolve(path.dirname(file), bf).startsWith(`${baseDir}/`);
  };

  const configDigest = (c: Record<string, string>) =>
    crypto
      .createHash("sha1")
      .update(
        Object.keys(c)
          .sort()
          .map((k) => `${k}: ${c[k]}\n`)
          .join(""),
      )
      .digest("hex");

  handlers["GET /nodes/{node}/qemu/{vmid}/config"] = (p) => {
    const vm = getVm(Number(p.vmid));
    const out: Record<string, string | number> = {};
    for (const [k, v] of Object.entries(vm.config))
      out[k] = /^(cores|sockets|template|vcpus|onboot|protection|balloon|cpuunits)$/.test(k) ? Number(v) : v;
    if (vm.config.cipassword && vm.config.cipassword !== "0") out.cipassword = "**********"; // as PVE
    out.digest = configDigest(vm.config);
    return out;
  };

  const updateConfig = async (p: Record<string, ParamValue>, log: (l: string) => void) => {
    const vmid = Number(p.vmid);
    const vm = getVm(vmid);
    if (p.digest !== undefined && p.digest !== configDigest(vm.config))
      throw new ApiError(500, "detected modified configuration - file changed by other user? Try again.");
    if (vm.config.lock && !bool(p.skiplock)) throw new ApiError(500, `VM is locked (${vm.config.lock})`);
    const set = stringParams(p, [
      "node",
      "vmid",
      "delete",
      "digest",
      "skiplock",
      "revert",
      "background_delay",
      "force",
      "import-working-storage",
    ]);
    normalizeNets(set);
    // API2::Qemu update_vm hashes cipassword (not on create, not for Windows guests)
    if (set.cipassword !== undefined && !isWindowsOstype(vm.config.ostype) && !isCryptHash(set.cipassword))
      set.cipassword = encryptPw(set.cipassword);
    await allocateDrives(vmid, set, log, vm.config);
    let ciDriveSet = false;
    for (const [k, v] of Object.entries(set)) {
      if (!DRIVE_RE.test(k)) continue;
      const file = splitPropertyString(v, "file").file;
      if (isCloudinitVolume(file)) ciDriveSet = true;
      // a replaced cloud-init drive is freed (the same volume is regenerated below)
      const old = splitPropertyString(vm.config[k] ?? "", "file").file;
      if (old && old !== file && isCloudinitVolume(old)) freeCloudinit(old, log);
    }
    for (const k of (str(p.delete) ?? "").split(/[,;\s\0]+/).filter(Boolean)) {
      const old = vm.config[k];
      delete vm.config[k];
      if (old && DRIVE_RE.test(k)) {
        const d = splitPropertyString(old, "file");
        if (isCloudinitVolume(d.file)) freeCloudinit(d.file as string, log);
        else if (d.media !== "cdrom" && d.file && /^[^:]+:\d+\//.test(d.file)) {
          let n = 0;
          while (vm.config[`unused${n}`]) n++;
          vm.config[`unused${n}`] = d.file;
        }
      }
    }
    Object.assign(vm.config, set);
    // QemuServer::vmconfig_apply_pending: setting a cloud-init drive generates its content
    if (ciDriveSet) await generateCloudinit(vm, log);
  };

  handlers["POST /nodes/{node}/qemu/{vmid}/config"] = (p, auth) => {
    getVm(Number(p.vmid));
    checkSshKeys(p);
    return upidOf(tasks.start("qmconfig", Number(p.vmid), auth.user, (log) => updateConfig(p, log)));
  };
  handlers["PUT /nodes/{node}/qemu/{vmid}/config"] = async (p) => {
    checkSshKeys(p);
    await updateConfig(p, () => {});
    return null;
  };

  handlers["GET /nodes/{node}/qemu/{vmid}/status/current"] = (p) => {
    const vm = getVm(Number(p.vmid));
    const s = vmSummary(vm);
    const agent = toSpec(vm).agent;
    return {
      ...s,
      qmpstatus: vm.status,
      ha: { managed: 0 },
      ...(agent ? { agent: 1 } : {}),
      ...(vm.status === "running"
        ? { pid: 100000 + vm.vmid, "running-machine": "pc-i440fx-9.2+pve1", "running-qemu": "9.2.0" }
        : {}),
    };
  };

  handlers["POST /nodes/{node}/qemu/{vmid}/status/start"] = (p, auth) => {
    const vmid = Number(p.vmid);
    const vm = getVm(vmid);
    if (isTemplate(vm)) throw new ApiError(500, "you can't start a vm if it's a template");
    if (vm.config.lock && !bool(p.skiplock)) throw new ApiError(500, `VM is locked (${vm.config.lock})`);
    return upidOf(
      tasks.start("qmstart", vmid, auth.user, async (tlog) => {
        if (vm.status === "running" && runner.isRunning(vmid)) throw new Error(`VM ${vmid} already running`);
        await generateCloudinit(vm, tlog);
        await runner.start(toSpec(vm));
        vm.status = "running";
        vm.startedAt = Date.now();
      }),
    );
  };

  handlers["POST /nodes/{node}/qemu/{vmid}/status/stop"] = (p, auth) => {
    const vmid = Number(p.vmid);
    const vm = getVm(vmid);
    return upidOf(
      tasks.start("qmstop", vmid, auth.user, async () => {
        await runner.stop(vmid);
        vm.status = "stopped";
      }),
    );
  };

  handlers["POST /nodes/{node}/qemu/{vmid}/status/shutdown"] = (p, auth) => {
    const vmid = Number(p.vmid);
    const vm = getVm(vmid);
    const timeoutMs = (p.timeout !== undefined ? Number(p.timeout) : 180) * 1000;
    return upidOf(
      tasks.start("qmshutdown", vmid, auth.user, async () => {
        if (vm.status !== "running" || !runner.isRunning(vmid)) {
          vm.status = "stopped";
          throw new Error(`VM ${vmid} not running`);
        }
        try {
          await runner.shutdown(vmid, timeoutMs);
        } catch {
          if (!bool(p.forceStop)) throw new Error("VM quit/powerdown failed");
          await runner.stop(vmid);
        }
        vm.status = "stopped";
      }),
    );
  };

  // Cloudinit::dump_cloudinit_config: what the drive holds (or will hold at the next start)
  handlers["GET /nodes/{node}/qemu/{vmid}/cloudinit/dump"] = (p, auth) => {
    const vm = getVm(Number(p.vmid));
    const mask = !hasPriv(auth.privileges, `/vms/${vm.vmid}`, "VM.Config.Cloudinit");
    try {
      return dumpCloudinit(vm.config, vm.vmid, String(p.type), opts.hostDns ?? readResolvConf(), mask);
    } catch (e) {
      throw new ApiError(500, (e as Error).message);
    }
  };

  handlers["PUT /nodes/{node}/qemu/{vmid}/sendkey"] = async (p) => {
    const vmid = Number(p.vmid);
    const vm = getVm(vmid);
    if (vm.status !== "running" || !runner.isRunning(vmid)) throw new ApiError(500, `VM ${vmid} not running`);
    const key = String(p.key);
    const parts = key === "minus" ? ["minus"] : key.split("-");
    for (const part of parts)
      if (!QCODES.has(part))
        throw new ApiError(
          500,
          `VM ${vmid} qmp command 'send-key' failed - Parameter 'keys[${parts.indexOf(part)}].data' does not accept value '${part}'`,
        );
    await runner.sendKey(vmid, key);
    return null;
  };

  handlers["POST /nodes/{node}/qemu/{vmid}/template"] = (p, auth) => {
    const vmid = Number(p.vmid);
    const vm = getVm(vmid);
    if (isTemplate(vm)) throw new ApiError(500, "you can't convert a template to a template");
    if (vm.status === "running" || runner.isRunning(vmid))
      throw new ApiError(500, "you can't convert a VM to template if VM is running");
    vm.config.lock = "template";
    return upidOf(
      tasks.start("qmtemplate", vmid, auth.user, async () => {
        try {
          for (const [k, v] of Object.entries(vm.config)) {
            if (!DRIVE_RE.test(k) || (p.disk !== undefined && p.disk !== k)) continue;
            const d = splitPropertyString(v, "file");
            if (d.media === "cdrom" || !d.file) continue;
            const m = /^([^:]+):(\d+)\/vm-(\d+-disk-\d+\.\w+)$/.exec(d.file);
            if (!m) continue;
            const from = volumePath(d.file) as string;
            const baseName = `base-${m[3]}`;
            fs.renameSync(from, path.join(path.dirname(from), baseName));
            vm.config[k] = v.replace(d.file, `${m[1]}:${m[2]}/${baseName}`);
          }
          vm.config.template = "1";
        } finally {
          delete vm.config.lock;
        }
      }),
    );
  };

  handlers["POST /nodes/{node}/qemu/{vmid}/clone"] = (p, auth) => {
    const vmid = Number(p.vmid);
    const newid = Number(p.newid);
    const src = getVm(vmid);
    if (p.target !== undefined && p.target !== node)
      throw new ApiError(500, `Target node '${p.target}' does not exist`);
    checkStorage(str(p.storage));
    checkVmidUnused(newid);
    if (src.config.lock) throw new ApiError(500, `VM is locked (${src.config.lock})`);
    const full = p.full !== undefined ? bool(p.full) : !isTemplate(src);
    if (!full && !isTemplate(src))
      throw new ApiError(500, "Linked clone feature is not supported for drive 'scsi0'");
    if (p.format !== undefined && !full)
      throw paramError({ format: "option is only allowed for full clones" });
    const conf: Record<string, string> = { ...src.config };
    delete conf.template;
    delete conf.lock;
    if (p.name !== undefined) conf.name = String(p.name);
    if (p.description !== undefined) conf.description = String(p.description);
    conf.smbios1 = `uuid=${crypto.randomUUID()}`;
    conf.vmgenid = crypto.randomUUID();
    for (const [k, v] of Object.entries(conf))
      if (/^net\d+$/.test(k))
        conf[k] = v.replace(/^(\w+)=[0-9A-Fa-f:]{17}/, (_m, model: string) => `${model}=${randomMac()}`);
    const dst: VmState = { vmid: newid, config: { ...conf, lock: "clone" }, status: "stopped" };
    vms.set(newid, dst);
    src.config.lock = "clone";
    return upidOf(
      tasks.start(
        "qmclone",
        vmid,
        auth.user,
        async (log) => {
          try {
            fs.mkdirSync(imagesDir(newid), { recursive: true });
            for (const [k, v] of Object.entries(conf)) {
              if (!DRIVE_RE.test(k)) continue;
              const d = splitPropertyString(v, "file");
              if (isCloudinitVolume(d.file)) {
                // QemuServer::clone_disk: always a new (empty, 4 MiB) vm-NEWID-cloudinit volume,
                // also for linked clones; its content is generated at the clone's first start
                const src = volumePath(d.file as string);
                const format = String(p.format ?? (src ? path.extname(src).slice(1) : "qcow2"));
                conf[k] = await allocCloudinit(newid, { ...d, format }, STORAGE, true);
                log(`create full clone of drive ${k} (${d.file}) -> ${conf[k]}`);
                continue;
              }
              if (d.media === "cdrom" || !d.file) continue;
              const from = volumePath(d.file);
              if (!from || !fs.existsSync(from)) continue;
              const fmt = full ? String(p.format ?? d.format ?? path.extname(from).slice(1)) : "qcow2";
              const name = nextDiskName(newid, fmt);
              const to = path.join(imagesDir(newid), name);
              let volid: string;
              if (full) {
                if (hasQemuImg) await run("qemu-img", ["convert", "-O", fmt, from, to]);
                else fs.copyFileSync(from, to);
                volid = `${STORAGE}:${newid}/${name}`;
              } else {
                if (hasQemuImg)
                  await run("qemu-img", [
                    "create",
                    "-q",
                    "-f",
                    "qcow2",
                    "-F",
                    path.extname(from).slice(1),
                    "-b",
                    from,
                    to,
                  ]);
                else fs.copyFileSync(from, to);
                const base = /^[^:]+:(.+)$/.exec(d.file)?.[1];
                volid = `${STORAGE}:${base}/${newid}/${name}`;
              }
              log(`${full ? "full" : "linked"} clone of ${k}: ${d.file} -> ${volid}`);
              conf[k] = v.replace(d.file, volid);
            }
            dst.config = conf;
          } catch (e) {
            vms.delete(newid);
            fs.rmSync(imagesDir(newid), { recursive: true, force: true });
            throw e;
          } finally {
            delete src.config.lock;
          }
        },
        () => {
          vms.delete(newid);
          delete src.config.lock;
        },
      ),
    );
  };

  handlers["GET /nodes/{node}/qemu/{vmid}/agent/network-get-interfaces"] = async (p) => {
    const vmid = Number(p.vmid);
    const vm = getVm(vmid);
    if (vm.status !== "running" || !runner.isRunning(vmid))
      throw new ApiError(500, `VM ${vmid} is not running`);
    if (!toSpec(vm).agent) throw new ApiError(500, "No QEMU guest agent configured");
    if (agentDownSet.has(vmid) || agentDownSet.has("*"))
      throw new ApiError(500, "QEMU guest agent is not running");
    try {
      return { result: await runner.agentInterfaces(vmid) };
    } catch (e) {
      if (e instanceof AgentNotRunningError) throw new ApiError(500, e.message);
      throw e;
    }
  };

  handlers["GET /nodes/{node}/tasks/{upid}/status"] = (p, auth) => {
    const upid = String(p.upid);
    const parsed = parseUpid(upid);
    if (!parsed) throw new ApiError(500, `unable to parse worker upid '${upid}'`);
    const t = tasks.all.get(upid);
    if (!t) throw new ApiError(500, `no such task`);
    if (t.user !== auth.user && !hasPriv(auth.privileges, `/nodes/${node}`, "Sys.Audit")) throw permError();
    const { log: _l, done: _d, endtime: _e, ...rest } = t;
    return rest;
  };

  // storage
  const CONTENT_EXT: Record<string, RegExp> = {
    iso: /\.(?:iso|img)$/i,
    vztmpl: /\.tar\.(?:gz|xz|zst|bz2)$/i,
    import: /\.(?:ova|qcow2|raw|vmdk)$/i,
  };
  const CONTENT_DIR: Record<string, string> = {
    iso: "template/iso",
    vztmpl: "template/cache",
    import: "import",
  };
  const normalizeFilename = (f: string) => path.basename(f).replace(/[^a-zA-Z0-9_.-]/g, "_");

  handlers["GET /nodes/{node}/storage/{storage}/content"] = (p) => {
    checkStorage(str(p.storage));
    const out: Record<string, unknown>[] = [];
    const filter = str(p.content);
    const vmidFilter = p.vmid !== undefined ? Number(p.vmid) : undefined;
    for (const [content, dir] of Object.entries(CONTENT_DIR)) {
      if ((filter && filter !== content) || vmidFilter !== undefined) continue;
      for (const f of fs.readdirSync(path.join(storageDir, dir))) {
        const st = fs.statSync(path.join(storageDir, dir, f));
        if (!st.isFile()) continue;
        out.push({
          volid: `${STORAGE}:${content}/${f}`,
          content,
          format: content === "iso" ? "iso" : (/\.(\w+)$/.exec(f)?.[1] ?? "raw"),
          size: st.size,
          ctime: Math.floor(st.ctimeMs / 1000),
        });
      }
    }
    if (!filter || filter === "images")
      for (const d of fs.readdirSync(path.join(storageDir, "images"))) {
        const vmid = Number(d);
        if (vmidFilter !== undefined && vmid !== vmidFilter) continue;
        for (const f of fs.readdirSync(imagesDir(d))) {
          const file = path.join(imagesDir(d), f);
          const st = fs.statSync(file);
          const volid = findVolid(vmid, f) ?? `${STORAGE}:${vmid}/${f}`;
          out.push({
            volid,
            content: "images",
            format: /\.(\w+)$/.exec(f)?.[1] ?? "raw",
            size: virtualSizeCached(file),
            used: st.blocks * 512,
            vmid,
            ctime: Math.floor(st.ctimeMs / 1000),
            ...(volid.split("/").length > 2
              ? { parent: volid.split("/").slice(0, 2).join("/").replace(`${STORAGE}:`, "") }
              : {}),
          });
        }
      }
    return out;
  };
  const findVolid = (vmid: number, file: string): string | undefined => {
    const c = vms.get(vmid)?.config ?? {};
    for (const v of Object.values(c)) {
      const f = splitPropertyString(v, "file").file;
      if (f?.endsWith(`/${vmid}/${file}`) || f === `${STORAGE}:${vmid}/${file}`) return f;
    }
    return undefined;
  };

  handlers["DELETE /nodes/{node}/storage/{storage}/content/{volume}"] = (p, auth) => {
    const storage = str(p.storage);
    checkStorage(storage);
    let volid = String(p.volume);
    if (!volid.includes(":")) volid = `${storage ?? STORAGE}:${volid}`;
    const file = volumePath(volid);
    if (!file || !fs.existsSync(file)) throw new ApiError(500, `volume '${volid}' does not exist`);
    const owner = /^[^:]+:(?:\d+\/[^/]+\/)?(\d+)\//.exec(volid)?.[1];
    if (owner && vms.get(Number(owner)) && findVolid(Number(owner), path.basename(file)))
      throw new ApiError(500, `unable to delete '${volid}' - volume is still in use (by VM ${owner})`);
    return upidOf(
      tasks.start("imgdel", "", auth.user, async () => {
        fs.rmSync(file, { force: true });
      }),
    );
  };

  handlers["POST /nodes/{node}/storage/{storage}/upload"] = (p, auth, ctx) => {
    checkStorage(str(p.storage));
    const up = ctx.upload;
    if (!up) throw new ApiError(400, "upload requires multipart/form-data");
    const content = String(p.content);
    const filename = normalizeFilename(String(p.filename));
    const re = CONTENT_EXT[content];
    if (re && !re.test(filename)) {
      fs.rmSync(up.tmpfile, { force: true });
      throw paramError({ filename: "wrong file extension" });
    }
    const dest = path.join(storageDir, CONTENT_DIR[content] as string, filename);
    return upidOf(
      tasks.start("imgcopy", "", auth.user, async (log) => {
        try {
          if (p.checksum !== undefined) {
            const got = await hashFile(up.tmpfile, String(p["checksum-algorithm"]));
            if (got !== String(p.checksum).toLowerCase())
              throw new Error(`checksum mismatch: got '${got}' != expect '${p.checksum}'`);
            log(`calculated checksum ${got}`);
          }
          log(`target file: ${dest}`);
          fs.renameSync(up.tmpfile, dest);
          log(`file size is: ${up.bytes}`);
        } finally {
          fs.rmSync(up.tmpfile, { force: true });
        }
      }),
    );
  };

  handlers["POST /nodes/{node}/storage/{storage}/download-url"] = (p, auth) => {
    checkStorage(str(p.storage));
    const content = String(p.content);
    const filename = normalizeFilename(String(p.filename));
    const re = CONTENT_EXT[content];
    if (re && !re.test(filename)) throw paramError({ filename: "wrong file extension" });
    const url = String(p.url);
    if (!/^https?:\/\//.test(url)) throw paramError({ url: "invalid URL" });
    const dest = path.join(storageDir, CONTENT_DIR[content] as string, filename);
    const verify = p["verify-certificates"] === undefined ? true : bool(p["verify-certificates"]);
    return upidOf(
      tasks.start("download", filename, auth.user, async (log) => {
        const tmp = path.join(storageDir, ".tmp", `download-${crypto.randomBytes(6).toString("hex")}`);
        try {
          log(`downloading ${url} to ${dest}`);
          await download(url, tmp, verify);
          if (p.checksum !== undefined) {
            const got = await hashFile(tmp, String(p["checksum-algorithm"]));
            if (got !== String(p.checksum).toLowerCase())
              throw new Error(`checksum mismatch: got '${got}' != expect '${p.checksum}'`);
          }
          fs.renameSync(tmp, dest);
          log("download of '...' finished");
        } finally {
          fs.rmSync(tmp, { force: true });
        }
      }),
    );
  };

  // ---- the server ---------------------------------------------------------------------
  const openSockets = new Set<{ destroy(): void; on(ev: "close", cb: () => void): unknown }>();
  const hanging = new Set<http.ServerResponse>();

  const handle = async (req: http.IncomingMessage, res: http.ServerResponse) => {
    const method = req.method ?? "GET";
    const url = new URL(req.url ?? "/", "https://127.0.0.1");
    const rec: PveState["requests"][number] = { method, path: url.pathname, status: 0 };
    requests.push(rec);
    const reply = (
      status: number,
      reason: string | undefined,
      body: unknown,
      headers?: Record<string, string>,
    ) => {
      rec.status = status;
      log(`${method} ${url.pathname} ${status}${reason ? ` ${reason}` : ""}`);
      send(res, status, reason, body, headers);
    };
    let uploadTmp: string | undefined;
    try {
      const m = /^\/api2\/json(\/.*)?$/.exec(url.pathname);
      if (!m) {
        reply(501, "no such uri", undefined);
        return;
      }
      const rel = (m[1] ?? "/").replace(/\/+$/, "") || "/";

      for (const [id, f] of faultList) {
        const pathOk =
          typeof f.path === "string" ? rel === f.path || rel.startsWith(f.path) : f.path.test(rel);
        if (!pathOk || (f.method && f.method.toUpperCase() !== method)) continue;
        if (--f.left <= 0) faultList.delete(id);
        if (f.hang) {
          rec.status = -1;
          hanging.add(res);
          req.resume();
          return;
        }
        const status = f.status ?? 500;
        const msg = f.message ?? STATUS_TEXT[status] ?? http.STATUS_CODES[status] ?? "error";
        req.resume();
        reply(status, msg, { data: null, message: `${msg}\n` }, f.headers);
        return;
      }

      const match = matchRoute(routes, rel);
      const info = match?.route.methods[method];
      if (!match || !info) {
        req.resume();
        reply(501, `Method '${method} /api2/json${rel}' not implemented`, {
          data: null,
          message: `Method '${method} /api2/json${rel}' not implemented\n`,
        });
        return;
      }
      const template = match.route.template;
      const isUpload = method === "POST" && template === "/nodes/{node}/storage/{storage}/upload";

      let auth: Auth | undefined;
      if (info.permissions?.user !== "world") {
        try {
          auth = authenticate(req, method, isUpload);
          rec.user = auth.user;
          if (!auth.viaTicket && info.allowtoken === 0)
            throw new ApiError(401, "API tokens are not allowed for this endpoint");
        } catch (e) {
          req.resume();
          if (opts.unauthorizedDelayMs) await new Promise((r) => setTimeout(r, opts.unauthorizedDelayMs));
          reply(401, (e as Error).message, undefined);
          return;
        }
      }

      // parameters: query string, then the body (form, JSON or multipart)
      const params: Record<string, ParamValue> = {};
      decodeForm(url.search.slice(1), params);
      let upload: UploadInfo | undefined;
      const ctype = (req.headers["content-type"] ?? "").toLowerCase();
      if (isUpload && ctype.startsWith("multipart/form-data")) {
        if (auth) authorize(auth, method, template, info, { ...params, ...match.params });
        const boundary = boundaryOf(req.headers["content-type"]);
        if (!boundary) throw new ApiError(400, "missing multipart boundary");
        uploadTmp = path.join(storageDir, ".tmp", `pveupload-${crypto.randomBytes(8).toString("hex")}`);
        const tmp = uploadTmp;
        const r = await readMultipart(req, boundary, () => {
          const ws = fs.createWriteStream(tmp);
          let failed: Error | undefined;
          ws.on("error", (e) => {
            failed = e;
            ws.emit("drain");
          });
          return {
            write: (chunk) =>
              new Promise<void>((resolve, reject) => {
                if (failed) reject(failed);
                else if (ws.write(chunk)) resolve();
                else ws.once("drain", () => (failed ? reject(failed) : resolve()));
              }),
            end: () =>
              new Promise<void>((resolve, reject) =>
                ws.end((err?: Error | null) => (err ? reject(err) : resolve())),
              ),
          };
        });
        Object.assign(params, r.fields);
        if (r.file) {
          params.filename = r.file.filename;
          upload = { tmpfile: tmp, filename: r.file.filename, bytes: r.file.bytes };
        }
      } else if (method === "POST" || method === "PUT" || method === "DELETE") {
        const body = await readBody(req);
        if (body.trim()) {
          if (ctype.startsWith("application/json")) {
            let parsed: unknown;
            try {
              parsed = JSON.parse(body);
            } catch {
              throw new ApiError(400, "malformed JSON in request body");
            }
            if (!parsed || typeof parsed !== "object" || Array.isArray(parsed))
              throw new ApiError(400, "JSON body must be an object");
            Object.assign(params, parsed);
          } else {
            decodeForm(body, params);
          }
        }
      } else {
        req.resume();
      }
      delete params._dc;
      for (const [k, v] of Object.entries(match.params)) params[k] = v;

      const errors = validator.validate(info, params);
      if (Object.keys(errors).length) throw paramError(errors);

      if (params.node !== undefined && params.node !== node)
        throw new ApiError(
          500,
          `hostname lookup '${params.node}' failed - failed to get address info for: ${params.node}: Name or service not known`,
        );

      if (auth && !isUpload) authorize(auth, method, template, info, params);

      const handler = handlers[`${method} ${template}`];
      if (!handler) throw new ApiError(501, `Method '${method} /api2/json${rel}' not implemented`);
      const data = await handler(params, auth as Auth, { req, upload });
      if (upload) uploadTmp = undefined; // the task owns it now
      reply(200, "OK", { data: data === undefined ? null : data });
    } catch (e) {
      if (!req.complete) req.resume();
      const err = e instanceof ApiError ? e : new ApiError(500, (e as Error).message ?? String(e));
      const msg = err.message.replace(/\n+$/, "");
      const body: Record<string, unknown> = { data: null, message: `${msg}\n` };
      if (err.errors) body.errors = err.errors;
      reply(err.status, msg, body);
    } finally {
      if (uploadTmp) fs.rmSync(uploadTmp, { force: true });
    }
  };

  const server = https.createServer({ key, cert, requestTimeout: 0 }, (req, res) => {
    handle(req, res).catch((e) => {
      if (!res.headersSent) send(res, 500, String((e as Error).message), { data: null });
    });
  });
  server.on("connection", (s) => {
    openSockets.add(s);
    s.on("close", () => openSockets.delete(s));
  });
  server.on("secureConnection", (s) => {
    openSockets.add(s);
    s.on("close", () => openSockets.delete(s));
  });
  server.on("tlsClientError", () => {});
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  const port = (server.address() as AddressInfo).port;

  const state: PveState = {
    node,
    storageDir,
    vms,
    tasks: tasks.all,
    foreignVmids,
    requests,
    async waitTask(upid) {
      const t = tasks.all.get(upid);
      if (!t) throw new Error(`no such task ${upid}`);
      await t.done;
      return t;
    },
    sshEndpoint: (vmid) => runner.sshEndpoint?.(vmid),
    volumePath,
  };

  let closed = false;
  return {
    url: `https://127.0.0.1:${port}/api2/json`,
    port,
    caCert: cert,
    fingerprint,
    state,
    faults,
    runner,
    async close() {
      if (closed) return;
      closed = true;
      tasks.close();
      for (const r of hanging) r.destroy();
      await runner.close();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const s of openSockets) s.destroy();
      });
      if (ownStorage) fs.rmSync(storageDir, { recursive: true, force: true });
    },
  };
}

function formatSize(bytes: number): string {
  const units = ["", "K", "M", "G", "T"];
  let i = 0;
  let v = bytes;
  while (i < units.length - 1 && v % 1024 === 0 && v >= 1024) {
    v /= 1024;
    i++;
  }
  return `${v}${units[i]}`;
}

function hashFile(file: string, algo: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const h = crypto.createHash(algo);
    fs.createReadStream(file)
      .on("data", (d) => h.update(d))
      .on("error", reject)
      .on("end", () => resolve(h.digest("hex")));
  });
}

function download(url: string, dest: string, verify: boolean, redirects = 5): Promise<void> {
  return new Promise((resolve, reject) => {
    const mod = url.startsWith("https:") ? https : http;
    const req = mod.get(url, url.startsWith("https:") ? { rejectUnauthorized: verify } : {}, (res) => {
      const status = res.statusCode ?? 0;
      if (status >= 300 && status < 400 && res.headers.location && redirects > 0) {
        res.resume();
        download(new URL(res.headers.location, url).toString(), dest, verify, redirects - 1).then(
          resolve,
          reject,
        );
        return;
      }
      if (status !== 200) {
        res.resume();
        reject(new Error(`download failed: ${status} ${res.statusMessage ?? ""}`.trim()));
        return;
      }
      const ws = fs.createWriteStream(dest);
      res.pipe(ws);
      ws.on("finish", () => resolve());
      ws.on("error", reject);
      res.on("error", reject);
    });
    req.on("error", reject);
  });
}
