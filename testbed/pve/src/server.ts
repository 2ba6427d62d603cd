/**
 * A local Proxmox VE API double: HTTPS on 127.0.0.1, the real /api2/json wire protocol,
 * ticket + CSRF and API-token auth, privilege checks, every request checked against the
 * PVE 9.1 schema subset (spec/pve-api.subset.json), async calls as UPID tasks, VM disks as
 * real qcow2 files in a temp storage directory, and fault injection.
 *
 * This file is the server and its router; the resources live in routes/, the cluster model in
 * state.ts, the storage in volumes.ts, the faults in faults.ts.
 */
import crypto from "node:crypto";
import fs from "node:fs";
import http from "node:http";
import https from "node:https";
import type { AddressInfo } from "node:net";
import os from "node:os";
import path from "node:path";
import { makeSelfSigned } from "@kiln-testbed/doubles";
import { ApiError, paramError, STATUS_TEXT } from "./api-error.js";
import type { HostDns } from "./cloudinit.js";
import { configValueOf } from "./config-view.js";
import { hasTool } from "./exec.js";
import { createFaults, type Faults } from "./faults.js";
import { boundaryOf } from "./multipart.js";
import { type Auth, authorize, createAccess, type TokenDef, type UserDef } from "./routes/access.js";
import { clusterRoutes } from "./routes/cluster.js";
import type { Handlers } from "./routes/common.js";
import { nodesQemuRoutes } from "./routes/nodes-qemu.js";
import { qemuAgentRoutes } from "./routes/qemu-agent.js";
import { storageRoutes } from "./routes/storage.js";
import { taskRoutes } from "./routes/tasks.js";
import { FakeRunner, type VmRunner } from "./runner.js";
import { buildRoutes, createValidator, loadSubset, matchRoute, type ParamValue } from "./spec.js";
import { createCluster, type PveState } from "./state.js";
import { Tasks } from "./tasks.js";
import { createStorage } from "./volumes.js";
import { decodeForm, readBodyParams, readUpload, send, type UploadInfo } from "./wire.js";

export type { FaultSpec, Faults } from "./faults.js";
export type { Privileges, TokenDef, UserDef } from "./routes/access.js";
export type { PveState, VmState } from "./state.js";

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
  for (const d of ["template/iso", "template/cache", "images", "import", "lvm", ".tmp"])
    fs.mkdirSync(path.join(storageDir, d), { recursive: true });
  const hasQemuImg = hasTool("qemu-img");
  const access = createAccess(users, tokens);
  const { key, cert } = makeSelfSigned("pve-double.kiln.test");
  const fingerprint = new crypto.X509Certificate(cert).fingerprint256;

  const storage = createStorage(storageDir, hasQemuImg, opts.hostDns);
  const cluster = createCluster(node, runner, storage);
  const { faults, durationOf, forcedFailure, agentIsDown, takeFault } = createFaults(
    cluster,
    opts.taskDurationMs,
  );
  const tasks = new Tasks(node, durationOf, forcedFailure);

  const handlers: Handlers = {
    ...clusterRoutes(cluster, fingerprint),
    ...access.routes,
    ...nodesQemuRoutes(cluster, tasks, configValueOf(spec)),
    ...qemuAgentRoutes(cluster, agentIsDown),
    ...taskRoutes(node, tasks),
    ...storageRoutes(cluster, tasks),
  };

  const requests: PveState["requests"] = [];
  const log = opts.log ?? (() => {});
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

      const f = takeFault(rel, method);
      if (f) {
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
          auth = access.authenticate(req, method, isUpload);
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
        upload = await readUpload(req, boundary, uploadTmp, params);
      } else if (method === "POST" || method === "PUT" || method === "DELETE") {
        await readBodyParams(req, ctype, params);
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
  const track = (s: { destroy(): void; on(ev: "close", cb: () => void): unknown }) => {
    openSockets.add(s);
    s.on("close", () => openSockets.delete(s));
  };
  server.on("connection", track);
  server.on("secureConnection", track);
  server.on("tlsClientError", () => {});
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  const port = (server.address() as AddressInfo).port;

  const state: PveState = {
    node,
    storageDir,
    vms: cluster.vms,
    tasks: tasks.all,
    foreignVmids: cluster.foreignVmids,
    requests,
    async waitTask(upid) {
      const t = tasks.all.get(upid);
      if (!t) throw new Error(`no such task ${upid}`);
      await t.done;
      return t;
    },
    sshEndpoint: (vmid) => runner.sshEndpoint?.(vmid),
    volumePath: storage.volumePath,
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
