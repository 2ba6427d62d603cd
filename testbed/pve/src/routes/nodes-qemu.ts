/**
 * The PVE double's VM routes, /nodes/{node}/qemu: list, create, destroy, config, power
 * (start, stop, shutdown), cloud-init dump, sendkey, template and clone.
 */
import crypto from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { ApiError, paramError } from "../api-error.js";
import {
  dumpCloudinit,
  encryptPw,
  isCloudinitVolume,
  isCryptHash,
  isWindowsOstype,
  uriUnescape,
  validateSshPublicKeys,
} from "../cloudinit.js";
import { run } from "../exec.js";
import { type ParamValue, splitPropertyString } from "../spec.js";
import {
  type Cluster,
  configDigest,
  defaultBoot,
  isTemplate,
  normalizeNets,
  randomMac,
  type VmState,
} from "../state.js";
import type { Tasks } from "../tasks.js";
import { checkStorage, DRIVE_RE, STORAGE, storageOf } from "../volumes.js";
import { filterAudit, hasPriv } from "./access.js";
import { bool, type Handlers, str, stringParams, upidOf } from "./common.js";

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

/** API2::Qemu create/update: sshkeys must decode to valid public keys (ssh-keygen -l). */
const checkSshKeys = (p: Record<string, ParamValue>) => {
  if (p.sshkeys === undefined || p.sshkeys === null) return;
  try {
    validateSshPublicKeys(uriUnescape(String(p.sshkeys)));
  } catch (e) {
    throw new ApiError(500, (e as Error).message);
  }
};

/**
 * `configValue(key, value)`: a config value as GET …/config answers it — integers and booleans
 * as JSON numbers (QemuServer's parse_vm_config runs check_type: int(), 1/0), the rest as stored.
 */
export function nodesQemuRoutes(
  cluster: Cluster,
  tasks: Tasks,
  configValue: (key: string, value: string) => string | number = (_k, v) => v,
): Handlers {
  const { node, vms, runner, storage, getVm, checkVmidUnused, toSpec, vmSummary } = cluster;
  const { imagesDir, volumePath, allocateDrives, generateCloudinit, freeCloudinit, allocCloudinit } = storage;
  const { hasQemuImg, nextDiskName, hostFormat, apiFormat, newVolume } = storage;

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

  return {
    "GET /nodes/{node}/qemu": (_p, auth) =>
      [...vms.values()].filter((vm) => filterAudit(auth, vm.vmid)).map(vmSummary),

    "POST /nodes/{node}/qemu": (p, auth) => {
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
              // API2::Qemu create: without `boot`, PVE writes its default order once the disks exist
              const boot = conf.boot ? undefined : defaultBoot(conf);
              if (boot) conf.boot = boot;
            } catch (e) {
              vms.delete(vmid);
              storage.freeVmVolumes(vmid);
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
    },

    "DELETE /nodes/{node}/qemu/{vmid}": (p, auth) => {
      const vmid = Number(p.vmid);
      const vm = getVm(vmid);
      if (vm.status === "running" || runner.isRunning(vmid))
        throw new ApiError(500, `VM ${vmid} is running - destroy failed`);
      if (vm.config.lock && !bool(p.skiplock)) throw new ApiError(500, `VM is locked (${vm.config.lock})`);
      for (const other of vms.values()) {
        if (other.vmid === vmid) continue;
        for (const d of storage.vmDrives(other.config))
          if (d.path && fs.existsSync(d.path) && storage.linkedTo(d.path, vmid))
            throw new ApiError(
              500,
              `base volume of VM ${vmid} is still in use by linked cloned VM ${other.vmid}`,
            );
      }
      vm.config.lock = "destroyed";
      return upidOf(
        tasks.start("qmdestroy", vmid, auth.user, async () => {
          storage.freeVmVolumes(vmid);
          vms.delete(vmid);
        }),
      );
    },

    "GET /nodes/{node}/qemu/{vmid}/config": (p) => {
      const vm = getVm(Number(p.vmid));
      const out: Record<string, string | number> = {};
      for (const [k, v] of Object.entries(vm.config)) out[k] = configValue(k, v);
      if (vm.config.cipassword && vm.config.cipassword !== "0") out.cipassword = "**********"; // as PVE
      out.digest = configDigest(vm.config);
      return out;
    },

    "POST /nodes/{node}/qemu/{vmid}/config": (p, auth) => {
      getVm(Number(p.vmid));
      checkSshKeys(p);
      return upidOf(tasks.start("qmconfig", Number(p.vmid), auth.user, (log) => updateConfig(p, log)));
    },
    "PUT /nodes/{node}/qemu/{vmid}/config": async (p) => {
      checkSshKeys(p);
      await updateConfig(p, () => {});
      return null;
    },

    "GET /nodes/{node}/qemu/{vmid}/status/current": (p) => {
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
    },

    "POST /nodes/{node}/qemu/{vmid}/status/start": (p, auth) => {
      const vmid = Number(p.vmid);
      const vm = getVm(vmid);
      if (isTemplate(vm)) throw new ApiError(500, "you can't start a vm if it's a template");
      if (vm.config.lock && !bool(p.skiplock)) throw new ApiError(500, `VM is locked (${vm.config.lock})`);
      return upidOf(
        tasks.start("qmstart", vmid, auth.user, async (tlog) => {
          if (vm.status === "running" && runner.isRunning(vmid))
            throw new Error(`VM ${vmid} already running`);
          await generateCloudinit(vm, tlog);
          await runner.start(toSpec(vm));
          vm.status = "running";
          vm.startedAt = Date.now();
        }),
      );
    },

    "POST /nodes/{node}/qemu/{vmid}/status/stop": (p, auth) => {
      const vmid = Number(p.vmid);
      const vm = getVm(vmid);
      return upidOf(
        tasks.start("qmstop", vmid, auth.user, async () => {
          await runner.stop(vmid);
          vm.status = "stopped";
        }),
      );
    },

    "POST /nodes/{node}/qemu/{vmid}/status/shutdown": (p, auth) => {
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
    },

    // Cloudinit::dump_cloudinit_config: what the drive holds (or will hold at the next start)
    "GET /nodes/{node}/qemu/{vmid}/cloudinit/dump": (p, auth) => {
      const vm = getVm(Number(p.vmid));
      const mask = !hasPriv(auth.privileges, `/vms/${vm.vmid}`, "VM.Config.Cloudinit");
      try {
        return dumpCloudinit(vm.config, vm.vmid, String(p.type), storage.nodeDns(), mask);
      } catch (e) {
        throw new ApiError(500, (e as Error).message);
      }
    },

    "PUT /nodes/{node}/qemu/{vmid}/sendkey": async (p) => {
      const vmid = Number(p.vmid);
      const vm = getVm(vmid);
      if (vm.status !== "running" || !runner.isRunning(vmid))
        throw new ApiError(500, `VM ${vmid} not running`);
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
    },

    "POST /nodes/{node}/qemu/{vmid}/template": (p, auth) => {
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
              const lv = /^([^:]+):vm-(\d+-disk-\d+)$/.exec(d.file);
              if (!m && !lv) continue;
              const from = volumePath(d.file) as string;
              const baseName = `base-${m ? m[3] : lv?.[2]}`;
              fs.renameSync(from, path.join(path.dirname(from), baseName));
              vm.config[k] = v.replace(d.file, m ? `${m[1]}:${m[2]}/${baseName}` : `${lv?.[1]}:${baseName}`);
            }
            vm.config.template = "1";
          } finally {
            delete vm.config.lock;
          }
        }),
      );
    },

    "POST /nodes/{node}/qemu/{vmid}/clone": (p, auth) => {
      const vmid = Number(p.vmid);
      const newid = Number(p.newid);
      const src = getVm(vmid);
      if (p.target !== undefined && p.target !== node)
        throw new ApiError(500, `Target node '${p.target}' does not exist`);
      const target = str(p.storage);
      checkStorage(target, "images");
      checkVmidUnused(newid);
      if (src.config.lock) throw new ApiError(500, `VM is locked (${src.config.lock})`);
      const full = p.full !== undefined ? bool(p.full) : !isTemplate(src);
      if (!full && !isTemplate(src))
        throw new ApiError(500, "Linked clone feature is not supported for drive 'scsi0'");
      if (p.format !== undefined && !full)
        throw paramError({ format: "option is only allowed for full clones" });
      if (target !== undefined && !full)
        throw paramError({ storage: "option is only allowed for full clones" });
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
                const srcStorage = storageOf(d.file ?? "") ?? STORAGE;
                if (isCloudinitVolume(d.file)) {
                  // QemuServer::clone_disk: always a new (empty, 4 MiB) vm-NEWID-cloudinit volume,
                  // also for linked clones; its content is generated at the clone's first start
                  const sid = (full && target) || srcStorage;
                  const format = storage.isLvm(sid)
                    ? "raw"
                    : String(
                        p.format ?? (storage.isLvm(srcStorage) ? "qcow2" : hostFormat(d.file as string)),
                      );
                  conf[k] = await allocCloudinit(newid, { ...d, format }, sid, true);
                  log(`create full clone of drive ${k} (${d.file}) -> ${conf[k]}`);
                  continue;
                }
                if (d.media === "cdrom" || !d.file) continue;
                const from = volumePath(d.file);
                if (!from || !fs.existsSync(from)) continue;
                let volid: string;
                if (full) {
                  const sid = target ?? srcStorage;
                  const fmt = storage.isLvm(sid) ? "raw" : String(p.format ?? d.format ?? apiFormat(d.file));
                  const vol = newVolume(newid, sid, nextDiskName(newid, fmt, sid));
                  const hostFmt = storage.isLvm(sid) ? "qcow2" : fmt;
                  if (hasQemuImg) await run("qemu-img", ["convert", "-O", hostFmt, from, vol.file]);
                  else fs.copyFileSync(from, vol.file);
                  volid = vol.volid;
                } else {
                  const lvm = storage.isLvm(srcStorage);
                  const vol = newVolume(newid, srcStorage, nextDiskName(newid, "qcow2", srcStorage));
                  if (hasQemuImg)
                    await run("qemu-img", [
                      "create",
                      "-q",
                      "-f",
                      "qcow2",
                      "-F",
                      hostFormat(d.file),
                      "-b",
                      from,
                      vol.file,
                    ]);
                  else fs.copyFileSync(from, vol.file);
                  const base = /^[^:]+:(.+)$/.exec(d.file)?.[1];
                  // dir: local:100/base-100-disk-0.qcow2/101/vm-101-disk-0.qcow2;
                  // LVM-thin: local-lvm:base-100-disk-0/vm-101-disk-0
                  volid = lvm
                    ? `${srcStorage}:${base}/${path.basename(vol.file)}`
                    : `${srcStorage}:${base}/${newid}/${path.basename(vol.file)}`;
                }
                log(`${full ? "full" : "linked"} clone of ${k}: ${d.file} -> ${volid}`);
                conf[k] = v.replace(d.file, volid);
              }
              dst.config = conf;
            } catch (e) {
              vms.delete(newid);
              storage.freeVmVolumes(newid);
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
    },
  };
}
