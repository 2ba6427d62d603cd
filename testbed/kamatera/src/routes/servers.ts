/**
 * Servers: create (the proxy's rules: image resolution, generated passwords, item lists), info,
 * list, the external-IP lookup, power and terminate. Each mutating call starts commands on the
 * queue; the work of a command drives the server's machine.
 */
import { randomUUID } from "node:crypto";
import { CPU_TYPES, DISK_SIZES, generatePassword } from "../catalog.js";
import type { FlagValue } from "../contract.js";
import type { CommandKind, CommandState } from "../queue.js";
import type { ServerState } from "../state.js";
import { ApiError } from "../wire.js";
import { commandIdsAnswer, type Handlers, type RouteContext } from "./common.js";

const GENERATE = "__generate__";

export function serverView(s: ServerState) {
  const ips = s.machine && !s.noExternalIp ? [s.machine.ip] : [];
  return {
    id: s.id,
    name: s.name,
    datacenter: s.datacenter,
    power: s.power,
    cpu: s.cpu,
    ram: s.ramMB,
    diskSizes: s.disks.map((d) => d.sizeGB),
    networks: [{ network: `wan-${s.datacenter.toLowerCase()}-kiln`, ips }],
    billing: s.billing,
    traffic: "t5000",
    managed: "no",
    backup: "no",
    priceMonthlyOn: "0.00",
    priceHourlyOn: "0.000",
    priceHourlyOff: "0.000",
  };
}

const externalIp = (s: ServerState): string | null => {
  const v = serverView(s);
  for (const n of v.networks) if (n.network.startsWith("wan-")) for (const ip of n.ips) if (ip) return ip;
  return null;
};

export function serverRoutes(ctx: RouteContext): Handlers {
  const { account } = ctx;
  const { queue, catalog, host } = account;

  const methodFailed = (why: string) =>
    new ApiError(500, `Failed to run command method (createServer)${ctx.appDebug ? `: ${why}` : ""}`);

  const create = (f: Record<string, FlagValue>) => {
    const dc = f.datacenter as string;
    if (!(dc in catalog.datacenters)) throw methodFailed(`Invalid datacenter ${dc}`);
    const image = catalog.resolve(f.image as string, dc);
    if (!image)
      throw methodFailed(
        `Invalid disk image ${f.image}. Available: ${catalog
          .inDatacenter(dc)
          .map((i) => i.name)
          .join(", ")}`,
      );
    if (f.quantity !== "1")
      throw new ApiError(400, "invalid flag value (quantity): the double models quantity 1 only");
    const networks = f.network as Array<Record<string, string>>;
    if (networks.length !== 1 || networks[0]?.name !== "wan" || networks[0]?.ip !== "auto")
      throw methodFailed("the double models one network: name=wan,ip=auto");
    const disks = (f.disk as Array<Record<string, string>>).map((d) => Number(d.size));
    if (disks.some((n) => !Number.isInteger(n) || n < 1)) throw methodFailed("Invalid disk size");
    let password = f.password as string | undefined;
    const key = (f["ssh-key"] as string | undefined) ?? "";
    const generated = password === GENERATE;
    if (generated || !password) password = generatePassword(); // with an ssh-key and no password: generated, discarded
    const name = f.name as string;
    const server: ServerState = {
      id: randomUUID(),
      name: name + (ctx.faults.takeRename() ?? ""),
      datacenter: dc,
      cpu: (f.cpu as string).toUpperCase(),
      ramMB: Number(f.ram),
      billing: f.billingcycle as string,
      power: "off",
      phase: "creating",
      disks: disks.map((sizeGB) => ({ uuid: randomUUID(), sizeGB, children: [] })),
      image,
      seed: {
        hostname: name,
        sshKeys: key
          .split("\n")
          .map((l) => l.trim())
          .filter(Boolean),
        password,
        ...(f["script-file"] ? { script: f["script-file"] as string } : {}),
      },
      noExternalIp: false,
      powerOnAfterCreate: f.poweronaftercreate === "yes",
    };
    const dropLog = ctx.faults.takeDropLog();
    const taken = account.byName(server.name.replace(/[^a-zA-Z0-9_-]/g, "\\$&"), "createServer").length > 0;
    account.servers.set(server.id, server);
    const cmd = queue.start("create", server.name, "Create server", async () => {
      if (taken) {
        server.phase = "gone";
        account.servers.delete(server.id);
        throw new Error(`Server name ${server.name} is already in use`);
      }
      const type = CPU_TYPES.find((t) => t.id === server.cpu.slice(-1));
      const cores = Number(server.cpu.slice(0, -1));
      const refuse = () => {
        server.phase = "gone";
        account.servers.delete(server.id);
      };
      if (!type?.cpuCores.includes(cores) || !type.ramMB.includes(server.ramMB)) {
        refuse();
        throw new Error(
          `Invalid server configuration: cpu ${server.cpu} with ${server.ramMB} MB RAM is not offered`,
        );
      }
      if (disks.some((d) => !DISK_SIZES.includes(d))) {
        refuse();
        throw new Error(`Invalid disk size (offered: ${DISK_SIZES.join(", ")} GB)`);
      }
      const machine = await host.create({
        id: server.id,
        name: server.name,
        cpus: cores,
        ramMiB: server.ramMB,
        disks: server.disks.map((d, i) => ({
          sizeGB: d.sizeGB,
          ...(i === 0 && image.file ? { base: image.file } : {}),
        })),
        seed: server.seed,
      });
      if (server.phase === "gone") {
        await machine.destroy();
        throw new Error("Server was terminated while it was created");
      }
      server.machine = machine;
      machine.onExit(() => {
        server.power = "off";
      });
      if (server.powerOnAfterCreate) {
        await machine.powerOn();
        server.power = "on";
      }
      server.phase = "ready";
      return dropLog
        ? "Server created\n"
        : `Creating server\nName: ${server.name}\nDatacenter: ${dc}\nImage: ${image.name}\nIP: ${externalIp(server) ?? "-"}\nServer created\n`;
    });
    return generated ? { commandIds: [String(cmd.id)], password } : [String(cmd.id)];
  };

  /** One command per selected server. */
  const perServer = (
    f: Record<string, FlagValue>,
    method: string,
    kind: CommandKind,
    description: string,
    work: (s: ServerState, cmd: CommandState) => Promise<string>,
  ) => {
    const cmds: CommandState[] = account
      .select(f, method)
      .map((s) => queue.start(kind, s.name, description, (cmd) => work(s, cmd)));
    return commandIdsAnswer(ctx, cmds);
  };

  const needMachine = (s: ServerState) => {
    if (s.phase !== "ready" || !s.machine) throw new Error(`Server ${s.name} is not ready (${s.phase})`);
    return s.machine;
  };

  return {
    "server.create": create,
    "server.info": (f) => account.select(f, "serversInfo", f["allow-no-servers"] === true).map(serverView),
    "server.list": () =>
      [...account.servers.values()].map((s) => ({
        id: s.id,
        name: s.name,
        datacenter: s.datacenter,
        power: s.power,
      })),
    "server.ssh": (f) => {
      const hits = account.select(f, "serverAttach");
      if (hits.length > 1) throw new ApiError(500, `Too many matching servers (name='${f.name ?? ""}')`);
      const s = hits[0] as ServerState;
      const ip = externalIp(s);
      if (!ip) throw new ApiError(500, `No external IP for server name ${f.name ?? s.name}`);
      return [{ id: s.id, name: s.name, externalIp: ip }];
    },
    "server.poweroff": (f) =>
      perServer(f, "poweroffServer", "poweroff", "Power off server", async (s) => {
        const m = needMachine(s);
        if (s.power === "off") throw new Error(`Server ${s.name} is already powered off`);
        let how = "ACPI shutdown";
        try {
          await m.shutdown(ctx.shutdownTimeoutMs);
        } catch {
          await m.powerOff();
          how = `no ACPI shutdown within ${ctx.shutdownTimeoutMs} ms: powered off`;
        }
        s.power = "off";
        return `Server ${s.name} powered off (${how})\n`;
      }),
    "server.poweron": (f) =>
      perServer(f, "poweronServer", "poweron", "Power on server", async (s) => {
        const m = needMachine(s);
        if (s.power === "on") throw new Error(`Server ${s.name} is already powered on`);
        await m.powerOn();
        s.power = "on";
        return `Server ${s.name} powered on\n`;
      }),
    "server.reboot": (f) =>
      perServer(f, "rebootServer", "reboot", "Restart server", async (s) => {
        const m = needMachine(s);
        if (s.power === "on") await m.shutdown(ctx.shutdownTimeoutMs).catch(() => m.powerOff());
        await m.powerOn();
        s.power = "on";
        return `Server ${s.name} restarted\n`;
      }),
    "server.terminate": (f) => {
      if (f.dryrun === true)
        return { dryrun: true, "server-names": account.select(f, "terminateServer").map((s) => s.name) };
      return perServer(f, "terminateServer", "terminate", "Terminate server", async (s, cmd) => {
        if (s.power === "on" && f.force !== true)
          throw new Error(`Server ${s.name} is powered on: terminate needs force`);
        await account.remove(s, "Server was terminated", cmd);
        return `Server ${s.name} terminated\n`;
      });
    },
  };
}
