/**
 * The qemu builder's run time, after Packer's qemu builder on a Linux host:
 *
 *   output directory → temporary SSH key → ISO / disk image → disk → CD → HTTP server →
 *   host port → accelerator → QEMU → boot command → SSH → provisioners → shutdown →
 *   compaction → output directory moved into place.
 *
 * Everything is written into a hidden sibling of the output directory and renamed into place
 * by the last step, so a failed or interrupted build leaves no output directory. QEMU is
 * stopped by its step's cleanup whatever happens (ACPI power button, then quit, then SIGKILL).
 */
import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { copyFile, mkdir, readFile, rename, rm, rmdir, stat } from "node:fs/promises";
import { basename, dirname, extname, join, resolve } from "node:path";
import {
  type Artifact,
  type BuilderRuntime,
  type Communicator,
  isKilnError,
  KilnError,
  parseDuration,
  type RunContext,
  type Step,
  StepTimeoutError,
} from "@kiln/core";
import {
  abortableSleep,
  type BootAction,
  checkFloppyLabel,
  clearAuthorizedKeysStep,
  connectStep,
  createQmpKeyDriver,
  createVncKeyDriver,
  fetchArtifact,
  floppyStep,
  httpServerStep,
  makeIso,
  parseBootCommand,
  prefixStepErrors,
  QmpClient,
  type TemporaryKeyPair,
  temporaryKeyStep,
  typeBootCommand,
  VncClient,
} from "@kiln/sdk";
import { probeKvm } from "./accel.js";
import {
  defaultArgs,
  flattenArgs,
  formatCommand,
  mergeQemuArgs,
  type VmConfig,
  type VmDisk,
} from "./args.js";
import { findOvmf } from "./efi.js";
import { findFreePort } from "./net.js";
import { formatBytes, parseSize, type QemuOptions } from "./options.js";
import { type QemuProcess, runTool, startQemu, waitExit } from "./proc.js";
import { checkTpmOptions, tpmStep, type VmTpm } from "./tpm.js";

const DEFAULT_DISK_SIZE = 40960; // MiB, as Packer
const STATE_RESULT = "qemu.result";

interface Vm {
  proc: QemuProcess;
  qmp: QmpClient;
  serialLog: string;
  command: string;
}

/** What the steps of one run share. */
interface RunState {
  outDir: string;
  tmpOut: string;
  vmName: string;
  format: "qcow2" | "raw";
  key?: TemporaryKeyPair;
  isoPath?: string;
  disks: VmDisk[];
  /** Final file names (in the output directory) of `disks`, in order. */
  diskNames: string[];
  cdIso?: string;
  floppy?: string;
  tpm?: VmTpm;
  efi?: { code: string; vars: string };
  hostPort?: number;
  accel?: "kvm" | "tcg" | "none";
  vm?: Vm;
  vnc?: string;
  /** Where kiln's RFB client connects, and the password QEMU is given (vnc_use_password). */
  vncAddress?: { host: string; port: number; password?: string };
}

export interface QemuResult {
  outDir: string;
  files: string[];
  vmName: string;
  format: string;
}

function err(code: string, message: string, hint?: string, cause?: unknown): KilnError {
  return new KilnError(code, `[qemu] ${message}`, {
    ...(hint ? { hint } : {}),
    ...(cause !== undefined ? { cause } : {}),
  });
}

function messageOf(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

function dur(value: string | undefined, fallback: number, name: string): number {
  if (value === undefined) return fallback;
  try {
    return parseDuration(value);
  } catch (e) {
    throw err("KILN_QEMU_CONFIG", `${name}: ${messageOf(e)}`, 'Write a duration such as "30s" or "5m".');
  }
}

/** The last `n` non-empty lines of the serial console, without control characters. */
export async function serialTail(file: string, n = 15): Promise<string> {
  const text = await readFile(file, "utf8").catch(() => "");
  const lines = text
    // biome-ignore lint/suspicious/noControlCharactersInRegex: strip terminal escapes
    .replace(/\x1b\[[0-9;?]*[A-Za-z]/g, "")
    .split(/\r?\n|\r/)
    .map((l) => l.trimEnd())
    .filter((l) => l.trim() !== "");
  return lines.slice(-n).join("\n");
}

function sanitize(name: string): string {
  return name.replace(/[^A-Za-z0-9._-]+/g, "_");
}

/** Where the screenshot of a failed run goes: beside the build file, outside the output directory. */
export function failureScreenshotPath(ctx: RunContext): string {
  return join(ctx.baseDir, `kiln-${sanitize(ctx.run.name)}-failure.png`);
}

/** Save a screenshot and read the serial console's tail, for an error message. */
async function failureReport(ctx: RunContext, vm: Vm | undefined): Promise<{ png?: string; serial: string }> {
  if (!vm) return { serial: "" };
  let png: string | undefined;
  if (vm.proc.running && !vm.qmp.closed) {
    const file = failureScreenshotPath(ctx);
    try {
      await vm.qmp.screendump(file);
      png = file;
    } catch (e) {
      ctx.ui.error(`Could not save a screenshot: ${messageOf(e)}`);
    }
  }
  return { ...(png ? { png } : {}), serial: await serialTail(vm.serialLog) };
}

function diagnosisHint(what: string, report: { png?: string; serial: string }, vm: Vm | undefined): string {
  const parts = [what];
  if (report.png) parts.push(`Screenshot of the machine's screen: ${report.png}`);
  if (vm) {
    parts.push(
      report.serial
        ? `Last lines of the serial console (${vm.serialLog}):\n${report.serial
            .split("\n")
            .map((l) => `  | ${l}`)
            .join("\n")}`
        : "The serial console (ttyS0) printed nothing; add console=ttyS0 to the guest's kernel command line to see its output here.",
    );
  }
  return parts.join("\n");
}

/**
 * A signal that aborts with the step's signal and when QEMU exits, so a wait for the guest ends
 * at once when the guest is gone.
 */
function untilVmExits(signal: AbortSignal, vm: Vm | undefined): { signal: AbortSignal; dispose(): void } {
  const ac = new AbortController();
  const onAbort = () => ac.abort(signal.reason);
  if (signal.aborted) ac.abort(signal.reason);
  signal.addEventListener("abort", onAbort, { once: true });
  let active = true;
  vm?.proc.exited.then(({ code, signal: sig }) => {
    if (active && !ac.signal.aborted) ac.abort(new VmExitedError(code, sig));
  });
  return {
    signal: ac.signal,
    dispose() {
      active = false;
      signal.removeEventListener("abort", onAbort);
    },
  };
}

class VmExitedError extends Error {
  constructor(
    readonly code: number | null,
    readonly sig: string | null,
  ) {
    super(`QEMU exited (${sig ? `signal ${sig}` : `code ${code}`})`);
  }
}

function countKeys(actions: BootAction[]): { keys: number; waitMs: number } {
  let keys = 0;
  let waitMs = 0;
  for (const a of actions) {
    if (a.type === "wait") waitMs += a.ms;
    else if (a.type === "char" || a.type === "key") keys++;
  }
  return { keys, waitMs };
}

export const qemuBuilder: BuilderRuntime<QemuOptions> = {
  prepare(o) {
    if (!o.iso_url && !o.iso_urls?.length)
      throw err(
        "KILN_QEMU_CONFIG",
        "iso_url (or iso_urls) is required",
        "Set iso_url to the installer ISO or, with disk_image: true, the disk image.",
      );
    if (o.use_backing_file && !o.disk_image)
      throw err(
        "KILN_QEMU_CONFIG",
        "use_backing_file needs disk_image: true",
        "Set disk_image: true, or remove use_backing_file.",
      );
    if (o.use_backing_file && (o.format ?? "qcow2") !== "qcow2")
      throw err(
        "KILN_QEMU_CONFIG",
        "use_backing_file needs format: qcow2",
        "Set format: qcow2, or remove use_backing_file.",
      );
    if ((o.host_port_min ?? 2222) > (o.host_port_max ?? 4444))
      throw err(
        "KILN_QEMU_CONFIG",
        "host_port_min is greater than host_port_max",
        "Set host_port_min ≤ host_port_max.",
      );
    if ((o.vnc_port_min ?? VNC_PORT_MIN) > (o.vnc_port_max ?? VNC_PORT_MAX))
      throw err(
        "KILN_QEMU_CONFIG",
        `vnc_port_min (${o.vnc_port_min ?? `${VNC_PORT_MIN}, the default`}) is greater than vnc_port_max (${o.vnc_port_max ?? `${VNC_PORT_MAX}, the default`})`,
        "Set vnc_port_min ≤ vnc_port_max (VNC display N listens on port 5900 + N).",
      );
    if (o.floppy_label !== undefined) {
      try {
        checkFloppyLabel(o.floppy_label);
      } catch (e) {
        throw err("KILN_QEMU_CONFIG", messageOf(e), isKilnError(e) ? e.hint : undefined);
      }
    }
    const tpmProblem = checkTpmOptions(o);
    if (tpmProblem) throw err("KILN_QEMU_CONFIG", tpmProblem, "Set vtpm: true, or remove the option.");
    if (o.net_bridge && !o.ssh_host && (o.communicator ?? "ssh") === "ssh")
      throw err(
        "KILN_QEMU_CONFIG",
        "with net_bridge, kiln cannot forward a port: set ssh_host",
        "Set ssh_host to the address the machine gets on the bridge.",
      );
    try {
      parseSize(o.disk_size ?? DEFAULT_DISK_SIZE);
      for (const s of o.disk_additional_size ?? []) parseSize(s);
    } catch (e) {
      throw err("KILN_QEMU_CONFIG", `disk_size: ${messageOf(e)}`);
    }
    dur(o.boot_wait, 0, "boot_wait");
    dur(o.shutdown_timeout, 0, "shutdown_timeout");
    dur(o.boot_key_interval, 0, "boot_key_interval");
    if (o.boot_command?.length) {
      // Syntax errors show before anything starts (expressions are rendered later; they never add <…>).
      parseBootCommand(o.boot_command);
    }
  },

  steps(o, ctx) {
    const format = o.format ?? "qcow2";
    const outDir = resolve(ctx.baseDir, o.output_directory ?? `output-${ctx.run.source}`);
    const vmName = o.vm_name ?? `${ctx.run.source}.${format}`;
    const rs: RunState = {
      outDir,
      tmpOut: join(dirname(outDir), `.${basename(outDir)}.kiln-${randomBytes(4).toString("hex")}`),
      vmName,
      format,
      disks: [],
      diskNames: [],
    };
    const useSsh = (o.communicator ?? "ssh") === "ssh";
    const provision = ctx.provisionStep();
    const steps: Step[] = [
      outputDirStep(o, rs),
      keyStep(o, rs),
      downloadStep(o, rs),
      diskStep(o, rs),
      cdStep(o, rs),
      floppyStep(o, {
        attach: (image) => {
          rs.floppy = image;
        },
      }),
      httpStep(o),
      portStep(o, rs),
      acceleratorStep(o, rs),
      tpmStep(
        o,
        () => o.machine_type ?? (o.efi_boot ? "q35" : "pc"),
        (t) => {
          rs.tpm = t;
        },
      ),
      launchStep(o, rs),
      bootStep(o, rs),
      connectVmStep(o, rs, useSsh),
      provision,
      clearAuthorizedKeysStep(o, { publicKey: () => rs.key?.publicKey }),
      shutdownStep(o, rs),
      compactStep(o, rs),
      finalizeStep(o, rs),
    ];
    return steps.map((s) => (s === provision ? s : withPrefix(s)));
  },

  artifact(o, ctx): Artifact | undefined {
    const r = ctx.state.get<QemuResult>(STATE_RESULT);
    if (!r) return undefined;
    return {
      builderType: "qemu",
      id: r.vmName,
      files: r.files,
      description: `VM files in directory: ${r.outDir}`,
      data: {
        output_directory: r.outDir,
        vm_name: r.vmName,
        format: r.format,
        disk_image: o.disk_image === true,
      },
      async destroy() {
        for (const f of r.files) await rm(f, { force: true });
        await rm(r.outDir, { recursive: true, force: true });
      },
    };
  },
};

/** Errors from shared code (downloads, ISO writing, HTTP, SSH) get the `[qemu] ` prefix too. */
function withPrefix(step: Step): Step {
  return prefixStepErrors(step, {
    prefix: "qemu",
    bugCode: "KILN_QEMU_STEP",
    packageName: "@kiln/builder-qemu",
  });
}

// ---------------------------------------------------------------------------------------------

function outputDirStep(_o: QemuOptions, rs: RunState): Step {
  let created: string | undefined;
  return {
    name: "output directory",
    async run(ctx) {
      if (existsSync(rs.outDir)) {
        if (!ctx.force)
          throw err(
            "KILN_QEMU_OUTPUT_EXISTS",
            `the output directory ${rs.outDir} already exists`,
            "Remove it, set another output_directory, or run kiln build --force to replace it at the end of a successful build.",
          );
        ctx.ui.say(
          `The output directory ${rs.outDir} exists; it will be replaced when the build succeeds (--force).`,
        );
      }
      created = await mkdir(rs.tmpOut, { recursive: true });
    },
    async cleanup() {
      await rm(rs.tmpOut, { recursive: true, force: true });
      // Folders made for a nested output_directory go too when the build did not finish.
      if (created && created !== rs.tmpOut && !existsSync(rs.outDir)) {
        for (let d = dirname(rs.tmpOut); d.startsWith(created); d = dirname(d)) {
          try {
            await rmdir(d);
          } catch {
            break;
          }
        }
      }
    },
  };
}

function keyStep(o: QemuOptions, rs: RunState): Step {
  return temporaryKeyStep(o, (key) => {
    rs.key = key;
  });
}

function downloadStep(o: QemuOptions, rs: RunState): Step {
  return {
    name: "download",
    async run(ctx) {
      const urls = o.iso_urls?.length ? o.iso_urls : [o.iso_url as string];
      const ext = o.disk_image
        ? extname(new URL(urls[0] as string, "file:///").pathname).slice(1) || "img"
        : "iso";
      ctx.ui.say(`Retrieving ${o.disk_image ? "the disk image" : "the ISO"}: ${urls.join(", ")}`);
      const r = await fetchArtifact({
        urls,
        checksum: o.iso_checksum ?? "none",
        baseDir: ctx.baseDir,
        ...(o.iso_target_path ? { targetPath: o.iso_target_path } : {}),
        extension: ext,
        ...(o.iso_skip_cache ? { skipCache: true } : {}),
        signal: ctx.signal,
        onProgress: (done, total, label) => ctx.ui.progress("download", label, done, total),
        onWarning: (m) => ctx.ui.message(m),
      });
      rs.isoPath = r.path;
      ctx.ui.message(`Using ${r.path}${r.fromCache ? " (cached)" : ""}`);
    },
  };
}

async function imageInfo(
  bin: string,
  file: string,
  signal: AbortSignal,
): Promise<{ format: string; size: number }> {
  const { stdout } = await runTool(bin, ["info", "--output=json", file], { signal, what: `read ${file}` });
  const j = JSON.parse(stdout) as { format: string; "virtual-size": number };
  return { format: j.format, size: j["virtual-size"] };
}

function diskStep(o: QemuOptions, rs: RunState): Step {
  return {
    name: "disk",
    async run(ctx) {
      const img = "qemu-img";
      const work = join(rs.tmpOut, `${rs.vmName}.work`);
      const want = parseSize(o.disk_size ?? DEFAULT_DISK_SIZE);
      if (o.disk_image) {
        const src = rs.isoPath as string;
        const info = await imageInfo(img, src, ctx.signal);
        if (o.use_backing_file) {
          ctx.ui.say(`Creating a qcow2 overlay on ${src}`);
          await runTool(
            img,
            ["create", "-f", "qcow2", "-b", src, "-F", info.format, ...(o.qemu_img_args?.create ?? []), work],
            {
              signal: ctx.signal,
              what: "create the overlay disk",
            },
          );
        } else {
          ctx.ui.say(`Copying the disk image into ${rs.format}`);
          await runTool(img, ["convert", "-p", "-O", rs.format, src, work], {
            signal: ctx.signal,
            what: "copy the disk image",
            onStdout: progressParser(ctx, "copy", "Copying disk image"),
          });
        }
        if (!o.skip_resize_disk) {
          if (want > info.size) {
            ctx.ui.say(`Resizing the disk to ${formatBytes(want)}`);
            await runTool(
              img,
              ["resize", "-f", rs.format, ...(o.qemu_img_args?.resize ?? []), work, String(want)],
              {
                signal: ctx.signal,
                what: "resize the disk",
              },
            );
          } else if (want < info.size && o.disk_size !== undefined) {
            ctx.ui.message(
              `disk_size ${formatBytes(want)} is smaller than the image (${formatBytes(info.size)}); keeping the image's size.`,
            );
          }
        }
      } else {
        ctx.ui.say(`Creating a ${formatBytes(want)} ${rs.format} disk`);
        await runTool(
          img,
          ["create", "-f", rs.format, ...(o.qemu_img_args?.create ?? []), work, String(want)],
          {
            signal: ctx.signal,
            what: "create the disk",
          },
        );
      }
      rs.disks.push({ path: work, format: rs.format });
      rs.diskNames.push(rs.vmName);
      for (const [i, s] of (o.disk_additional_size ?? []).entries()) {
        const p = join(rs.tmpOut, `${rs.vmName}-${i + 1}.work`);
        await runTool(
          img,
          ["create", "-f", rs.format, ...(o.qemu_img_args?.create ?? []), p, String(parseSize(s))],
          {
            signal: ctx.signal,
            what: "create an additional disk",
          },
        );
        rs.disks.push({ path: p, format: rs.format });
        rs.diskNames.push(`${rs.vmName}-${i + 1}`);
      }
      if (o.efi_boot) {
        const fw = findOvmf(o.efi_firmware_code, o.efi_firmware_vars);
        if (!fw)
          throw err(
            "KILN_QEMU_EFI",
            "efi_boot is set but no OVMF firmware was found",
            "Install it (Debian/Ubuntu: apt-get install ovmf), or set efi_firmware_code and efi_firmware_vars.",
          );
        const vars = join(rs.tmpOut, "efivars.fd");
        await copyFile(fw.vars, vars);
        rs.efi = { code: fw.code, vars };
      }
    },
  };
}

function progressParser(ctx: RunContext, id: string, label: string): (chunk: string) => void {
  return (chunk) => {
    const m = /\((\d+(?:\.\d+)?)\/100%\)/g;
    let last: RegExpExecArray | null = null;
    for (let x = m.exec(chunk); x; x = m.exec(chunk)) last = x;
    if (last) ctx.ui.progress(id, label, Number(last[1]), 100);
  };
}

function cdStep(o: QemuOptions, rs: RunState): Step {
  return {
    name: "cd",
    async run(ctx) {
      if (!o.cd_files?.length && !o.cd_content) return;
      const content = o.cd_content ? ctx.render(o.cd_content) : undefined;
      const dir = await ctx.tempDir("kiln-qemu-cd-");
      ctx.ui.say(`Creating a CD${o.cd_label ? ` labelled ${o.cd_label}` : ""}`);
      const r = await makeIso({
        ...(o.cd_files ? { files: o.cd_files } : {}),
        ...(content ? { content } : {}),
        ...(o.cd_label ? { label: o.cd_label } : {}),
        output: join(dir, "cd.iso"),
        baseDir: ctx.baseDir,
        signal: ctx.signal,
      });
      ctx.ui.message(`CD with ${r.files.length} file(s): ${r.files.join(", ")}`);
      rs.cdIso = r.output;
    },
  };
}

function httpStep(o: QemuOptions): Step {
  // On user networking the guest reaches the host at 10.0.2.2; on a bridge, at the host's own address.
  return httpServerStep(o, {
    guestIp: (h) => o.http_host ?? (o.net_bridge ? h.ip : "10.0.2.2"),
  });
}

const VNC_PORT_MIN = 5900;
const VNC_PORT_MAX = 6000;

/**
 * Whether QEMU gets a VNC server: to type the boot command through (boot_command_method: vnc),
 * or, when any other vnc_* option asks for one, to watch the guest.
 */
export function wantsVncServer(o: QemuOptions): boolean {
  return (
    o.boot_command_method === "vnc" ||
    o.vnc_use_password === true ||
    o.vnc_bind_address !== undefined ||
    o.vnc_port_min !== undefined ||
    o.vnc_port_max !== undefined
  );
}

/** Exported for tests. */
export function portStep(o: QemuOptions, rs: Pick<RunState, "hostPort" | "vnc" | "vncAddress">): Step {
  return {
    name: "host port",
    async run(ctx) {
      if (!o.net_bridge && !o.skip_nat_mapping && (o.communicator ?? "ssh") === "ssh") {
        const min = o.host_port_min ?? 2222;
        const max = o.host_port_max ?? 4444;
        const port = await findFreePort(min, max);
        if (port === undefined)
          throw err(
            "KILN_QEMU_PORT",
            `no free TCP port in ${min}–${max} on 127.0.0.1 for SSH`,
            "Widen host_port_min/host_port_max.",
          );
        rs.hostPort = port;
        ctx.ui.message(`Forwarding 127.0.0.1:${port} to the guest's port ${o.ssh_port ?? 22}`);
      }
      if (wantsVncServer(o)) {
        const bind = (o.vnc_bind_address ?? "127.0.0.1").replace(/^\[(.*)\]$/, "$1");
        const min = o.vnc_port_min ?? VNC_PORT_MIN;
        const max = o.vnc_port_max ?? VNC_PORT_MAX;
        const port = await findFreePort(min, max, bind);
        if (port === undefined)
          throw err(
            "KILN_QEMU_PORT",
            `no free VNC port in ${min}–${max} on ${bind}`,
            "Widen vnc_port_min/vnc_port_max.",
          );
        const password = o.vnc_use_password ? randomBytes(6).toString("base64url") : undefined; // VNC's limit: 8
        if (password) ctx.secret(password);
        // QEMU takes an IPv6 address in brackets, and a display number (port − 5900).
        const qemuBind = bind.includes(":") ? `[${bind}]` : bind;
        rs.vnc = `${qemuBind}:${port - 5900}${password ? ",password=on" : ""}`;
        const host = bind === "0.0.0.0" || bind === "::" ? "127.0.0.1" : bind;
        rs.vncAddress = { host, port, ...(password ? { password } : {}) };
        ctx.ui.say(
          `VNC: vnc://${qemuBind}:${port}${password ? " (with a random password)" : ""}${
            o.boot_command_method === "vnc"
              ? ""
              : ", to watch the guest; the boot command is still typed through QMP (boot_command_method: vnc types it over VNC)"
          }`,
        );
      }
    },
  };
}

function acceleratorStep(o: QemuOptions, rs: RunState): Step {
  return {
    name: "accelerator",
    async run(ctx) {
      const want = o.accelerator ?? "auto";
      if (want !== "auto") {
        rs.accel = want;
        return;
      }
      const r = await probeKvm(o.qemu_binary ?? "qemu-system-x86_64");
      rs.accel = r.usable ? "kvm" : "tcg";
      ctx.ui.say(
        r.usable
          ? `Accelerator: kvm (${r.reason})`
          : `Accelerator: tcg — KVM is not usable: ${r.reason}. Builds are much slower; set accelerator: tcg to skip this check.`,
      );
    },
  };
}

function launchStep(o: QemuOptions, rs: RunState): Step {
  return {
    name: "start vm",
    async run(ctx) {
      const bin = o.qemu_binary ?? "qemu-system-x86_64";
      const tmp = await ctx.tempDir("kiln-qemu-");
      // A -serial file:… of the user's (qemuargs replaces kiln's) is where the console goes then.
      const userSerial = o.qemuargs
        ?.filter((a) => a[0] === "-serial")
        .map((a) => /^file:(.+)$/.exec(a[1] ?? "")?.[1])
        .find((f) => f !== undefined);
      const serialLog = userSerial ? resolve(ctx.baseDir, userSerial) : join(tmp, "serial.log");
      const qmpSocket = o.qmp_socket_path ? resolve(ctx.baseDir, o.qmp_socket_path) : join(tmp, "qmp.sock");
      const machine = o.machine_type ?? (o.efi_boot ? "q35" : "pc");
      for (let attempt = 0; ; attempt++) {
        const config: VmConfig = {
          name: rs.vmName,
          machineType: machine,
          accel: rs.accel ?? "tcg",
          memoryMiB: o.memory ?? 512,
          cpus: o.cpus ?? 1,
          ...(o.sockets ? { sockets: o.sockets } : {}),
          ...(o.cores ? { cores: o.cores } : {}),
          ...(o.threads ? { threads: o.threads } : {}),
          ...(o.cpu_model ? { cpuModel: o.cpu_model } : {}),
          disks: rs.disks,
          diskInterface: o.disk_interface ?? "virtio",
          diskCache: o.disk_cache ?? "writeback",
          diskDiscard: o.disk_discard ?? "ignore",
          diskDetectZeroes: o.disk_detect_zeroes ?? "off",
          ...(!o.disk_image && rs.isoPath ? { installIso: rs.isoPath } : {}),
          ...(rs.cdIso ? { cdIso: rs.cdIso } : {}),
          ...(rs.floppy ? { floppy: rs.floppy } : {}),
          ...(rs.tpm ? { tpm: rs.tpm } : {}),
          bootFromCd: !o.disk_image,
          net: o.net_bridge
            ? { kind: "bridge", bridge: o.net_bridge }
            : {
                kind: "user",
                ...(rs.hostPort ? { hostPort: rs.hostPort } : {}),
                guestPort: o.ssh_port ?? 22,
              },
          netDevice: o.net_device ?? "virtio-net",
          qmpSocket,
          serialLog,
          display: o.display ?? "none",
          ...(rs.vnc ? { vnc: rs.vnc } : {}),
          ...(o.firmware ? { firmware: resolve(ctx.baseDir, o.firmware) } : {}),
          ...(rs.efi ? { efi: rs.efi } : {}),
        };
        const args = flattenArgs(mergeQemuArgs(defaultArgs(config), o.qemuargs));
        const command = formatCommand(bin, args);
        ctx.ui.say(`Starting QEMU (${config.accel})...`);
        ctx.ui.message(command);
        await rm(qmpSocket, { force: true });
        const proc = startQemu(bin, args, ctx.baseDir); // relative paths in qemuargs: from the build file's folder
        let qmp: QmpClient;
        try {
          const exited = proc.exited.then(() => {
            throw new VmExitedError(null, null);
          });
          qmp = await Promise.race([
            QmpClient.connect(qmpSocket, { timeout: 20_000, signal: ctx.signal }),
            exited,
          ]);
        } catch (e) {
          proc.child.kill("SIGKILL");
          await waitExit(proc, 5000);
          if (ctx.signal.aborted) throw ctx.signal.reason;
          const stderr = proc.stderr().trim();
          if (
            /host forwarding|Could not set up host forwarding/i.test(stderr) &&
            rs.hostPort &&
            attempt < 3
          ) {
            const p = await findFreePort(
              o.host_port_min ?? 2222,
              o.host_port_max ?? 4444,
              "127.0.0.1",
              new Set([rs.hostPort]),
            );
            if (p !== undefined) {
              ctx.ui.message(`Port ${rs.hostPort} was taken meanwhile; trying ${p}`);
              rs.hostPort = p;
              continue;
            }
          }
          throw err(
            "KILN_QEMU_START",
            `QEMU did not start: ${stderr ? stderr.split("\n").slice(-4).join(" / ") : messageOf(e)}`,
            `Check the options (and qemuargs) against the command line:\n  ${command}`,
            e,
          );
        }
        qmp.on("error", () => {});
        rs.vm = { proc, qmp, serialLog, command };
        ctx.ui.say(`QEMU is running (pid ${proc.pid}); serial console: ${serialLog}`);
        return;
      }
    },
    async cleanup(ctx) {
      const vm = rs.vm;
      if (!vm) return;
      if (vm.proc.running) {
        ctx.ui.say("Stopping the VM...");
        if (!vm.qmp.closed) await vm.qmp.systemPowerdown().catch(() => {});
        if (!(await waitExit(vm.proc, 3000))) {
          if (!vm.qmp.closed) await vm.qmp.quit().catch(() => {});
          if (!(await waitExit(vm.proc, 2000))) {
            vm.proc.child.kill("SIGKILL");
            await waitExit(vm.proc, 5000);
          }
        }
      }
      vm.qmp.destroy();
    },
  };
}

function bootStep(o: QemuOptions, rs: RunState): Step {
  return {
    name: "boot",
    async run(ctx) {
      const groups: Array<{ command: string[]; description?: string }> = o.boot_steps?.length
        ? o.boot_steps.map((s) => ({ command: [s[0] ?? ""], ...(s[1] ? { description: s[1] } : {}) }))
        : o.boot_command?.length
          ? [{ command: o.boot_command }]
          : [];
      const wait = dur(o.boot_wait, 10_000, "boot_wait");
      const vm = rs.vm as Vm;
      const guard = untilVmExits(ctx.signal, vm);
      let vnc: VncClient | undefined;
      try {
        if (rs.vncAddress?.password) {
          // QEMU's -vnc …,password=on lets nobody in until a password is set.
          await vm.qmp.execute("set_password", { protocol: "vnc", password: rs.vncAddress.password });
        }
        if (groups.length === 0) return;
        if (wait > 0) {
          ctx.ui.say(`Waiting ${o.boot_wait ?? "10s"} for boot...`);
          await abortableSleep(wait, guard.signal);
        }
        const keyInterval = o.boot_key_interval
          ? dur(o.boot_key_interval, 0, "boot_key_interval")
          : undefined;
        if (o.boot_command_method === "vnc" && rs.vncAddress) {
          const { host, port, password } = rs.vncAddress;
          vnc = await VncClient.connect({
            host,
            port,
            ...(password ? { password } : {}),
            timeout: 20_000,
            signal: guard.signal,
          });
          ctx.ui.message(`Typing through VNC (RFB ${vnc.version}, ${host}:${port})`);
        }
        const driver = vnc
          ? createVncKeyDriver(vnc, { signal: guard.signal })
          : createQmpKeyDriver(vm.qmp, { signal: guard.signal });
        let totalKeys = 0;
        let typingMs = 0;
        for (const g of groups) {
          const actions = parseBootCommand(ctx.render(g.command));
          const { keys, waitMs } = countKeys(actions);
          ctx.ui.say(
            g.description
              ? `Typing boot command: ${g.description}`
              : `Typing the boot command (${keys} keys)...`,
          );
          const t0 = Date.now();
          let lastShown = 0;
          await typeBootCommand(actions, driver, {
            signal: guard.signal,
            ...(keyInterval !== undefined ? { keyInterval } : {}),
            onProgress: (p) => {
              const now = Date.now();
              if (now - lastShown > 500 || p.done === p.total) {
                lastShown = now;
                ctx.ui.progress("boot-command", "Typing boot command", p.done, p.total);
              }
            },
          });
          totalKeys += keys;
          typingMs += Math.max(1, Date.now() - t0 - waitMs);
        }
        const rate = totalKeys / (typingMs / 1000);
        ctx.ui.say(
          `Typed ${totalKeys} keys in ${(typingMs / 1000).toFixed(1)}s (${rate.toFixed(1)} keys/s)${vnc ? " over VNC" : ""}.`,
        );
      } catch (e) {
        if (ctx.signal.aborted) throw e;
        const exited = guard.signal.reason instanceof VmExitedError ? guard.signal.reason : undefined;
        const report = await failureReport(ctx, vm);
        throw err(
          exited ? "KILN_QEMU_EXITED" : "KILN_QEMU_BOOT_COMMAND",
          exited
            ? `QEMU exited while typing the boot command (${exited.message}): ${vm.proc.stderr().trim().split("\n").slice(-3).join(" / ")}`
            : `typing the boot command failed: ${messageOf(e)}${report.png ? ` (screenshot: ${report.png})` : ""}`,
          diagnosisHint(
            isKilnError(e) && e.code === "KILN_BOOT_COMMAND"
              ? "Fix the boot_command syntax (keys in <…>, waits as <wait5>)."
              : "Look at the screenshot to see where the machine was.",
            report,
            vm,
          ),
          e,
        );
      } finally {
        guard.dispose();
        await vnc?.close();
      }
    },
  };
}

function connectVmStep(o: QemuOptions, rs: RunState, useSsh: boolean): Step {
  const inner = connectStep(o, {
    host: () => (rs.hostPort ? { host: "127.0.0.1", port: rs.hostPort } : undefined),
    privateKey: () => rs.key?.privateKey,
    // The forwarded port is local: trying every second costs nothing and sees SSH up to 4 s sooner.
    ...(o.net_bridge ? {} : { retry: { initialMs: 250, maxMs: 1000 } }),
  });
  return {
    name: "connect",
    async run(ctx) {
      const vm = rs.vm as Vm;
      const guard = untilVmExits(ctx.signal, vm);
      try {
        await inner.run({ ...ctx, signal: guard.signal });
        if (useSsh && rs.key) ctx.buildVars.SSHPublicKey = rs.key.publicKey;
      } catch (e) {
        if (ctx.signal.aborted && !(ctx.signal.reason instanceof StepTimeoutError)) throw e;
        const exited = guard.signal.reason instanceof VmExitedError ? guard.signal.reason : undefined;
        const report = await failureReport(ctx, vm);
        const where = rs.hostPort
          ? `127.0.0.1:${rs.hostPort} (forwarded to the guest's port ${o.ssh_port ?? 22})`
          : `${o.ssh_host}:${o.ssh_port ?? 22}`;
        if (exited) {
          throw err(
            "KILN_QEMU_EXITED",
            `QEMU exited while waiting for SSH on ${where} (${exited.message})`,
            diagnosisHint("The guest powered off or crashed before SSH came up.", report, vm),
            e,
          );
        }
        throw err(
          "KILN_QEMU_SSH_TIMEOUT",
          `SSH on ${where} did not become available: ${messageOf(e)}${report.png ? `. Screenshot saved to ${report.png}` : ""}`,
          diagnosisHint(
            "Check that boot_command really starts the installation (see the screenshot), that the guest gets its config, " +
              "that it runs an SSH server on ssh_port and accepts ssh_username with the given password or key; raise ssh_timeout if it is just slow.",
            report,
            vm,
          ),
          e,
        );
      } finally {
        guard.dispose();
      }
    },
    cleanup: (ctx) => inner.cleanup?.(ctx) ?? Promise.resolve(),
  };
}

function shutdownStep(o: QemuOptions, rs: RunState): Step {
  return {
    name: "shutdown",
    async run(ctx) {
      const vm = rs.vm as Vm;
      const timeout = dur(o.shutdown_timeout, 5 * 60_000, "shutdown_timeout");
      let how: string;
      const comm = ctx.state.get<Communicator>("communicator");
      if (o.shutdown_command && comm && (o.communicator ?? "ssh") !== "none") {
        how = `shutdown_command (${o.shutdown_command})`;
        ctx.ui.say(`Running the shutdown command: ${o.shutdown_command}`);
        const r = await comm
          .exec(o.shutdown_command, {
            expectDisconnect: true,
            signal: ctx.signal,
            onStdout: (c) => ctx.ui.output("stdout", c),
            onStderr: (c) => ctx.ui.output("stderr", c),
          })
          .catch((e: unknown) => {
            // The machine may drop the connection at any moment once it powers off.
            ctx.ui.message(`shutdown command: ${messageOf(e)}`);
            return undefined;
          });
        if (r && r.exitCode !== null && r.exitCode !== 0 && !r.disconnected)
          ctx.ui.error(
            `The shutdown command exited with ${r.exitCode}; waiting for the machine to stop anyway.`,
          );
      } else if ((o.communicator ?? "ssh") === "none") {
        // As Packer: without a communicator the machine is expected to power off by itself
        // (the end of an unattended install, or a seed's `runcmd: [poweroff]`).
        how = "the build had nothing more to do (communicator: none)";
        ctx.ui.say("Waiting for the machine to power off by itself (communicator: none)...");
      } else {
        how = "an ACPI power-button press";
        ctx.ui.say("Shutting down with an ACPI power-button press (QMP system_powerdown)...");
        await vm.qmp.systemPowerdown();
      }
      ctx.ui.message(`Waiting up to ${o.shutdown_timeout ?? "5m"} for the machine to stop...`);
      const stopped = await waitExit(vm.proc, timeout, ctx.signal);
      if (!stopped) {
        const report = await failureReport(ctx, vm);
        throw err(
          "KILN_QEMU_SHUTDOWN_TIMEOUT",
          `the machine did not stop within ${o.shutdown_timeout ?? "5m"} after ${how}`,
          diagnosisHint(
            (o.communicator ?? "ssh") === "none" && !o.shutdown_command
              ? "With communicator: none the machine must power off by itself (e.g. the installer's last step, or runcmd: [poweroff] in a cloud-init seed); or raise shutdown_timeout."
              : o.shutdown_command
                ? "Check that shutdown_command powers the machine off (e.g. `sudo shutdown -P now`), or raise shutdown_timeout."
                : "The guest ignores the ACPI power button (install acpid, or systemd-logind handles it); set shutdown_command instead, or raise shutdown_timeout.",
            report,
            vm,
          ),
        );
      }
      ctx.ui.say("The machine has stopped.");
    },
  };
}

function compactStep(o: QemuOptions, rs: RunState): Step {
  return {
    name: "compact",
    async run(ctx) {
      for (const [i, d] of rs.disks.entries()) {
        const final = join(rs.tmpOut, rs.diskNames[i] as string);
        if (o.skip_compaction || o.use_backing_file) {
          await rename(d.path, final);
          continue;
        }
        ctx.ui.say(
          `Compacting the disk into ${rs.diskNames[i]}${o.disk_compression && rs.format === "qcow2" ? " (compressed)" : ""}...`,
        );
        const before = (await stat(d.path)).size;
        await runTool(
          "qemu-img",
          [
            "convert",
            "-p",
            "-O",
            rs.format,
            ...(o.disk_compression && rs.format === "qcow2" ? ["-c"] : []),
            ...(o.qemu_img_args?.convert ?? []),
            d.path,
            final,
          ],
          {
            signal: ctx.signal,
            what: "compact the disk",
            onStdout: progressParser(ctx, `compact-${i}`, "Compacting disk"),
          },
        );
        await rm(d.path, { force: true });
        ctx.ui.message(`${formatBytes(before)} → ${formatBytes((await stat(final)).size)}`);
      }
      if (rs.efi && o.efi_drop_efivars) await rm(rs.efi.vars, { force: true });
    },
  };
}

function finalizeStep(_o: QemuOptions, rs: RunState): Step {
  return {
    name: "finish output",
    async run(ctx) {
      if (existsSync(rs.outDir)) {
        if (!ctx.force)
          throw err(
            "KILN_QEMU_OUTPUT_EXISTS",
            `the output directory ${rs.outDir} appeared during the build`,
            "Remove it, or run with --force to replace it.",
          );
        ctx.ui.say(`Replacing ${rs.outDir} (--force)`);
        await rm(rs.outDir, { recursive: true, force: true });
      }
      await rename(rs.tmpOut, rs.outDir);
      const files = rs.diskNames.map((n) => join(rs.outDir, n));
      if (rs.efi && existsSync(join(rs.outDir, "efivars.fd"))) files.push(join(rs.outDir, "efivars.fd"));
      const result: QemuResult = { outDir: rs.outDir, files, vmName: rs.vmName, format: rs.format };
      ctx.state.put(STATE_RESULT, result);
      ctx.ui.say(`The image is in ${rs.outDir}`);
    },
  };
}
