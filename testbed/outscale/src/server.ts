/**
 * A local OUTSCALE OAPI double: HTTPS on 127.0.0.1, every action `POST /api/v1/<Action>` with a
 * JSON body; SigV4/OSC4 signatures checked (auth.ts) and x509 API access rules (client
 * certificates); every request checked against the trimmed OAPI 1.40.1 contract (spec.ts), and
 * every answer too; DryRun; states that move; volumes, snapshots and images as disk files;
 * faults; a listing of what is left.
 *
 * The resources live in routes/, the model in state.ts, the machines behind the VMs in
 * machines.ts (in memory, or real guests of the shared runner).
 */
import crypto from "node:crypto";
import fs from "node:fs";
import type http from "node:http";
import https from "node:https";
import type { AddressInfo } from "node:net";
import os from "node:os";
import path from "node:path";
import type { TLSSocket } from "node:tls";
import { makeCa, makeLeaf, type Pem } from "@kiln-testbed/doubles";
import { fault, OapiFault } from "./api-error.js";
import { type AccessKeyDef, createVerifier } from "./auth.js";
import { DiskStore, GiB } from "./disks.js";
import { FaultState, type Faults, type TransitionKind } from "./faults.js";
import { HostVolumes } from "./host-volumes.js";
import { InMemoryMachines, type Machines } from "./machines.js";
import { serveMetadata } from "./metadata.js";
import { accountTagRoutes } from "./routes/accounts-tags.js";
import type { Durations, Handlers, World } from "./routes/common.js";
import { cidrContains, networkRoutes } from "./routes/network.js";
import { storageRoutes } from "./routes/storage.js";
import { vmRoutes } from "./routes/vms.js";
import { createChecker } from "./spec.js";
import { type Image, Region } from "./state.js";

export interface AccountDef {
  accountId: string;
  email?: string;
  /** Access key → secret key. */
  keys: Record<string, string>;
  /** CAs (PEM) of the account's API access rules: requests then need a client certificate issued by one. */
  caPems?: string[];
}

export interface OutscaleDoubleOptions {
  region?: string;
  /** Default: one account 123456789012 with a generated access key (double.accessKey/secretKey). */
  accounts?: AccountDef[];
  machines?: Machines;
  durations?: Partial<Durations>;
  /** The disk file of the public image ami-kiln0001 (raw, or qcow2 converted); default: an empty 1 GiB disk. */
  baseImage?: { file: string; format?: "raw" | "qcow2"; name?: string };
  /** Refuse a signature scoped to another region (default true). */
  strictRegion?: boolean;
  /** Check every answer against the contract too (default true). */
  checkResponses?: boolean;
  log?: (line: string) => void;
  /**
   * Register the machine the double runs on as a VM (for outscale-chroot): it shows in ReadVms,
   * a metadata service on loopback names it (double.metadataEndpoint), and LinkVolume to it
   * attaches the volume's file as loop devices with /dev/xvdX nodes (root only; host-volumes.ts).
   */
  host?: { vmId?: string; subregion?: string };
}

export interface Leftovers {
  vms: string[];
  keypairs: string[];
  securityGroups: string[];
  publicIps: string[];
  volumes: string[];
  snapshots: string[];
  images: string[];
  /** Disk files that belong to no volume or snapshot the API shows. */
  strayFiles: string[];
  /** With `host`: device nodes and loop devices of volumes still linked to the host. */
  hostDevices?: string[];
}

/** What leftovers() answers when nothing is left (a double without `host`). */
export const NOTHING_LEFT: Readonly<Leftovers> = Object.freeze({
  vms: [],
  keypairs: [],
  securityGroups: [],
  publicIps: [],
  volumes: [],
  snapshots: [],
  images: [],
  strayFiles: [],
});

export interface OutscaleDouble {
  /** The base URL to give custom_endpoint_oapi: https://127.0.0.1:PORT/api/v1 */
  endpoint: string;
  region: string;
  port: number;
  /** PEM of the CA that signed the server certificate (give it as ca_file). */
  caCert: string;
  accessKey: string;
  secretKey: string;
  accountId: string;
  /** With `host`: the metadata service's base URL (http://127.0.0.1:PORT), and the host's VM id. */
  metadataEndpoint?: string;
  hostVmId?: string;
  /** The seeded public image (owned by alias "Outscale"). */
  baseImageId: string;
  netId: string;
  subnetId: string;
  state: Region;
  faults: Faults;
  machines: Machines;
  /** Every request: action, status, error code. */
  requests: Array<{ action: string; status: number; code?: string; accessKey?: string }>;
  /** What exists that was not seeded (not counting terminated VMs). */
  leftovers(): Leftovers;
  /**
   * Link another region's double: CreateImage {SourceImageId, SourceRegionName} here copies its
   * images (both doubles should share the accounts). Links both ways.
   */
  link(other: OutscaleDouble): void;
  /** A client certificate issued by a new CA (for x509 rules). */
  makeClientCert(commonName?: string): { ca: Pem; client: Pem };
  close(): Promise<void>;
}

/** What link() needs of a double: its region and disks, and where it keeps its peers. */
const LINKS = new WeakMap<
  OutscaleDouble,
  { self: { region: Region; disks: DiskStore }; peers: World["peers"] }
>();

const DEFAULT_DURATIONS: Durations = {
  vmStart: 30,
  vmTerminate: 30,
  terminatedVisible: 60_000,
  image: 30,
  snapshot: 30,
  volume: 20,
};

export async function startOutscaleDouble(o: OutscaleDoubleOptions = {}): Promise<OutscaleDouble> {
  const regionName = o.region ?? "eu-west-2";
  const machines: Machines = o.machines ?? new InMemoryMachines();
  const region = new Region(
    regionName,
    [`${regionName}a`, `${regionName}b`],
    machines.allocateAddress ? () => (machines.allocateAddress as () => string).call(machines) : undefined,
  );
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "kiln-osc-double-"));
  const disks = new DiskStore(dir);
  const faults = new FaultState();
  const durations = { ...DEFAULT_DURATIONS, ...o.durations };
  const log = o.log ?? (() => {});
  const checker = createChecker();
  const now = () => Date.now() + faults.offsetMs;

  // Accounts and keys.
  const generatedKey = `AK${crypto.randomBytes(9).toString("hex").toUpperCase()}`;
  const generatedSecret = crypto.randomBytes(20).toString("base64url");
  const accounts: AccountDef[] = o.accounts ?? [
    { accountId: "123456789012", keys: { [generatedKey]: generatedSecret } },
  ];
  const keys: Record<string, AccessKeyDef> = {};
  for (const a of accounts) {
    region.accounts.set(a.accountId, {
      AccountId: a.accountId,
      Email: a.email ?? `${a.accountId}@kiln.test`,
      ...(a.caPems ? { _caPems: a.caPems } : {}),
    });
    for (const [ak, sk] of Object.entries(a.keys)) keys[ak] = { secretKey: sk, accountId: a.accountId };
  }
  const verifier = createVerifier({ keys, region: regionName, strictRegion: o.strictRegion ?? true, now });
  const [firstKey, firstSecret] = Object.entries(accounts[0]?.keys ?? {})[0] ?? ["", ""];

  // Transitions and reachability.
  const timers = new Set<NodeJS.Timeout>();
  const exposed = new Map<string, Set<string>>();
  const peers: World["peers"] = new Map();
  const hostVolumes = o.host ? new HostVolumes() : undefined;
  const world: World = {
    ...(hostVolumes ? { hostVolumes } : {}),
    peers,
    region,
    disks,
    machines,
    faults,
    durations,
    log,
    transition(kind: TransitionKind, ms, done) {
      if (faults.stuck.has(kind)) return;
      const t = setTimeout(
        () => {
          timers.delete(t);
          if (faults.stuck.has(kind)) return;
          done(faults.takeFailure(kind));
        },
        Math.max(ms, faults.slow.get(kind) ?? 0),
      );
      timers.add(t);
    },
    async syncReach(vmId) {
      const vm = region.vms.get(vmId);
      const want = new Set<string>();
      if (vm && vm.State === "running" && vm.PublicIp && machines.isRunning(vmId)) {
        for (const ref of vm.SecurityGroups) {
          const g = region.securityGroups.get(ref.SecurityGroupId);
          for (const rule of g?.InboundRules ?? []) {
            if (rule.IpProtocol !== "tcp" && rule.IpProtocol !== "-1") continue;
            if (!rule.IpRanges.some((c) => cidrContains(c, "127.0.0.1"))) continue;
            const ports =
              rule.IpProtocol === "-1" || rule.ToPortRange - rule.FromPortRange >= 16
                ? rule.IpProtocol === "-1" || (rule.FromPortRange <= 22 && rule.ToPortRange >= 22)
                  ? [22]
                  : []
                : Array.from(
                    { length: rule.ToPortRange - rule.FromPortRange + 1 },
                    (_, i) => rule.FromPortRange + i,
                  );
            for (const p of ports) want.add(`${vm.PublicIp}:${p}`);
          }
        }
      }
      const have = exposed.get(vmId) ?? new Set<string>();
      for (const a of have)
        if (!want.has(a)) {
          const [addr, port] = a.split(":");
          await machines.unexpose(vmId, addr as string, Number(port)).catch(() => {});
        }
      for (const a of want)
        if (!have.has(a)) {
          const [addr, port] = a.split(":");
          await machines.expose(vmId, addr as string, Number(port));
          log(`${vmId}: guest port 22 reachable at ${a}`);
        }
      if (want.size) exposed.set(vmId, want);
      else exposed.delete(vmId);
    },
  };

  const handlers: Handlers = {
    ...vmRoutes(world),
    ...storageRoutes(world),
    ...networkRoutes(world),
    ...accountTagRoutes(world),
  };
  for (const a of checker.actions)
    if (!handlers[a]) throw new Error(`the contract serves ${a} but no route does`);

  // Seed: the public image, a Net with a Subnet, default security groups.
  const owner = "000000000000";
  region.accounts.set(owner, { AccountId: owner, Email: "images@outscale.test" });
  const baseSnap = "snap-kiln0001";
  if (o.baseImage) disks.importSnapshot(baseSnap, o.baseImage.file, o.baseImage.format ?? "raw");
  else {
    fs.writeFileSync(disks.snapshotPath(baseSnap), "");
    fs.truncateSync(disks.snapshotPath(baseSnap), GiB);
  }
  const baseSize = Math.ceil(fs.statSync(disks.snapshotPath(baseSnap)).size / GiB);
  region.snapshots.set(baseSnap, {
    SnapshotId: baseSnap,
    VolumeSize: baseSize,
    State: "completed",
    Progress: 100,
    AccountId: owner,
    Description: "root of ami-kiln0001",
    CreationDate: "2026-01-01T00:00:00.000Z",
    PermissionsToCreateVolume: { GlobalPermission: true, AccountIds: [] },
    Tags: [],
  });
  const base: Image = {
    ImageId: "ami-kiln0001",
    ImageName: o.baseImage?.name ?? "kiln-appliance-2026.01.01",
    AccountId: owner,
    AccountAlias: "Outscale",
    State: "available",
    CreationDate: "2026-01-01T00:00:00.000Z",
    Description: "kiln's test appliance",
    Architecture: "x86_64",
    BootModes: ["legacy"],
    ImageType: "machine",
    RootDeviceName: "/dev/sda1",
    RootDeviceType: "bsu",
    BlockDeviceMappings: [
      {
        DeviceName: "/dev/sda1",
        Bsu: { SnapshotId: baseSnap, VolumeSize: baseSize, VolumeType: "standard", DeleteOnVmDeletion: true },
      },
    ],
    PermissionsToLaunch: { GlobalPermission: true, AccountIds: [] },
    ProductCodes: ["0001"],
    Tags: [],
  };
  region.images.set(base.ImageId, base);
  region.nets.set("vpc-kiln0001", {
    NetId: "vpc-kiln0001",
    IpRange: "10.0.0.0/16",
    State: "available",
    DhcpOptionsSetId: "dopt-kiln0001",
    Tenancy: "default",
    Tags: [],
  });
  region.subnets.set("subnet-kiln0001", {
    SubnetId: "subnet-kiln0001",
    NetId: "vpc-kiln0001",
    IpRange: "10.0.1.0/24",
    SubregionName: `${regionName}a`,
    State: "available",
    AvailableIpsCount: 251,
    MapPublicIpOnLaunch: false,
    Tags: [],
  });
  for (const netId of [undefined, "vpc-kiln0001"]) {
    const id = netId ? "sg-kiln0002" : "sg-kiln0001";
    region.securityGroups.set(id, {
      SecurityGroupId: id,
      SecurityGroupName: "default",
      Description: "default group",
      AccountId: accounts[0]?.accountId ?? "",
      ...(netId ? { NetId: netId } : {}),
      InboundRules: [],
      OutboundRules: [],
      Tags: [],
    });
  }
  const hostVmId = o.host ? (o.host.vmId ?? "i-kilnhost") : undefined;
  const hostSubregion = o.host?.subregion ?? `${regionName}a`;
  if (hostVmId)
    region.vms.set(hostVmId, {
      VmId: hostVmId,
      State: "running",
      StateReason: "",
      ImageId: base.ImageId,
      VmType: "tinav5.c2r4p2",
      SecurityGroups: [],
      PrivateIp: "10.9.0.10",
      PrivateDnsName: `ip-10-9-0-10.${regionName}.compute.internal`,
      Placement: { SubregionName: hostSubregion, Tenancy: "default" },
      BlockDeviceMappings: [],
      RootDeviceName: "/dev/sda1",
      RootDeviceType: "ebs",
      VmInitiatedShutdownBehavior: "stop",
      BsuOptimized: false,
      BootMode: "legacy",
      Architecture: "x86_64",
      CreationDate: "2026-01-01T00:00:00.000Z",
      ReservationId: "r-kilnhost",
      Tags: [],
      _host: true,
      _accountId: accounts[0]?.accountId ?? "",
    });
  for (const m of [
    region.images,
    region.snapshots,
    region.nets,
    region.subnets,
    region.securityGroups,
    region.vms,
  ])
    for (const id of m.keys()) region.seeded.add(id);
  const metadata = hostVmId ? await serveMetadata({ vmId: hostVmId, subregion: hostSubregion }) : undefined;

  // The server.
  const serverCa = makeCa("outscale-double CA");
  const serverCert = makeLeaf(serverCa, "api.kiln.test", "server");
  const ruleCas = accounts.flatMap((a) => a.caPems ?? []);
  const requests: OutscaleDouble["requests"] = [];
  const hanging = new Set<http.ServerResponse>();

  const send = (
    res: http.ServerResponse,
    status: number,
    body: Record<string, unknown>,
    headers: Record<string, string> = {},
  ) => {
    const text = JSON.stringify(body);
    res.writeHead(status, {
      "Content-Type": "application/json",
      "Content-Length": String(Buffer.byteLength(text)),
      Date: new Date(now()).toUTCString(),
      ...headers,
    });
    res.end(text);
  };
  const answerFault = (
    res: http.ServerResponse,
    f: OapiFault,
    requestId: string,
    headers?: Record<string, string>,
  ) =>
    send(
      res,
      f.status,
      {
        Errors: [{ Code: f.code, Type: f.type, Details: f.details }],
        ResponseContext: { RequestId: requestId },
      },
      headers,
    );

  const clientCertOk = (req: http.IncomingMessage, caPems: string[]): boolean => {
    const sock = req.socket as TLSSocket;
    if (!sock.authorized) return false;
    const peer = sock.getPeerX509Certificate?.();
    if (!peer) return false;
    return caPems.some((pem) => {
      try {
        const ca = new crypto.X509Certificate(pem);
        return peer.checkIssued(ca) && peer.verify(ca.publicKey);
      } catch {
        return false;
      }
    });
  };

  const handle = async (req: http.IncomingMessage, res: http.ServerResponse) => {
    const requestId = crypto.randomUUID();
    const url = new URL(req.url ?? "/", "https://127.0.0.1");
    const m = /^\/api\/v1\/([A-Za-z]+)$/.exec(url.pathname);
    const action = m?.[1] ?? url.pathname;
    const rec: OutscaleDouble["requests"][number] = { action, status: 0 };
    requests.push(rec);
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const c of req) {
      size += (c as Buffer).length;
      if (size > 2 * 1024 * 1024) break;
      chunks.push(c as Buffer);
    }
    const raw = Buffer.concat(chunks);
    const reply = (status: number, body: Record<string, unknown>, headers?: Record<string, string>) => {
      rec.status = status;
      log(`${action} ${status}`);
      send(res, status, body, headers);
    };
    const replyFault = (f: OapiFault, headers?: Record<string, string>) => {
      rec.status = f.status;
      rec.code = f.code;
      log(`${action} ${f.status} ${f.type} ${f.code} ${f.details}`);
      answerFault(res, f, requestId, headers);
    };
    try {
      if (req.method !== "POST")
        return replyFault(new OapiFault(405, "2", "AccessDenied", "ErrorHttpMethodNotAllowed"));
      if (!m) return replyFault(fault.unknownAction(url.pathname));
      const injected = faults.take(action);
      if (injected?.hang) {
        rec.status = -1;
        hanging.add(res);
        return;
      }
      if (injected) {
        const status = injected.status ?? 500;
        return replyFault(
          new OapiFault(
            status,
            injected.code ?? (status === 429 ? "25" : "2000"),
            injected.type ?? (status === 429 ? "AccessDenied" : "InternalError"),
            injected.details ?? (status === 429 ? "Request rate exceeded." : "Internal error."),
          ),
          injected.headers,
        );
      }
      const who = await verifier.verify({
        method: req.method,
        path: req.url ?? "/",
        headers: req.headers,
        body: raw,
      });
      if (who instanceof OapiFault) return replyFault(who);
      rec.accessKey = who.accessKey;
      const account = region.accounts.get(who.accountId);
      if (account?._caPems?.length && !clientCertOk(req, account._caPems))
        return replyFault(fault.accessRules());
      if (faults.takeThrottle(action)) return replyFault(fault.throttled(true));
      let body: unknown;
      try {
        body = raw.length ? JSON.parse(raw.toString("utf8")) : {};
      } catch {
        return replyFault(fault.badValue("The request body is not valid JSON."));
      }
      const bad = checker.request(action, body);
      if (bad) return replyFault(bad);
      const b = body as Record<string, unknown>;
      if (b.DryRun === true || faults.takeDrop(action))
        return reply(200, { ResponseContext: { RequestId: requestId } });
      const handler = handlers[action] as NonNullable<Handlers[string]>;
      const out = {
        ...(await handler(b, { accountId: who.accountId })),
        ResponseContext: { RequestId: requestId },
      };
      if (o.checkResponses ?? true) {
        const problems = checker.response(action, out);
        if (problems.length)
          throw new Error(`the double's ${action} answer breaks the contract: ${problems.join("; ")}`);
      }
      reply(200, out);
    } catch (e) {
      if (e instanceof OapiFault) return replyFault(e);
      log(`${action}: ${(e as Error).stack ?? e}`);
      replyFault(fault.internal((e as Error).message));
    }
  };

  const server = https.createServer(
    {
      key: serverCert.key,
      cert: `${serverCert.cert}${serverCa.cert}`,
      requestCert: true,
      rejectUnauthorized: false,
      ...(ruleCas.length ? { ca: ruleCas } : {}),
    },
    (req, res) => {
      handle(req, res).catch((e) => {
        if (!res.headersSent)
          send(res, 500, { Errors: [{ Code: "2000", Type: "InternalError", Details: String(e) }] });
      });
    },
  );
  const sockets = new Set<{ destroy(): void }>();
  server.on("secureConnection", (s) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
  });
  server.on("connection", (s) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
  });
  server.on("tlsClientError", () => {});
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  const port = (server.address() as AddressInfo).port;

  const faultApi: Faults = {
    inject(f) {
      const id = ++faults.seq;
      faults.list.set(id, { ...f, left: f.times ?? Number.POSITIVE_INFINITY });
      return id;
    },
    remove: (id) => void faults.list.delete(id),
    throttle(times, action) {
      faults.throttled = { left: times, ...(action ? { action } : {}) };
    },
    drop: (action, times = Number.POSITIVE_INFINITY) => void faults.dropped.set(action, times),
    failTransition: (kind, reason, times = 1) => void faults.failing.set(kind, { reason, left: times }),
    stickTransition: (kind) => void faults.stuck.add(kind),
    slowTransition: (kind, ms) => void faults.slow.set(kind, ms),
    dropTerminated: (on = true) => {
      faults.dropTerminated = on;
    },
    async loseGuest(vmId, opts = {}) {
      const vm = region.vms.get(vmId);
      if (!vm) throw new Error(`no VM ${vmId}`);
      vm.StateReason = "Server.InternalError: the host running the VM was lost";
      if (opts.vanish) {
        region.vms.delete(vmId);
        for (const mp of vm.BlockDeviceMappings) {
          region.volumes.delete(mp.Bsu.VolumeId);
          disks.removeVolume(mp.Bsu.VolumeId);
        }
      }
      vm._lost = true; // its exit terminates the VM (a crash, not a stop)
      await machines.kill(vmId);
    },
    clockOffset: (ms) => {
      faults.offsetMs = ms;
    },
    clear: () => faults.clear(),
  };

  const leftovers = (): Leftovers => {
    const fresh = <T>(m: Map<string, T>, keep: (x: T) => boolean = () => true) =>
      [...m.entries()].filter(([id, x]) => !region.seeded.has(id) && keep(x)).map(([id]) => id);
    const known = new Set([
      ...[...region.volumes.keys()].map((id) => `volumes/${id}.raw`),
      ...[...region.snapshots.keys()].map((id) => `snapshots/${id}.raw`),
    ]);
    return {
      vms: fresh(region.vms, (v) => v.State !== "terminated"),
      keypairs: [...region.keypairs.keys()],
      securityGroups: fresh(region.securityGroups),
      publicIps: fresh(region.publicIps),
      volumes: fresh(region.volumes),
      snapshots: fresh(region.snapshots),
      images: fresh(region.images),
      strayFiles: disks.files().filter((f) => !known.has(f)),
      ...(hostVolumes ? { hostDevices: hostVolumes.left() } : {}),
    };
  };

  let closed = false;
  const double: OutscaleDouble = {
    endpoint: `https://127.0.0.1:${port}/api/v1`,
    region: regionName,
    port,
    caCert: serverCa.cert,
    accessKey: firstKey,
    secretKey: firstSecret,
    accountId: accounts[0]?.accountId ?? "",
    baseImageId: base.ImageId,
    netId: "vpc-kiln0001",
    subnetId: "subnet-kiln0001",
    ...(metadata ? { metadataEndpoint: metadata.url } : {}),
    ...(hostVmId ? { hostVmId } : {}),
    state: region,
    faults: faultApi,
    machines,
    requests,
    leftovers,
    link(other) {
      const theirs = LINKS.get(other);
      if (!theirs) throw new Error("link() takes another double made by startOutscaleDouble()");
      if (other.region === regionName) throw new Error(`both doubles serve ${regionName}`);
      peers.set(other.region, theirs.self);
      theirs.peers.set(regionName, { region, disks });
    },
    makeClientCert(cn = "kiln client") {
      const ca = makeCa(`${cn} CA`);
      return { ca, client: makeLeaf(ca, cn, "client") };
    },
    async close() {
      if (closed) return;
      closed = true;
      for (const t of timers) clearTimeout(t);
      for (const r of hanging) r.destroy();
      await machines.close();
      hostVolumes?.close();
      await metadata?.close();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const s of sockets) s.destroy();
      });
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
  LINKS.set(double, { self: { region, disks }, peers });
  return double;
}
