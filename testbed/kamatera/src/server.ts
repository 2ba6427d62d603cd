/**
 * A local Kamatera API double: HTTP on 127.0.0.1, the cloudcli-server wire (JSON bodies, also on
 * GET; AuthClientId/AuthSecret; errors as `{"message": …}`), every request checked against the
 * contract (spec/kamatera-contract.json) and every answer too, commands on a queue, servers
 * backed by machines of a MachineHost, a hard-disk library of real disk files, and faults.
 *
 * This file is the server and its router; the resources live in routes/, the account in
 * state.ts, the commands in queue.ts, the faults in faults.ts.
 */
import fs from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import os from "node:os";
import path from "node:path";
import { Catalog, type ImageDef } from "./catalog.js";
import { checkAnswer, checkRequest, loadContract } from "./contract.js";
import { createFaults, type Faults } from "./faults.js";
import type { MachineHost } from "./machine.js";
import { MemoryHost } from "./memory-host.js";
import { type CommandKind, Queue } from "./queue.js";
import { catalogRoutes } from "./routes/catalog.js";
import type { Handlers, RouteContext } from "./routes/common.js";
import { hdlibRoutes } from "./routes/hdlib.js";
import { queueRoutes } from "./routes/queue.js";
import { serverRoutes } from "./routes/servers.js";
import { Account } from "./state.js";
import { ApiError, readJsonBody, sendJson } from "./wire.js";

export interface KamateraDoubleOptions {
  /** API keys: client id → secret (default { "kiln-client": "kiln-secret-0123456789" }). */
  clients?: Record<string, string>;
  /** What backs the servers (default: a MemoryHost). Closed with the double. */
  host?: MachineHost;
  /** Datacenters (id → description) and the public images of each (default: catalog.ts). */
  datacenters?: Record<string, string>;
  images?: ImageDef[];
  /** How long commands take at least, in ms: one number or per kind (default 40). */
  commandDurationMs?: number | Partial<Record<CommandKind | "*", number>>;
  /** How long an ACPI power-off may take before the double pulls the plug (default 60 s). */
  shutdownTimeoutMs?: number;
  /** Refuse to clone the disk of a running server (default: copy it, crash-consistent). */
  refuseRunningClone?: boolean;
  /** APP_DEBUG: post-processing errors carry the reason (e.g. the images available). */
  appDebug?: boolean;
  /** Where the hard-disk library's files go (default: a temp dir, removed on close). */
  libraryDir?: string;
  /** One line per request: method, path, status (never a body). */
  log?: (line: string) => void;
}

export interface KamateraDouble {
  /** http://127.0.0.1:PORT — the api_url. */
  url: string;
  port: number;
  clientId: string;
  secret: string;
  account: Account;
  faults: Faults;
  /** What is left: servers, unfinished commands, machines. */
  leftovers: Account["leftovers"];
  close(): Promise<void>;
}

const SECRET_FLAGS = new Set(["password", "passwordValidate"]);

export async function startKamateraDouble(opts: KamateraDoubleOptions = {}): Promise<KamateraDouble> {
  const contract = loadContract();
  const clients = opts.clients ?? { "kiln-client": "kiln-secret-0123456789" };
  const host = opts.host ?? new MemoryHost();
  const ownLibrary = !opts.libraryDir;
  const libraryDir = opts.libraryDir ?? fs.mkdtempSync(path.join(os.tmpdir(), "kiln-kamatera-lib-"));
  const catalog = new Catalog(opts.datacenters, opts.images);

  let account: Account | undefined;
  const fs_ = createFaults({
    async loseServer(name) {
      const s = [...(account as Account).servers.values()].find((x) => x.name === name);
      if (s) await (account as Account).remove(s, "Server was lost");
    },
    noExternalIp(name) {
      for (const s of (account as Account).servers.values()) if (s.name === name) s.noExternalIp = true;
    },
    snapshot(name, disk) {
      for (const s of (account as Account).servers.values())
        if (s.name === name) {
          const d = s.disks[disk];
          if (d)
            d.children.push({
              uuid: `${d.uuid.slice(0, 24)}${Date.now().toString(16).slice(-12)}`,
              sizeGB: d.sizeGB,
            });
        }
    },
  });
  const durations = opts.commandDurationMs ?? 40;
  const durationOf = (kind: CommandKind) => {
    const base = typeof durations === "number" ? durations : (durations[kind] ?? durations["*"] ?? 40);
    return Math.max(base, fs_.slowMs(kind));
  };
  const queue = new Queue(
    durationOf,
    fs_.faults,
    (name) => ![...(account as Account).servers.values()].some((s) => s.name === name && s.phase !== "gone"),
  );
  account = new Account(catalog, queue, host, libraryDir);
  const ctx: RouteContext = {
    account,
    faults: fs_,
    shutdownTimeoutMs: opts.shutdownTimeoutMs ?? 60_000,
    refuseRunningClone: opts.refuseRunningClone ?? false,
    appDebug: opts.appDebug ?? false,
  };
  const handlers: Handlers = {
    ...serverRoutes(ctx),
    ...hdlibRoutes(ctx),
    ...queueRoutes(ctx),
    ...catalogRoutes(ctx),
  };
  const log = opts.log ?? (() => {});
  const hanging = new Set<http.ServerResponse>();
  const sockets = new Set<import("node:net").Socket>();
  const acct = account;

  const handle = async (req: http.IncomingMessage, res: http.ServerResponse) => {
    const method = req.method ?? "GET";
    const url = new URL(req.url ?? "/", "http://127.0.0.1");
    const rel = url.pathname.replace(/\/+$/, "") || "/";
    const rec: Account["requests"][number] = { at: Date.now(), method, path: rel, status: 0 };
    acct.requests.push(rec);
    const inJson = String(req.headers["x-cloudcli-statusinjson"] ?? "") === "true";
    const reply = (status: number, body: unknown, headers?: Record<string, string>) => {
      rec.status = status;
      log(`${method} ${rel} ${status}`);
      if (inJson) sendJson(res, 200, { response: body, status }, headers);
      else sendJson(res, status, body, headers);
    };
    try {
      const fault = fs_.takeAnswer(rel, method);
      if (fault) {
        req.resume();
        if (fault.hang) {
          rec.status = -1;
          hanging.add(res);
          return;
        }
        const status = fault.status ?? 500;
        reply(status, { message: fault.message ?? http.STATUS_CODES[status] ?? "error" }, fault.headers);
        return;
      }
      const body = await readJsonBody(req);
      const query = Object.fromEntries(url.searchParams);
      const checked = checkRequest(contract, { method, path: rel, headers: req.headers, query, body });
      rec.endpoint = checked.endpoint.id;
      rec.flags = Object.fromEntries(
        Object.entries(checked.flags).map(([k, v]) => [k, SECRET_FLAGS.has(k) ? "***" : v]),
      );
      const id = req.headers.authclientid;
      const secret = req.headers.authsecret;
      if (typeof id !== "string" || typeof secret !== "string" || clients[id] !== secret)
        throw new ApiError(401, "Authentication failed");
      for (const fn of fs_.takeBefore(rel, method)) await fn();
      const handler = handlers[checked.endpoint.id];
      if (!handler) throw new ApiError(501, `not modelled: ${checked.endpoint.id}`);
      const answer = await handler(checked.flags);
      for (const p of checkAnswer(contract, checked.endpoint, answer))
        acct.contractViolations.push(`${checked.endpoint.id}: ${p}`);
      reply(200, answer);
    } catch (e) {
      if (!req.complete) req.resume();
      const err = e instanceof ApiError ? e : new ApiError(500, (e as Error).message ?? String(e));
      reply(err.status, { message: err.message });
    }
  };

  const server = http.createServer({ requestTimeout: 0 }, (req, res) => {
    handle(req, res).catch((e) => {
      if (!res.headersSent) sendJson(res, 500, { message: String((e as Error).message) });
    });
  });
  server.on("connection", (s) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  const [clientId, secret] = Object.entries(clients)[0] as [string, string];
  let closed = false;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    clientId,
    secret,
    account,
    faults: fs_.faults,
    leftovers: () => acct.leftovers(),
    async close() {
      if (closed) return;
      closed = true;
      queue.close();
      for (const r of hanging) r.destroy();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const s of sockets) s.destroy();
      });
      for (const s of [...acct.servers.values()]) await acct.remove(s, "the double closed");
      await host.close();
      if (ownLibrary) fs.rmSync(libraryDir, { recursive: true, force: true });
    },
  };
}
