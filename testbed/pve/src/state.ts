/**
 * The PVE double's in-memory cluster model: the node's VMs and their configs, VMIDs taken on
 * other (imaginary) nodes, and what the routes derive from a config (the runner's VmSpec, the
 * summaries PVE lists).
 */
import crypto from "node:crypto";
import fs from "node:fs";
import { ApiError } from "./api-error.js";
import type { SshEndpoint, VmRunner, VmSpec } from "./runner.js";
import { splitPropertyString } from "./spec.js";
import type { TaskInfo } from "./tasks.js";
import type { Storage } from "./volumes.js";

export interface VmState {
  vmid: number;
  config: Record<string, string>;
  status: "running" | "stopped";
  startedAt?: number;
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

export const isTemplate = (vm: VmState) => vm.config.template === "1";

export const randomMac = () =>
  `BC:24:11:${[0, 0, 0].map(() => crypto.randomInt(256).toString(16).toUpperCase().padStart(2, "0")).join(":")}`;

/** net[n] values as PVE stores them: MODEL=MAC first (a random MAC unless one is given). */
export const normalizeNets = (params: Record<string, string>) => {
  for (const [k, v] of Object.entries(params)) {
    if (!/^net\d+$/.test(k)) continue;
    const parts = v.split(",");
    const first = parts[0] ?? "";
    if (!first.includes("=") || /^model=/.test(first)) {
      const model = first.includes("=") ? first.slice(6) : first;
      const mac = parts.find((p) => p.startsWith("macaddr="))?.slice(8) ?? randomMac();
      params[k] = [`${model}=${mac}`, ...parts.slice(1).filter((p) => !p.startsWith("macaddr="))].join(",");
    }
    // as PVE prints it: MODEL=MAC first, the other options sorted by name
    const [head, ...opts] = (params[k] as string).split(",");
    const name = (o: string) => o.split("=")[0] ?? "";
    params[k] = [head, ...opts.sort((a, b) => (name(a) < name(b) ? -1 : name(a) > name(b) ? 1 : 0))].join(
      ",",
    );
  }
};

/** Drive keys in the order PVE looks for boot devices (Drive::valid_drive_names_for_boot). */
const BOOT_DRIVES = [
  ...Array.from({ length: 4 }, (_, i) => `ide${i}`),
  ...Array.from({ length: 6 }, (_, i) => `sata${i}`),
  ...Array.from({ length: 31 }, (_, i) => `scsi${i}`),
  ...Array.from({ length: 16 }, (_, i) => `virtio${i}`),
];

/**
 * The `boot` PVE writes on create without one (QemuServer::get_default_bootdevices): the first
 * hard disk, the first CD-ROM, then every NIC — `order=scsi0;ide2;net0`; undefined with none.
 */
export function defaultBoot(conf: Record<string, string>): string | undefined {
  const isCd = (k: string) => /(?:^|,)media=cdrom(?:,|$)/.test(conf[k] ?? "");
  const disk = BOOT_DRIVES.find((k) => conf[k] !== undefined && !isCd(k));
  const cd = BOOT_DRIVES.find((k) => conf[k] !== undefined && isCd(k));
  const nets = Object.keys(conf)
    .filter((k) => /^net\d+$/.test(k))
    .sort();
  const devs = [...(disk ? [disk] : []), ...(cd ? [cd] : []), ...nets];
  return devs.length ? `order=${devs.join(";")}` : undefined;
}

export const configDigest = (c: Record<string, string>) =>
  crypto
    .createHash("sha1")
    .update(
      Object.keys(c)
        .sort()
        .map((k) => `${k}: ${c[k]}\n`)
        .join(""),
    )
    .digest("hex");

export type Cluster = ReturnType<typeof createCluster>;

export function createCluster(node: string, runner: VmRunner, storage: Storage) {
  const vms = new Map<number, VmState>();
  const foreignVmids = new Map<number, string>();

  runner.onExit?.((vmid) => {
    const vm = vms.get(vmid);
    if (vm) vm.status = "stopped";
  });

  const getVm = (vmid: number): VmState => {
    const vm = vms.get(vmid);
    if (!vm)
      throw new ApiError(500, `Configuration file 'nodes/${node}/qemu-server/${vmid}.conf' does not exist`);
    return vm;
  };
  const vmidUsed = (vmid: number) => vms.has(vmid) || foreignVmids.has(vmid);
  const checkVmidUnused = (vmid: number) => {
    if (vms.has(vmid)) throw new ApiError(500, `VM ${vmid} already exists on node '${node}'`);
    const other = foreignVmids.get(vmid);
    if (other) throw new ApiError(500, `VM ${vmid} already exists on node '${other}'`);
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
      drives: storage.vmDrives(c),
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

  const vmSummary = (vm: VmState) => {
    const s = toSpec(vm);
    const maxdisk = s.drives
      .filter((d) => d.media === "disk" && d.path && fs.existsSync(d.path))
      .reduce((a, d) => a + storage.virtualSizeCached(d.path as string), 0);
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

  return { node, runner, storage, vms, foreignVmids, getVm, vmidUsed, checkVmidUnused, toSpec, vmSummary };
}
