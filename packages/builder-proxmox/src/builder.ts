/**
 * The proxmox-iso and proxmox-clone builders' run time, after Packer's proxmox builders:
 *
 *   API login → temporary SSH key → ISOs (uploaded, downloaded by PVE, or generated) → HTTP
 *   server → VM created (or cloned) → started → boot command (sendkey) → guest address from the
 *   QEMU guest agent → SSH → provisioners → shutdown → CD-ROMs removed, cloud-init drive added →
 *   template.
 *
 * Everything made on the Proxmox host is removed by the step's cleanup when the build does not
 * finish (failure, Ctrl-C): the VM is stopped and destroyed with its disks, uploaded and generated
 * ISOs are deleted, and tasks still running are waited for first, so nothing is left behind.
 */
import { randomBytes } from "node:crypto";
import { readFile, stat } from "node:fs/promises";
import { networkInterfaces } from "node:os";
import { basename, join, resolve } from "node:path";
import {
  type Artifact,
  type BuilderRuntime,
  type BuildStepsContext,
  KilnError,
  parseDuration,
  type RunContext,
  type Step,
} from "@kiln/core";
import {
  abortableSleep,
  type BootAction,
  clearAuthorizedKeysStep,
  connectStep,
  createSendkeyDriver,
  fetchArtifact,
  httpServerStep,
  makeIso,
  parseBootCommand,
  prefixStepErrors,
  publicKeyOf,
  resolveChecksum,
  type TemporaryKeyPair,
  temporaryKeyStep,
  typeBootCommand,
} from "@kiln/sdk";
import { type Params, PveApiError, PveClient } from "./client.js";
import type {
  CloneBuilderOptions,
  CommonOptions,
  DiskOptions,
  IsoBuilderOptions,
  IsoOptions,
  NetworkOptions,
} from "./options.js";

const STATE_RESULT = "proxmox.result";

export interface ProxmoxResult {
  vmid: number;
  node: string;
  name: string;
  template: boolean;
}

/** What the steps of one run share. */
interface RunState {
  type: "proxmox-iso" | "proxmox-clone";
  client?: PveClient;
  node: string;
  taskTimeout: number;
  key?: TemporaryKeyPair;
  vmid?: number;
  /** A create/clone request for `vmid` was sent: cleanup must look whether the VM is there. */
  created: boolean;
  /** The create/clone task finished: the VM is this build's for sure. */
  owned: boolean;
  /** Marks the VM this build made (in its description) until it is finished, so that cleanup
   * never destroys another build's VM that got the same ID. */
  nonce: string;
  finished: boolean;
  /** CD-ROM drives: the volume, where it goes (slot, assigned when the VM is made), what to do after. */
  cdroms: Array<{
    slot?: string;
    bus: "ide" | "sata" | "scsi";
    index?: number;
    boot: boolean;
    volid: string;
    unmount: boolean;
    keepDevice: boolean;
    generated: boolean;
  }>;
  /** Volumes kiln put on the storage; deleted on failure (generated ones also on success). */
  uploaded: Array<{ volid: string; deleteOnSuccess: boolean }>;
  guestIp?: string;
  /** cloud-init settings kiln set on a clone for the build only; removed before the template is made. */
  buildOnlyConfig: string[];
}

function err(code: string, message: string, hint?: string, cause?: unknown): KilnError {
  return new KilnError(code, `[proxmox] ${message}`, {
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
    throw err("KILN_PROXMOX_CONFIG", `${name}: ${messageOf(e)}`, 'Write a duration such as "30s" or "5m".');
  }
}

interface Credentials {
  url: string;
  username: string;
  password?: string;
  token?: string;
}

/** Options, then PROXMOX_* environment variables (as Packer). */
export function credentials(o: CommonOptions, env: NodeJS.ProcessEnv = process.env): Credentials {
  const url = o.proxmox_url ?? env.PROXMOX_URL;
  const username = o.username ?? env.PROXMOX_USERNAME;
  const password = o.password ?? env.PROXMOX_PASSWORD;
  const token = o.token ?? env.PROXMOX_TOKEN;
  if (!url)
    throw err(
      "KILN_PROXMOX_CONFIG",
      "proxmox_url is required",
      "Set proxmox_url (https://<host>:8006/api2/json) or the PROXMOX_URL environment variable.",
    );
  if (!username)
    throw err(
      "KILN_PROXMOX_CONFIG",
      "username is required",
      "Set username (e.g. root@pam, or kiln@pve!build for an API token) or PROXMOX_USERNAME.",
    );
  if (!password && !token)
    throw err(
      "KILN_PROXMOX_CONFIG",
      "a password or an API token is required",
      "Set token (the API token's secret, with username user@realm!tokenid) or password; or PROXMOX_TOKEN / PROXMOX_PASSWORD.",
    );
  if (token && !username.includes("!"))
    throw err(
      "KILN_PROXMOX_CONFIG",
      `with token, username must name the token as user@realm!tokenid, not ${JSON.stringify(username)}`,
      "Write username as e.g. kiln@pve!build — the token id after the !.",
    );
  if (!token && username.includes("!"))
    throw err(
      "KILN_PROXMOX_CONFIG",
      `username ${JSON.stringify(username)} names an API token but no token secret is set`,
      "Set token (or PROXMOX_TOKEN) to the token's secret.",
    );
  if (!/^[^@!\s]+@[^@!\s]+(![A-Za-z][A-Za-z0-9._-]*)?$/.test(username))
    throw err(
      "KILN_PROXMOX_CONFIG",
      `username ${JSON.stringify(username)} has no realm`,
      "Write it as user@realm, e.g. root@pam or kiln@pve.",
    );
  return { url, username, ...(token ? { token } : password ? { password } : {}) };
}

/** The boot ISO of proxmox-iso: boot_iso, or Packer's older top-level names. */
export function bootIso(o: IsoBuilderOptions): IsoOptions {
  const legacy: IsoOptions = {
    ...(o.iso_file !== undefined ? { iso_file: o.iso_file } : {}),
    ...(o.iso_url !== undefined ? { iso_url: o.iso_url } : {}),
    ...(o.iso_urls !== undefined ? { iso_urls: o.iso_urls } : {}),
    ...(o.iso_checksum !== undefined ? { iso_checksum: o.iso_checksum } : {}),
    ...(o.iso_storage_pool !== undefined ? { iso_storage_pool: o.iso_storage_pool } : {}),
    ...(o.iso_download_pve !== undefined ? { iso_download_pve: o.iso_download_pve } : {}),
    ...(o.unmount_iso !== undefined ? { unmount: o.unmount_iso } : {}),
  };
  if (o.boot_iso && Object.keys(legacy).length)
    throw err(
      "KILN_PROXMOX_CONFIG",
      `boot_iso and the top-level ${Object.keys(legacy).join(", ")} are both set`,
      "Move them into boot_iso (the top-level names are Packer's deprecated ones).",
    );
  return o.boot_iso ?? legacy;
}

const BUS_MAX: Record<string, number> = { ide: 3, sata: 5, scsi: 30, virtio: 15 };

function checkIso(iso: IsoOptions, where: string, required: boolean): void {
  if (iso.index !== undefined && iso.index > (BUS_MAX[iso.type ?? "ide"] as number))
    throw err(
      "KILN_PROXMOX_CONFIG",
      `${where}: ${iso.type ?? "ide"}${iso.index} does not exist`,
      `${iso.type ?? "ide"} drives are numbered 0–${BUS_MAX[iso.type ?? "ide"]}.`,
    );
  const sources = [
    iso.iso_file ? "iso_file" : undefined,
    iso.iso_url || iso.iso_urls?.length ? "iso_url" : undefined,
    iso.cd_files?.length || iso.cd_content ? "cd_files/cd_content" : undefined,
  ].filter(Boolean);
  if (sources.length > 1)
    throw err(
      "KILN_PROXMOX_CONFIG",
      `${where}: set only one of iso_file, iso_url and cd_files/cd_content (found ${sources.join(", ")})`,
      "iso_file names an ISO already on Proxmox storage; iso_url is uploaded by kiln (or downloaded by Proxmox with iso_download_pve); cd_files/cd_content build a new ISO.",
    );
  if (sources.length === 0 && required)
    throw err(
      "KILN_PROXMOX_CONFIG",
      `${where}: an ISO is required`,
      "Set boot_iso.iso_file (an ISO on Proxmox storage, e.g. local:iso/debian.iso) or boot_iso.iso_url with iso_checksum.",
    );
  if ((iso.iso_url || iso.iso_urls?.length) && !iso.iso_checksum)
    throw err(
      "KILN_PROXMOX_CONFIG",
      `${where}: iso_checksum is required with iso_url`,
      'Set iso_checksum to "sha256:<hash>", "file:<url of a SHA256SUMS file>", or "none" to skip the check.',
    );
  if (iso.iso_file && !/^[^:\s]+:(iso\/)?[^\s]+$/.test(iso.iso_file))
    throw err(
      "KILN_PROXMOX_CONFIG",
      `${where}: iso_file ${JSON.stringify(iso.iso_file)} is not a Proxmox volume`,
      "Write it as <storage>:iso/<file>.iso, e.g. local:iso/debian-12.iso.",
    );
  if (iso.iso_download_pve && !(iso.iso_url || iso.iso_urls?.length))
    throw err("KILN_PROXMOX_CONFIG", `${where}: iso_download_pve needs iso_url`);
}

function commonPrepare(o: CommonOptions, ctx: RunContext): void {
  const c = credentials(o);
  if (c.password) ctx.secret(c.password);
  if (c.token) ctx.secret(c.token);
  dur(o.task_timeout, 0, "task_timeout");
  dur(o.boot_wait, 0, "boot_wait");
  dur(o.boot_key_interval, 0, "boot_key_interval");
  dur(o.shutdown_timeout, 0, "shutdown_timeout");
  if (o.boot_command?.length) parseBootCommand(o.boot_command);
  for (const [i, iso] of (o.additional_iso_files ?? []).entries())
    checkIso(iso, `additional_iso_files[${i}]`, true);
  if (o.bios === "ovmf" && !o.efi_config)
    throw err(
      "KILN_PROXMOX_CONFIG",
      "bios: ovmf needs efi_config (the EFI vars disk)",
      "Add efi_config: { efi_storage_pool: local-lvm } (or your storage).",
    );
  if (o.http_interface && o.http_bind_address && o.http_bind_address !== "0.0.0.0")
    throw err(
      "KILN_PROXMOX_CONFIG",
      "set only one of http_interface and http_bind_address",
      "http_interface picks the address the guest reaches kiln's HTTP server at; http_bind_address binds the server to one.",
    );
  if (o.http_interface && !interfaceAddress(o.http_interface))
    throw err(
      "KILN_PROXMOX_CONFIG",
      `http_interface ${JSON.stringify(o.http_interface)} is not an interface of this machine with an IPv4 address`,
      `Interfaces here: ${Object.keys(networkInterfaces()).join(", ")}.`,
    );
}

function interfaceAddress(name: string): string | undefined {
  return networkInterfaces()[name]?.find((a) => a.family === "IPv4")?.address;
}

// ---------------------------------------------------------------------------------------------

function makeState(type: RunState["type"], o: CommonOptions): RunState {
  return {
    type,
    node: o.node,
    taskTimeout: dur(o.task_timeout, 60_000, "task_timeout"),
    created: false,
    owned: false,
    nonce: randomBytes(6).toString("hex"),
    finished: false,
    cdroms: [],
    uploaded: [],
    buildOnlyConfig: [],
  };
}

function api(rs: RunState): PveClient {
  if (!rs.client) throw new Error("the Proxmox API client is not connected");
  return rs.client;
}

const vmPath = (rs: RunState, sub = "") =>
  `/nodes/${encodeURIComponent(rs.node)}/qemu/${rs.vmid}${sub ? `/${sub}` : ""}`;

function commonSteps(
  type: RunState["type"],
  o: CommonOptions,
  rs: RunState,
  ctx: BuildStepsContext,
  vmSteps: Step[],
): Step[] {
  const provision = ctx.provisionStep();
  const steps: Step[] = [
    connectApiStep(o, rs),
    temporaryKeyStep(o, (key) => {
      rs.key = key;
    }),
    ...vmSteps.slice(0, 1), // ISO preparation (iso) or nothing (clone)
    httpStep(o),
    ...vmSteps.slice(1),
    startStep(rs),
    bootStep(o, rs),
    addressStep(o, rs),
    connectStep(o, {
      host: () => (rs.guestIp ? { host: rs.guestIp, port: o.ssh_port ?? 22 } : undefined),
      privateKey: () => rs.key?.privateKey,
    }),
    provision,
    clearAuthorizedKeysStep(o, { publicKey: () => rs.key?.publicKey }),
    shutdownStep(o, rs),
    finalizeStep(o, rs),
  ];
  return steps.map((s) => (s === provision ? s : withPrefix(type, s)));
}

export const proxmoxIsoBuilder: BuilderRuntime<IsoBuilderOptions> = {
  prepare(o, ctx) {
    commonPrepare(o, ctx);
    checkIso(bootIso(o), "boot_iso", true);
    if (!o.disks?.length)
      throw err(
        "KILN_PROXMOX_CONFIG",
        "proxmox-iso needs at least one disk to install to",
        "Add disks: [{ type: scsi, storage_pool: local-lvm, disk_size: 20G }].",
      );
  },
  steps(o, ctx) {
    const rs = makeState("proxmox-iso", o);
    return commonSteps("proxmox-iso", o, rs, ctx, [isoStep(o, rs), createStep(o, rs)]);
  },
  artifact: (o, ctx) => artifactOf("proxmox-iso", o, ctx),
};

export const proxmoxCloneBuilder: BuilderRuntime<CloneBuilderOptions> = {
  prepare(o, ctx) {
    commonPrepare(o, ctx);
    if ((o.clone_vm === undefined) === (o.clone_vm_id === undefined))
      throw err(
        "KILN_PROXMOX_CONFIG",
        o.clone_vm === undefined ? "set clone_vm or clone_vm_id" : "set only one of clone_vm and clone_vm_id",
        "clone_vm is the name of the VM or template to clone, clone_vm_id its ID.",
      );
  },
  steps(o, ctx) {
    const rs = makeState("proxmox-clone", o);
    return commonSteps("proxmox-clone", o, rs, ctx, [isoStep(o, rs), cloneStep(o, rs)]);
  },
  artifact: (o, ctx) => artifactOf("proxmox-clone", o, ctx),
};

async function artifactOf(type: string, o: CommonOptions, ctx: RunContext): Promise<Artifact | undefined> {
  const r = ctx.state.get<ProxmoxResult>(STATE_RESULT);
  if (!r) return undefined;
  return {
    builderType: type,
    id: String(r.vmid),
    files: [],
    description: r.template ? `A template was created: ${r.vmid}` : `A VM was created: ${r.vmid}`,
    data: { vm_id: r.vmid, node: r.node, name: r.name, template: r.template },
    async destroy() {
      const client = await openClient(o, ctx);
      try {
        await client.connect();
        const path = `/nodes/${encodeURIComponent(r.node)}/qemu/${r.vmid}`;
        await client.task(
          "DELETE",
          r.node,
          path,
          { purge: true },
          { timeoutMs: 5 * 60_000, what: `deleting VM ${r.vmid}` },
        );
      } finally {
        client.close();
      }
    },
  };
}

/** Errors from shared code (downloads, ISO writing, HTTP, SSH) get the `[proxmox-…] ` prefix. */
function withPrefix(type: string, step: Step): Step {
  return prefixStepErrors(step, {
    prefix: type,
    bugCode: "KILN_PROXMOX_STEP",
    packageName: "@kiln/builder-proxmox",
    rename: ["proxmox"],
  });
}

async function openClient(o: CommonOptions, ctx: RunContext): Promise<PveClient> {
  const c = credentials(o);
  let ca: string | undefined;
  if (o.proxmox_ca_file) {
    const file = resolve(ctx.baseDir, o.proxmox_ca_file);
    try {
      ca = await readFile(file, "utf8");
    } catch (e) {
      throw err(
        "KILN_PROXMOX_CONFIG",
        `cannot read proxmox_ca_file ${file}: ${messageOf(e)}`,
        "Copy /etc/pve/pve-root-ca.pem from the Proxmox host and point proxmox_ca_file at it.",
      );
    }
    if (!ca.includes("-----BEGIN CERTIFICATE-----"))
      throw err("KILN_PROXMOX_CONFIG", `proxmox_ca_file ${file} holds no PEM certificate`);
    // Giving the agent a CA list replaces what Node added from NODE_EXTRA_CA_CERTS: keep it.
    const extra = process.env.NODE_EXTRA_CA_CERTS;
    if (extra) ca += `\n${await readFile(extra, "utf8").catch(() => "")}`;
  }
  if (c.url.startsWith("http://"))
    ctx.ui.error(
      `proxmox_url ${c.url} is plain HTTP: the ${c.token ? "API token" : "password"} crosses the network unencrypted. Use https:// (PVE listens on 8006).`,
    );
  return new PveClient({
    url: c.url,
    username: c.username,
    ...(c.password ? { password: c.password } : {}),
    ...(c.token ? { token: c.token } : {}),
    ...(o.insecure_skip_tls_verify ? { insecure: true } : {}),
    ...(ca ? { ca } : {}),
    log: (line) => ctx.ui.message(line),
    onSecret: (value) => ctx.secret(value),
  });
}

// ---------------------------------------------------------------------------------------------

function connectApiStep(o: CommonOptions, rs: RunState): Step {
  return {
    name: "proxmox api",
    async run(ctx) {
      const client = await openClient(o, ctx);
      rs.client = client;
      const version = await client.connect(ctx.signal);
      for (const s of client.secrets()) ctx.secret(s);
      if (o.insecure_skip_tls_verify)
        ctx.ui.message("insecure_skip_tls_verify: the server's certificate is not checked.");
      ctx.ui.say(
        `Connected to Proxmox VE ${version.version} at ${client.base.host} as ${credentials(o).username} (${client.usesToken ? "API token" : "ticket"}).`,
      );
      const nodes = await client.get<Array<{ node: string; status?: string }>>(
        "/nodes",
        undefined,
        ctx.signal,
      );
      const mine = nodes.find((n) => n.node === o.node);
      if (!mine)
        throw err(
          "KILN_PROXMOX_NODE",
          `node ${JSON.stringify(o.node)} is not in the cluster`,
          `Set node to one of: ${nodes.map((n) => n.node).join(", ") || "(none visible to this user)"}.`,
        );
      if (mine.status && mine.status !== "online")
        throw err("KILN_PROXMOX_NODE", `node ${o.node} is ${mine.status}`, "Pick a node that is online.");
    },
    async cleanup() {
      rs.client?.close();
    },
  };
}

function httpStep(o: CommonOptions): Step {
  return httpServerStep(o, {
    guestIp: (h) =>
      o.http_host ?? (o.http_interface ? interfaceAddress(o.http_interface) : undefined) ?? h.ip,
  });
}

/** Upload/download/generate the ISOs; their volumes are deleted in cleanup when the build fails. */
function isoStep(o: CommonOptions & Partial<IsoBuilderOptions>, rs: RunState): Step {
  return {
    name: "iso",
    async run(ctx) {
      const client = api(rs);
      const list: Array<{ iso: IsoOptions; boot: boolean }> = [];
      if (rs.type === "proxmox-iso") list.push({ iso: bootIso(o as IsoBuilderOptions), boot: true });
      for (const iso of o.additional_iso_files ?? []) list.push({ iso, boot: false });
      for (const { iso, boot } of list) {
        const { volid, generated } = await provideIso(iso, rs, ctx, client);
        // A generated ISO still attached to the template must stay on the storage.
        const mine = rs.uploaded.find((u) => u.volid === volid);
        if (mine && generated) mine.deleteOnSuccess = iso.unmount === true;
        rs.cdroms.push({
          bus: iso.type ?? "ide",
          // Packer's boot_iso default is ide2; other ISOs take the first free slot.
          ...(iso.index !== undefined ? { index: iso.index } : boot && !iso.type ? { index: 2 } : {}),
          boot,
          volid,
          unmount: iso.unmount === true,
          keepDevice: iso.keep_cdrom_device === true,
          generated,
        });
        ctx.ui.message(`${boot ? "Boot ISO" : "ISO"}: ${volid}`);
      }
    },
    async cleanup(ctx) {
      const client = rs.client;
      if (!client) return;
      // An upload or download interrupted mid-way: its task must end before its volume can go.
      if (rs.uploaded.length) await client.drainTasks(30 * 60_000);
      for (const u of [...rs.uploaded].reverse()) {
        if (rs.finished && !u.deleteOnSuccess) continue;
        if (rs.created && !rs.finished) continue; // the VM's cleanup deletes them after the VM is gone
        await deleteVolume(client, rs, u.volid, ctx);
      }
    },
  };
}

async function deleteVolume(client: PveClient, rs: RunState, volid: string, ctx: RunContext): Promise<void> {
  const storage = volid.split(":")[0] as string;
  try {
    await client.task(
      "DELETE",
      rs.node,
      `/nodes/${encodeURIComponent(rs.node)}/storage/${encodeURIComponent(storage)}/content/${encodeURIComponent(volid)}`,
      undefined,
      { timeoutMs: rs.taskTimeout, what: `deleting ${volid}` },
    );
    ctx.ui.message(`Deleted ${volid}`);
    rs.uploaded = rs.uploaded.filter((u) => u.volid !== volid);
  } catch (e) {
    ctx.ui.error(
      `Could not delete ${volid}: ${messageOf(e)} — remove it in the Proxmox UI (storage ${storage}).`,
    );
  }
}

const CHECKSUM_ALGOS = new Set(["md5", "sha1", "sha224", "sha256", "sha384", "sha512"]);

async function provideIso(
  iso: IsoOptions,
  rs: RunState,
  ctx: RunContext,
  client: PveClient,
): Promise<{ volid: string; generated: boolean }> {
  const storage = iso.iso_storage_pool ?? "local";
  const storagePath = `/nodes/${encodeURIComponent(rs.node)}/storage/${encodeURIComponent(storage)}`;
  if (iso.iso_file) {
    const volid = iso.iso_file.includes(":iso/") ? iso.iso_file : iso.iso_file.replace(":", ":iso/");
    return { volid, generated: false };
  }
  if (iso.cd_files?.length || iso.cd_content) {
    const dir = await ctx.tempDir("kiln-proxmox-cd-");
    const name = `kiln-${ctx.run.source.replace(/[^A-Za-z0-9_-]+/g, "_")}-${randomBytes(4).toString("hex")}.iso`;
    ctx.ui.say(`Creating a CD${iso.cd_label ? ` labelled ${iso.cd_label}` : ""} (${name})`);
    const content = iso.cd_content ? ctx.render(iso.cd_content) : undefined;
    const r = await makeIso({
      ...(iso.cd_files ? { files: iso.cd_files } : {}),
      ...(content ? { content } : {}),
      ...(iso.cd_label ? { label: iso.cd_label } : {}),
      output: join(dir, name),
      baseDir: ctx.baseDir,
      signal: ctx.signal,
    });
    const volid = `${storage}:iso/${name}`;
    rs.uploaded.push({ volid, deleteOnSuccess: true });
    await client.upload(rs.node, storage, "iso", r.output, name, {
      timeoutMs: rs.taskTimeout,
      signal: ctx.signal,
      onProgress: (done, total) => ctx.ui.progress(`upload-${name}`, `Uploading ${name}`, done, total),
    });
    return { volid, generated: true };
  }
  const urls = iso.iso_urls?.length ? iso.iso_urls : [iso.iso_url as string];
  const checksum = iso.iso_checksum ?? "none";
  const ext = iso.iso_target_extension ?? "iso";
  if (iso.iso_download_pve) {
    // Resolve a file: checksum here, so Proxmox checks the download and the name carries it.
    const sum = await resolveChecksum(checksum, { urls, baseDir: ctx.baseDir, signal: ctx.signal });
    const hash = sum.type === "none" ? "none" : `${sum.type}:${sum.value}`;
    const failures: string[] = [];
    for (const url of urls) {
      const name = isoFileName(url, hash, ext);
      const volid = `${storage}:iso/${name}`;
      if ((await volumeExists(client, storagePath, volid, ctx.signal)) !== undefined) {
        ctx.ui.say(`${volid} is already on the storage; not downloading it again.`);
        return { volid, generated: false };
      }
      ctx.ui.say(`Asking Proxmox to download ${url} into ${storage}...`);
      if (sum.type === "none") ctx.ui.message("iso_checksum is none: Proxmox will not check the download.");
      const entry = { volid, deleteOnSuccess: false };
      rs.uploaded.push(entry);
      try {
        const upid = await client.post<string>(
          `${storagePath}/download-url`,
          {
            content: "iso",
            filename: name,
            url,
            ...(sum.type !== "none" && CHECKSUM_ALGOS.has(sum.type)
              ? { checksum: sum.value.toLowerCase(), "checksum-algorithm": sum.type }
              : {}),
          },
          ctx.signal,
        );
        await client.waitTask(rs.node, upid, {
          timeoutMs: Math.max(rs.taskTimeout, 30 * 60_000),
          signal: ctx.signal,
          what: `downloading ${url} on the Proxmox host`,
        });
        return { volid, generated: false };
      } catch (e) {
        if (ctx.signal.aborted) throw e;
        rs.uploaded = rs.uploaded.filter((u) => u !== entry); // a failed task leaves no volume
        failures.push(`${url}: ${messageOf(e).replace(/^\[proxmox\] /, "")}`);
      }
    }
    throw err(
      "KILN_PROXMOX_ISO",
      `the Proxmox host could not download the ISO from any URL:\n  ${failures.join("\n  ")}`,
      "Check that the Proxmox host (not this machine) can reach the URL, or let kiln download and upload it: remove iso_download_pve.",
    );
  }
  ctx.ui.say(`Retrieving the ISO: ${urls.join(", ")}`);
  const local = await fetchArtifact({
    urls,
    checksum,
    baseDir: ctx.baseDir,
    ...(iso.iso_target_path ? { targetPath: iso.iso_target_path } : {}),
    extension: ext,
    signal: ctx.signal,
    onProgress: (done, total, label) => ctx.ui.progress("download", label, done, total),
    onWarning: (m) => ctx.ui.message(m),
  });
  // Named after the URL and the verified checksum (a file: checksum resolved to its value).
  const verified = local.checksum.type === "none" ? "none" : `${local.checksum.type}:${local.checksum.value}`;
  const name = isoFileName(local.url, verified, ext);
  const volid = `${storage}:iso/${name}`;
  const size = (await stat(local.path)).size;
  const existing = await volumeExists(client, storagePath, volid, ctx.signal);
  if (existing !== undefined && existing === size) {
    ctx.ui.say(`${volid} is already on the storage with the same size; not uploading it again.`);
    return { volid, generated: false };
  }
  if (existing !== undefined)
    throw err(
      "KILN_PROXMOX_ISO",
      `${volid} already exists on the storage with another size (${existing} bytes, the ISO has ${size})`,
      "Delete it from the storage, or use it as it is with iso_file.",
    );
  ctx.ui.say(`Uploading ${local.path} to ${storage} as ${name}...`);
  rs.uploaded.push({ volid, deleteOnSuccess: false });
  await client.upload(rs.node, storage, "iso", local.path, name, {
    timeoutMs: rs.taskTimeout,
    signal: ctx.signal,
    onProgress: (done, total) => ctx.ui.progress("upload", `Uploading ${name}`, done, total),
  });
  return { volid, generated: false };
}

/** The ISO's name on the storage: the URL's file name, made unique by a piece of the checksum. */
export function isoFileName(url: string, checksum: string, ext: string): string {
  let base = basename(new URL(url, "file:///").pathname) || "image";
  try {
    base = decodeURIComponent(base); // "my%20installer.iso" is "my installer.iso"
  } catch {
    // a malformed escape: keep it as it is
  }
  base = base.replace(/[^A-Za-z0-9._-]+/g, "_");
  const hash = /([0-9a-fA-F]{12,})$/.exec(checksum)?.[1]?.slice(0, 12).toLowerCase();
  const stem = base.replace(/\.(iso|img)$/i, "");
  return `${stem}${hash ? `-${hash}` : ""}.${ext}`;
}

/** The size of a volume on a storage, or undefined when it is not there. */
async function volumeExists(
  client: PveClient,
  storagePath: string,
  volid: string,
  signal: AbortSignal,
): Promise<number | undefined> {
  const list = await client.get<Array<{ volid: string; size?: number }>>(
    `${storagePath}/content`,
    { content: "iso" },
    signal,
  );
  const hit = list.find((v) => v.volid === volid);
  return hit ? (hit.size ?? 0) : undefined;
}

// ---------------------------------------------------------------------------------------------

function diskSize(d: DiskOptions): string {
  const raw = (d.disk_size ?? d.size ?? "20G").toUpperCase();
  const m = /^([0-9]+(?:\.[0-9]+)?)([KMGT]?)$/.exec(raw);
  if (!m)
    throw err(
      "KILN_PROXMOX_CONFIG",
      `disk_size ${JSON.stringify(raw)} is not a size`,
      "Write e.g. 20G or 512M.",
    );
  const n = Number(m[1]);
  const gib = n * { "": 1, K: 1 / 1024 ** 2, M: 1 / 1024, G: 1, T: 1024 }[m[2] as "" | "K" | "M" | "G" | "T"];
  // PVE takes STORAGE:SIZE in GiB, fractions included (0.25 = 256M); round up to whole MiB.
  return String(Math.max(1 / 1024, Math.ceil(gib * 1024) / 1024));
}

/** Create parameters for the VM's hardware, shared by create (iso) and reconfigure (clone). */
export function hardwareParams(o: CommonOptions, clone: boolean, vmid?: number): Params {
  const p: Params = {};
  if (!clone || o.memory !== undefined) p.memory = o.memory ?? 512;
  if (o.ballooning_minimum !== undefined) p.balloon = o.ballooning_minimum;
  if (!clone || o.cores !== undefined) p.cores = o.cores ?? 1;
  if (!clone || o.sockets !== undefined) p.sockets = o.sockets ?? 1;
  if (!clone || o.cpu_type !== undefined) p.cpu = o.cpu_type ?? "kvm64";
  if (o.numa) p.numa = true;
  if (!clone || o.os !== undefined) p.ostype = o.os ?? "other";
  if (o.bios) p.bios = o.bios;
  if (o.machine) p.machine = o.machine;
  if (!clone || o.scsi_controller !== undefined) p.scsihw = o.scsi_controller ?? "lsi";
  if (o.onboot !== undefined) p.onboot = o.onboot;
  if (o.disable_kvm) p.kvm = false;
  if (o.boot) p.boot = o.boot;
  if (!clone || o.qemu_agent !== undefined) p.agent = (o.qemu_agent ?? true) ? "enabled=1" : "enabled=0";
  if (o.tags) p.tags = o.tags;
  if (o.vga)
    p.vga = [o.vga.type ?? "std", o.vga.memory ? `memory=${o.vga.memory}` : ""].filter(Boolean).join(",");
  for (const [i, s] of (o.serials ?? []).entries()) p[`serial${i}`] = s;
  for (const [i, n] of (o.network_adapters ?? []).entries()) p[`net${i}`] = netParam(n, i, vmid);
  if (o.efi_config) {
    const e = o.efi_config;
    p.efidisk0 = `${e.efi_storage_pool}:1,efitype=${e.efi_type ?? "4m"},format=${e.efi_format ?? "raw"},pre-enrolled-keys=${e.pre_enrolled_keys ? 1 : 0}`;
  }
  return p;
}

/**
 * Packer's `mac_address: repeatable`: 00:18:59 (a reserved prefix) followed by the VM ID shifted
 * left by 5 bits, or'ed with the adapter's index — the same MAC for the same VM ID every build.
 */
export function repeatableMac(vmid: number, index: number): string {
  const v = ((vmid << 5) | index) >>> 0;
  const b = [(v >>> 16) & 0xff, (v >>> 8) & 0xff, v & 0xff];
  return ["00", "18", "59", ...b.map((x) => x.toString(16).padStart(2, "0"))].join(":").toUpperCase();
}

function netParam(n: NetworkOptions, index: number, vmid: number | undefined): string {
  const model = n.model ?? "e1000";
  const mac =
    n.mac_address === "repeatable"
      ? vmid !== undefined
        ? repeatableMac(vmid, index)
        : undefined
      : n.mac_address;
  const parts = [mac ? `${model}=${mac}` : model, `bridge=${n.bridge}`];
  if (n.vlan_tag) parts.push(`tag=${n.vlan_tag}`);
  if (n.firewall) parts.push("firewall=1");
  if (n.packet_queues) parts.push(`queues=${n.packet_queues}`);
  if (n.mtu) parts.push(`mtu=${n.mtu}`);
  return parts.join(",");
}

/**
 * Drive parameters for `disks`, each in the first free slot of its bus (`taken`: slots already
 * used, e.g. by a clone's own disks; ide2 is kept for the boot CD-ROM).
 */
export function diskParams(disks: DiskOptions[], taken: ReadonlySet<string> = new Set()): Params {
  const p: Params = {};
  const used = new Set([...taken, "ide2"]);
  for (const d of disks) {
    const bus = d.type ?? "scsi";
    let i = 0;
    while (used.has(`${bus}${i}`)) i++;
    if (i > (BUS_MAX[bus] ?? 30))
      throw err(
        "KILN_PROXMOX_CONFIG",
        `too many ${bus} disks: ${bus}${BUS_MAX[bus]} is the last slot`,
        "Put some disks on another bus (type).",
      );
    used.add(`${bus}${i}`);
    const parts = [`${d.storage_pool}:${diskSize(d)}`, `format=${d.format ?? "raw"}`];
    parts.push(`cache=${d.cache_mode ?? "none"}`);
    if (d.io_thread) parts.push("iothread=1");
    if (d.asyncio) parts.push(`aio=${d.asyncio}`);
    if (d.discard) parts.push("discard=on");
    if (d.ssd && bus !== "virtio") parts.push("ssd=1");
    if (d.exclude_from_backup) parts.push("backup=0");
    p[`${bus}${i}`] = parts.join(",");
  }
  return p;
}

function isTaken(e: unknown): boolean {
  return /already exists|can't lock file|unable to create .* lock/i.test(messageOf(e));
}

/** The description that marks a VM as this build's until it is finished. */
function ownerMark(rs: RunState, ctx: RunContext): string {
  return `kiln ephemeral build VM (${ctx.run.name}) [kiln-build ${rs.nonce}]`;
}

/**
 * Send a create or clone request and wait for its task. From the moment the request goes out
 * the VM may exist (`created`); once the task is done it is certainly this build's (`owned`).
 * A task that fails because another build took the ID meanwhile leaves nothing of ours.
 */
async function runOwned(
  rs: RunState,
  ctx: RunContext,
  what: string,
  node: string,
  send: () => Promise<string>,
): Promise<void> {
  const client = api(rs);
  rs.created = true;
  rs.owned = false;
  let upid: string;
  try {
    upid = await send();
  } catch (e) {
    if (isTaken(e)) rs.created = false; // refused before anything was made
    throw e;
  }
  try {
    await client.waitTask(node, upid, { timeoutMs: rs.taskTimeout, signal: ctx.signal, what });
  } catch (e) {
    // Another build took the ID meanwhile: remove whatever of ours the task left (checked by
    // this build's mark), and leave the other build's VM alone; the caller tries the next ID.
    if (isTaken(e) && !ctx.signal.aborted) await removeOwnVm(rs, ctx);
    throw e;
  }
  rs.owned = true;
}

/** Pick a VM ID: vm_id, or the cluster's next free one. */
async function chooseVmid(o: CommonOptions, client: PveClient, signal: AbortSignal): Promise<number> {
  if (o.vm_id) return o.vm_id;
  return Number(await client.get<string>("/cluster/nextid", undefined, signal));
}

/**
 * Create the VM with the first free ID. Two parallel builds may both be told the same next ID;
 * PVE creates a VM atomically, so the loser gets "already exists" and tries the next ID.
 */
async function reserve(
  o: CommonOptions,
  rs: RunState,
  ctx: RunContext,
  what: string,
  create: (vmid: number) => Promise<void>,
): Promise<void> {
  const client = api(rs);
  if (o.vm_id) await replaceExisting(o, rs, ctx, o.vm_id);
  for (let attempt = 0; ; attempt++) {
    const vmid = await chooseVmid(o, client, ctx.signal);
    rs.vmid = vmid;
    try {
      ctx.ui.say(`${what} VM ${vmid} on node ${rs.node}...`);
      await create(vmid);
      return;
    } catch (e) {
      if (isTaken(e) && !o.vm_id && attempt < 10 && !rs.owned) {
        ctx.ui.message(`VM ${vmid} was taken meanwhile (another build?); trying the next free ID.`);
        continue;
      }
      if (isTaken(e) && o.vm_id)
        throw err(
          "KILN_PROXMOX_VMID",
          `vm_id ${o.vm_id} is already used: ${messageOf(e).replace(/^.*?: /, "")}`,
          "Pick another vm_id, or leave it unset to use the next free ID.",
          e,
        );
      throw e;
    }
  }
}

/**
 * Put the CD-ROMs in slots: those with an index (the boot ISO's default ide2) where asked,
 * the others in the first free slot of their bus after `taken` (the disks, a clone's drives).
 */
export function assignCdromSlots(
  cdroms: RunState["cdroms"],
  taken: ReadonlySet<string>,
): Record<string, string> {
  const used = new Set(taken);
  const out: Record<string, string> = {};
  for (const cd of cdroms.filter((c) => c.index !== undefined)) {
    cd.slot = `${cd.bus}${cd.index}`;
    used.add(cd.slot);
  }
  for (const cd of cdroms.filter((c) => c.index === undefined)) {
    let i = 0;
    while (used.has(`${cd.bus}${i}`)) i++;
    if (i > (BUS_MAX[cd.bus] as number))
      throw err(
        "KILN_PROXMOX_CONFIG",
        `no free ${cd.bus} slot for ${cd.volid}`,
        "Put the ISO on another bus (type: sata or scsi), or give fewer ISOs.",
      );
    cd.slot = `${cd.bus}${i}`;
    used.add(cd.slot);
  }
  for (const cd of cdroms) out[cd.slot as string] = `${cd.volid},media=cdrom`;
  return out;
}

/**
 * vm_id names a VM that exists: the result of an earlier build. It is replaced only with
 * --force, and only if it is a template (or, with skip_convert_to_template, a stopped VM).
 */
async function replaceExisting(o: CommonOptions, rs: RunState, ctx: RunContext, vmid: number): Promise<void> {
  const client = api(rs);
  const all = await client.get<
    Array<{ vmid: number; node: string; name?: string; template?: number; status?: string }>
  >("/cluster/resources", { type: "vm" }, ctx.signal);
  const old = all.find((v) => v.vmid === vmid);
  if (!old) return;
  const what = `${old.template ? "template" : "VM"} ${vmid}${old.name ? ` (${old.name})` : ""} on node ${old.node}`;
  if (!ctx.force)
    throw err(
      "KILN_PROXMOX_VMID",
      `vm_id ${vmid} is already used by ${what}`,
      "Run kiln build --force to replace it (only a template made by an earlier build is replaced), pick another vm_id, or leave vm_id unset.",
    );
  if (!old.template && !o.skip_convert_to_template)
    throw err(
      "KILN_PROXMOX_VMID",
      `vm_id ${vmid} is used by ${what}, which is not a template: --force replaces only templates`,
      "Delete it yourself if it really is disposable, or pick another vm_id.",
    );
  if (old.node !== rs.node)
    throw err(
      "KILN_PROXMOX_VMID",
      `vm_id ${vmid} is used by ${what}`,
      "Delete it there, or pick another vm_id.",
    );
  ctx.ui.say(`Replacing ${what} (--force)...`);
  const path = `/nodes/${encodeURIComponent(old.node)}/qemu/${vmid}`;
  if (old.status === "running")
    await client.task("POST", old.node, `${path}/status/stop`, undefined, {
      timeoutMs: rs.taskTimeout,
      signal: ctx.signal,
      what: `stopping VM ${vmid}`,
    });
  await client.task(
    "DELETE",
    old.node,
    path,
    { purge: true },
    {
      timeoutMs: Math.max(rs.taskTimeout, 60_000),
      signal: ctx.signal,
      what: `deleting ${what}`,
    },
  );
}

function createStep(o: IsoBuilderOptions, rs: RunState): Step {
  return {
    name: "create vm",
    async run(ctx) {
      const client = api(rs);
      const name = o.vm_name ?? `kiln-${ctx.run.source}`.replace(/[^A-Za-z0-9.-]+/g, "-");
      // CD-ROMs with a fixed slot first, then the disks, then the other CD-ROMs after them.
      const fixed = new Set(rs.cdroms.filter((c) => c.index !== undefined).map((c) => `${c.bus}${c.index}`));
      const disks = diskParams(o.disks ?? [], fixed);
      const cds = assignCdromSlots(rs.cdroms, new Set([...fixed, ...Object.keys(disks)]));
      if (!o.network_adapters?.length)
        ctx.ui.error("No network_adapters: the VM has no network, so kiln will not reach it over SSH.");
      await reserve(o, rs, ctx, "Creating", async (vmid) => {
        const params: Params = {
          vmid,
          name,
          description: ownerMark(rs, ctx),
          ...hardwareParams(o, false, vmid),
          ...disks,
          ...cds,
          ...(o.pool ? { pool: o.pool } : {}),
        };
        // Disks first (empty at first, so the firmware falls through to the CD), then the boot ISO.
        if (!o.boot)
          params.boot = `order=${[Object.keys(disks)[0], rs.cdroms.find((c) => c.boot)?.slot].filter(Boolean).join(";")}`;
        await runOwned(rs, ctx, `creating VM ${vmid}`, rs.node, () =>
          client.post<string>(`/nodes/${encodeURIComponent(rs.node)}/qemu`, params, ctx.signal),
        );
      });
      ctx.buildVars.ID = String(rs.vmid);
    },
    cleanup: (ctx) => destroyVm(rs, ctx),
  };
}

/** Stop and destroy the VM (with its disks) unless the build finished, then the ISOs it used. */
async function destroyVm(rs: RunState, ctx: RunContext): Promise<void> {
  const client = rs.client;
  if (!client || !rs.created || rs.finished || rs.vmid === undefined) return;
  // A create/clone task that outlived its timeout must end before the VM can go.
  const left = await client.drainTasks(30 * 60_000);
  if (left.length) ctx.ui.error(`Proxmox tasks still running: ${left.join(", ")}`);
  if (!(await removeOwnVm(rs, ctx))) return;
  for (const u of [...rs.uploaded].reverse()) await deleteVolume(client, rs, u.volid, ctx);
}

/**
 * Stop and destroy VM `rs.vmid` with its disks — if it is this build's: its create/clone task
 * finished, or its description carries this build's mark. Returns false if it could not.
 */
async function removeOwnVm(rs: RunState, ctx: RunContext): Promise<boolean> {
  const client = api(rs);
  const vmid = rs.vmid as number;
  try {
    const st = await client.get<{ status: string }>(vmPath(rs, "status/current")).catch((e) => {
      if (/does not exist|not exist/i.test(messageOf(e))) return undefined;
      throw e;
    });
    const mine =
      st &&
      (rs.owned ||
        String((await client.get<Record<string, unknown>>(vmPath(rs, "config")))?.description ?? "").includes(
          rs.nonce,
        ));
    if (!st) {
      ctx.ui.message(`VM ${vmid} does not exist (any more).`);
    } else if (!mine) {
      ctx.ui.message(
        `VM ${vmid} is not the one this build made (another build took the ID); leaving it alone.`,
      );
    } else {
      if (st.status === "running") {
        ctx.ui.say(`Stopping VM ${vmid}...`);
        await client.task("POST", rs.node, vmPath(rs, "status/stop"), undefined, {
          timeoutMs: Math.max(rs.taskTimeout, 60_000),
          what: `stopping VM ${vmid}`,
        });
      }
      ctx.ui.say(`Deleting VM ${vmid}...`);
      await client.task(
        "DELETE",
        rs.node,
        vmPath(rs),
        { purge: true, "destroy-unreferenced-disks": true },
        { timeoutMs: Math.max(rs.taskTimeout, 60_000), what: `deleting VM ${vmid}` },
      );
    }
    rs.created = false;
    rs.owned = false;
    return true;
  } catch (e) {
    ctx.ui.error(
      `Could not delete VM ${vmid} on node ${rs.node}: ${messageOf(e)} — delete it in the Proxmox UI.`,
    );
    return false;
  }
}

function cloneStep(o: CloneBuilderOptions, rs: RunState): Step {
  return {
    name: "clone vm",
    async run(ctx) {
      const client = api(rs);
      const vms = await client.get<
        Array<{ vmid: number; name?: string; node: string; template?: number; type: string }>
      >("/cluster/resources", { type: "vm" }, ctx.signal);
      const qemuVms = vms.filter((v) => v.type === "qemu");
      let source: (typeof qemuVms)[number] | undefined;
      if (o.clone_vm_id !== undefined) {
        source = qemuVms.find((v) => v.vmid === o.clone_vm_id);
        if (!source)
          throw err(
            "KILN_PROXMOX_CLONE",
            `clone_vm_id ${o.clone_vm_id}: no such VM or template`,
            "Check the ID in the Proxmox UI (and that this user may see it: VM.Audit).",
          );
      } else {
        const hits = qemuVms.filter((v) => v.name === o.clone_vm);
        if (hits.length === 0)
          throw err(
            "KILN_PROXMOX_CLONE",
            `clone_vm ${JSON.stringify(o.clone_vm)}: no VM or template has this name`,
            `Templates here: ${
              qemuVms
                .filter((v) => v.template)
                .map((v) => `${v.name ?? "?"} (${v.vmid})`)
                .join(", ") || "none"
            }.`,
          );
        if (hits.length > 1)
          throw err(
            "KILN_PROXMOX_CLONE",
            `clone_vm ${JSON.stringify(o.clone_vm)} names ${hits.length} VMs (${hits.map((h) => h.vmid).join(", ")})`,
            "Use clone_vm_id to pick one.",
          );
        source = hits[0];
      }
      const src = source as (typeof qemuVms)[number];
      const full = o.full_clone ?? true;
      const name = o.vm_name ?? `kiln-${ctx.run.source}`.replace(/[^A-Za-z0-9.-]+/g, "-");
      await reserve(
        o,
        rs,
        ctx,
        `Cloning ${src.name ?? src.vmid} (${src.vmid}, ${full ? "full" : "linked"}) into`,
        async (vmid) => {
          await runOwned(rs, ctx, `cloning ${src.vmid} into ${vmid}`, src.node, () =>
            client.post<string>(
              `/nodes/${encodeURIComponent(src.node)}/qemu/${src.vmid}/clone`,
              {
                newid: vmid,
                name,
                full,
                description: ownerMark(rs, ctx),
                ...(src.node !== rs.node ? { target: rs.node } : {}),
                ...(o.pool ? { pool: o.pool } : {}),
              },
              ctx.signal,
            ),
          );
        },
      );
      ctx.buildVars.ID = String(rs.vmid);
      // Hardware the source left as it was, new disks in free slots, cloud-init, extra CD-ROMs.
      const current = await client.get<Record<string, unknown>>(vmPath(rs, "config"), undefined, ctx.signal);
      const taken = new Set(Object.keys(current).filter((k) => /^(ide|sata|scsi|virtio)\d+$/.test(k)));
      const cds = assignCdromSlots(rs.cdroms, taken);
      const disks = diskParams(o.disks ?? [], new Set([...taken, ...Object.keys(cds)]));
      const conf: Params = { ...hardwareParams(o, true, rs.vmid), ...disks, ...cds };
      // The key kiln logs in with reaches the clone through cloud-init: the temporary one, or
      // the public half of ssh_private_key_file (as Packer does).
      const user = o.ssh_username;
      let publicKey = rs.key?.publicKey;
      if (!publicKey && o.ssh_private_key_file && (o.communicator ?? "ssh") === "ssh") {
        publicKey = publicKeyOf(await readFile(resolve(ctx.baseDir, o.ssh_private_key_file)));
      }
      if (publicKey && user) {
        conf.ciuser = user;
        // PVE wants sshkeys URL-encoded (then form-encoded again by the request).
        conf.sshkeys = encodeURIComponent(`${publicKey.trim()}\n`);
      }
      for (const [i, ip] of (o.ipconfig ?? []).entries()) {
        conf[`ipconfig${i}`] = [
          ip.ip ? `ip=${ip.ip}` : "",
          ip.gateway ? `gw=${ip.gateway}` : "",
          ip.ip6 ? `ip6=${ip.ip6}` : "",
          ip.gateway6 ? `gw6=${ip.gateway6}` : "",
        ]
          .filter(Boolean)
          .join(",");
      }
      if (o.nameserver) conf.nameserver = o.nameserver;
      if (o.searchdomain) conf.searchdomain = o.searchdomain;
      rs.buildOnlyConfig = Object.keys(conf).filter((k) =>
        /^(ciuser|sshkeys|ipconfig\d+|nameserver|searchdomain)$/.test(k),
      );
      if (Object.keys(conf).length) {
        ctx.ui.message(`Configuring VM ${rs.vmid}: ${Object.keys(conf).join(", ")}`);
        await client.task("POST", rs.node, vmPath(rs, "config"), conf, {
          timeoutMs: rs.taskTimeout,
          signal: ctx.signal,
          what: `configuring VM ${rs.vmid}`,
        });
      }
    },
    cleanup: (ctx) => destroyVm(rs, ctx),
  };
}

function startStep(rs: RunState): Step {
  return {
    name: "start vm",
    async run(ctx) {
      ctx.ui.say(`Starting VM ${rs.vmid}...`);
      await api(rs).task("POST", rs.node, vmPath(rs, "status/start"), undefined, {
        timeoutMs: rs.taskTimeout,
        signal: ctx.signal,
        what: `starting VM ${rs.vmid}`,
      });
    },
  };
}

function countKeys(actions: BootAction[]): number {
  return actions.filter((a) => a.type === "char" || a.type === "key").length;
}

function bootStep(o: CommonOptions, rs: RunState): Step {
  return {
    name: "boot",
    async run(ctx) {
      if (!o.boot_command?.length) return;
      const wait = dur(o.boot_wait, 10_000, "boot_wait");
      if (wait > 0) {
        ctx.ui.say(`Waiting ${o.boot_wait ?? "10s"} for boot...`);
        await abortableSleep(wait, ctx.signal);
      }
      const client = api(rs);
      const actions = parseBootCommand(ctx.render(o.boot_command));
      const keys = countKeys(actions);
      ctx.ui.say(`Typing the boot command (${keys} keys) through the Proxmox API...`);
      const driver = createSendkeyDriver(
        async (key) => {
          await client.put(vmPath(rs, "sendkey"), { key }, ctx.signal);
        },
        { keyInterval: dur(o.boot_key_interval, 5, "boot_key_interval") },
      );
      const t0 = Date.now();
      let shown = 0;
      try {
        await typeBootCommand(actions, driver, {
          signal: ctx.signal,
          onProgress: (p) => {
            if (Date.now() - shown > 500 || p.done === p.total) {
              shown = Date.now();
              ctx.ui.progress("boot-command", "Typing boot command", p.done, p.total);
            }
          },
        });
      } catch (e) {
        if (ctx.signal.aborted) throw e;
        throw err(
          "KILN_PROXMOX_BOOT_COMMAND",
          `typing the boot command failed: ${messageOf(e)}`,
          e instanceof PveApiError && e.status === 403
            ? "The user or token needs VM.Console on the VM to send keys."
            : "Check the boot_command syntax (keys in <…>, waits as <wait5>).",
          e,
        );
      }
      const s = (Date.now() - t0) / 1000;
      ctx.ui.say(
        `Typed ${keys} keys in ${s.toFixed(1)}s (${(keys / Math.max(s, 0.001)).toFixed(1)} keys/s).`,
      );
    },
  };
}

interface AgentInterface {
  name: string;
  "hardware-address"?: string;
  "ip-addresses"?: Array<{ "ip-address": string; "ip-address-type": string; prefix?: number }>;
}

/** The address to SSH to: vm_interface's, else the first global IPv4 (then IPv6) of a non-loopback interface. */
export function pickAddress(ifaces: AgentInterface[], want?: string): string | undefined {
  const candidates = ifaces.filter((i) =>
    want ? i.name === want : i.name !== "lo" && !i.name.startsWith("lo"),
  );
  // As Packer: IPv4 only, unless vm_interface names the interface (an IPv6 address may be a
  // SLAAC one that comes before the real configuration).
  for (const family of want ? ["ipv4", "ipv6"] : ["ipv4"]) {
    for (const i of candidates) {
      for (const a of i["ip-addresses"] ?? []) {
        if (a["ip-address-type"] !== family) continue;
        const ip = a["ip-address"];
        if (
          family === "ipv4" &&
          (ip.startsWith("169.254.") || (ip.startsWith("127.") && want === undefined && i.name === "lo"))
        )
          continue;
        if (family === "ipv6" && (/^fe80:/i.test(ip) || ip === "::1")) continue;
        return ip;
      }
    }
  }
  return undefined;
}

function addressStep(o: CommonOptions, rs: RunState): Step {
  return {
    name: "guest address",
    async run(ctx) {
      if ((o.communicator ?? "ssh") !== "ssh") return;
      if (o.ssh_host) {
        rs.guestIp = o.ssh_host;
        return;
      }
      if (o.qemu_agent === false)
        throw err(
          "KILN_PROXMOX_ADDRESS",
          "qemu_agent is false and no ssh_host is set: kiln cannot learn the VM's address",
          "Set ssh_host to the address the VM gets, or enable qemu_agent (and install qemu-guest-agent in the guest).",
        );
      const client = api(rs);
      const timeoutMs = dur(o.ssh_timeout ?? o.ssh_wait_timeout, 5 * 60_000, "ssh_timeout");
      const deadline = Date.now() + timeoutMs;
      ctx.ui.say(
        `Waiting for the QEMU guest agent to report the VM's address (up to ${o.ssh_timeout ?? "5m"})...`,
      );
      let last = "";
      let seen: AgentInterface[] | undefined;
      let delay = 1000;
      for (;;) {
        try {
          const r = await client.get<{ result: AgentInterface[] }>(
            vmPath(rs, "agent/network-get-interfaces"),
            undefined,
            ctx.signal,
          );
          seen = r.result;
          const ip = pickAddress(r.result, o.vm_interface);
          if (ip) {
            rs.guestIp = ip;
            ctx.ui.say(`The guest agent reports ${ip}${o.vm_interface ? ` on ${o.vm_interface}` : ""}.`);
            return;
          }
          last = o.vm_interface
            ? `the agent answers, but interface ${o.vm_interface} has no usable address (interfaces: ${r.result.map((i) => i.name).join(", ")})`
            : `the agent answers, but no interface has a usable address yet (${r.result.map((i) => i.name).join(", ")})`;
        } catch (e) {
          if (ctx.signal.aborted) throw e;
          const m = messageOf(e);
          if (/No QEMU guest agent configured/i.test(m))
            throw err(
              "KILN_PROXMOX_ADDRESS",
              "the VM has no QEMU guest agent device",
              "Set qemu_agent: true (the default), or set ssh_host.",
              e,
            );
          if (/is not running/i.test(m) && !/agent/i.test(m))
            throw err(
              "KILN_PROXMOX_ADDRESS",
              `VM ${rs.vmid} stopped while kiln waited for its address`,
              "The guest powered off or crashed: look at its console in the Proxmox UI (did the installer finish and power off instead of rebooting?).",
              e,
            );
          last = /agent is not running/i.test(m)
            ? "the QEMU guest agent is not running in the guest"
            : m.replace(/^\[proxmox\] /, "");
        }
        if (Date.now() + delay > deadline) break;
        ctx.ui.message(`Waiting for the guest's address: ${last}`);
        await abortableSleep(delay, ctx.signal);
        delay = Math.min(5000, delay + 1000);
      }
      throw err(
        "KILN_PROXMOX_ADDRESS",
        `no address for VM ${rs.vmid} within ${o.ssh_timeout ?? "5m"}: ${last}`,
        /not running/.test(last)
          ? "Install and enable qemu-guest-agent in the guest (in the install config, e.g. packages: [qemu-guest-agent]), or set ssh_host."
          : seen && o.vm_interface
            ? `Set vm_interface to one of: ${seen.map((i) => i.name).join(", ")}.`
            : "Check the guest's network (DHCP on the bridge), or set ssh_host.",
      );
    },
  };
}

function shutdownStep(o: CommonOptions, rs: RunState): Step {
  return {
    name: "shutdown",
    async run(ctx) {
      const client = api(rs);
      const timeout = dur(o.shutdown_timeout, 5 * 60_000, "shutdown_timeout");
      ctx.ui.say(`Shutting down VM ${rs.vmid} (ACPI, through the API)...`);
      const upid = await client.post<string>(
        vmPath(rs, "status/shutdown"),
        { timeout: Math.ceil(timeout / 1000) },
        ctx.signal,
      );
      await client
        .waitTask(rs.node, upid, {
          timeoutMs: timeout + 30_000,
          signal: ctx.signal,
          what: `shutting down VM ${rs.vmid}`,
        })
        .catch((e) => {
          if (ctx.signal.aborted) throw e;
          ctx.ui.message(messageOf(e));
        });
      const deadline = Date.now() + timeout;
      for (;;) {
        const st = await client.get<{ status: string }>(vmPath(rs, "status/current"), undefined, ctx.signal);
        if (st.status === "stopped") break;
        if (Date.now() > deadline)
          throw err(
            "KILN_PROXMOX_SHUTDOWN_TIMEOUT",
            `VM ${rs.vmid} did not stop within ${o.shutdown_timeout ?? "5m"}`,
            "The guest ignores the ACPI power button (install acpid or qemu-guest-agent), or raise shutdown_timeout.",
          );
        await abortableSleep(1000, ctx.signal);
      }
      ctx.ui.say(`VM ${rs.vmid} has stopped.`);
    },
  };
}

/** The storage of the VM's boot disk (the first disk in the boot order, else the first disk). */
export function bootDiskStorage(config: Record<string, unknown>): string | undefined {
  const isDisk = (k: string) =>
    /^(ide|sata|scsi|virtio)\d+$/.test(k) &&
    typeof config[k] === "string" &&
    !/media=cdrom/.test(config[k] as string);
  const order = /order=([^,]+)/.exec(String(config.boot ?? ""))?.[1]?.split(";") ?? [];
  const key = [...order, String(config.bootdisk ?? ""), ...Object.keys(config).sort()].find(
    (k) => k && isDisk(k),
  );
  return key ? (String(config[key]).split(":")[0] as string) : undefined;
}

/** A free slot on a bus for the cloud-init drive. */
function freeSlot(bus: string, taken: Set<string>): string {
  const max = bus === "ide" ? 3 : bus === "sata" ? 5 : 30;
  for (let i = 0; i <= max; i++) if (!taken.has(`${bus}${i}`)) return `${bus}${i}`;
  throw err(
    "KILN_PROXMOX_CONFIG",
    `no free ${bus} slot for the cloud-init drive`,
    "Set cloud_init_disk_type to another bus.",
  );
}

function finalizeStep(o: CommonOptions, rs: RunState): Step {
  return {
    name: "template",
    async run(ctx) {
      const client = api(rs);
      const config = await client.get<Record<string, unknown>>(vmPath(rs, "config"), undefined, ctx.signal);
      const conf: Params = {};
      const remove: string[] = [];
      for (const cd of rs.cdroms) {
        if (!cd.unmount) continue;
        if (cd.keepDevice) conf[cd.slot as string] = "none,media=cdrom";
        else remove.push(cd.slot as string);
      }
      for (const k of Object.keys(config)) if (/^unused\d+$/.test(k)) remove.push(k);
      for (const k of rs.buildOnlyConfig) if (k in config) remove.push(k);
      const hasCloudInit = Object.values(config).some((v) => typeof v === "string" && /cloudinit/.test(v));
      if (o.cloud_init && hasCloudInit)
        ctx.ui.message("The VM already has a cloud-init drive (from its source); keeping it.");
      if (o.cloud_init && !hasCloudInit) {
        const taken = new Set(Object.keys(config).filter((k) => !remove.includes(k)));
        const bus = o.cloud_init_disk_type ?? "ide";
        const pool = o.cloud_init_storage_pool ?? bootDiskStorage(config);
        if (!pool)
          throw err(
            "KILN_PROXMOX_CONFIG",
            "cloud_init is set, but kiln cannot tell which storage the cloud-init drive goes on",
            "Set cloud_init_storage_pool (e.g. local-lvm).",
          );
        conf[freeSlot(bus, taken)] = `${pool}:cloudinit`;
      }
      const name = o.template_name ?? (config.name as string | undefined);
      if (o.template_name) conf.name = o.template_name;
      conf.description =
        o.template_description ?? `Built by kiln (${ctx.run.name}) on ${new Date().toISOString()}`;
      if (remove.length) conf.delete = remove.join(",");
      ctx.ui.say(
        `Finishing the VM's configuration${remove.length ? ` (removing ${remove.join(", ")})` : ""}${o.cloud_init ? " and adding a cloud-init drive" : ""}...`,
      );
      await client.task("POST", rs.node, vmPath(rs, "config"), conf, {
        timeoutMs: rs.taskTimeout,
        signal: ctx.signal,
        what: `configuring VM ${rs.vmid}`,
      });
      // Generated ISOs are no longer attached: delete them now.
      for (const u of rs.uploaded.filter((x) => x.deleteOnSuccess))
        await deleteVolume(client, rs, u.volid, ctx);
      const template = !o.skip_convert_to_template;
      if (template) {
        ctx.ui.say(`Converting VM ${rs.vmid} to a template...`);
        await client.task("POST", rs.node, vmPath(rs, "template"), undefined, {
          timeoutMs: Math.max(rs.taskTimeout, 60_000),
          signal: ctx.signal,
          what: `converting VM ${rs.vmid} to a template`,
        });
      }
      rs.finished = true;
      const result: ProxmoxResult = { vmid: rs.vmid as number, node: rs.node, name: name ?? "", template };
      ctx.state.put(STATE_RESULT, result);
      ctx.ui.say(
        template
          ? `Template ${rs.vmid} (${name}) is ready on node ${rs.node}.`
          : `VM ${rs.vmid} is ready (stopped, not a template).`,
      );
    },
  };
}
