/** Key pairs, security groups and their rules, public IPs, Nets, Subnets, Subregions, Regions. */
import crypto from "node:crypto";
import { fault } from "../api-error.js";
import { type Keypair, newId, type PublicIp, type SecurityGroup, type SgRule } from "../state.js";
import { type Handlers, matches, need, str, strs, view, type World } from "./common.js";

const sshString = (b: Buffer) => {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(b.length);
  return Buffer.concat([len, b]);
};
const mpint = (b: Buffer) =>
  sshString(b[0] !== undefined && b[0] & 0x80 ? Buffer.concat([Buffer.from([0]), b]) : b);

/** An RSA key pair made server-side (CreateKeypair without PublicKey): PEM private key, OpenSSH public line. */
function generateRsa(): { privateKey: string; publicLine: string } {
  const { privateKey, publicKey } = crypto.generateKeyPairSync("rsa", { modulusLength: 2048 });
  const jwk = publicKey.export({ format: "jwk" }) as { n: string; e: string };
  const blob = Buffer.concat([
    sshString(Buffer.from("ssh-rsa")),
    mpint(Buffer.from(jwk.e, "base64url")),
    mpint(Buffer.from(jwk.n, "base64url")),
  ]);
  return {
    privateKey: privateKey.export({ format: "pem", type: "pkcs1" }).toString(),
    publicLine: `ssh-rsa ${blob.toString("base64")}`,
  };
}

/** The key type and blob of an OpenSSH public key line, or a fault. */
function parsePublicLine(line: string): { type: string; blob: Buffer } {
  const m = /^(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp(?:256|384|521))\s+([A-Za-z0-9+/=]+)(\s.*)?$/.exec(
    line.trim(),
  );
  if (!m)
    throw fault.badValue(
      "The PublicKey is not an OpenSSH public key (ssh-ed25519, ssh-rsa or ecdsa-sha2-*).",
    );
  const blob = Buffer.from(m[2] as string, "base64");
  const n = blob.readUInt32BE(0);
  if (blob.subarray(4, 4 + n).toString() !== m[1])
    throw fault.badValue("The PublicKey's blob does not match its type.");
  return { type: m[1] as string, blob };
}

const md5Fingerprint = (blob: Buffer) =>
  crypto
    .createHash("md5")
    .update(blob)
    .digest("hex")
    .replace(/(..)(?!$)/g, "$1:");

/** Whether an IPv4 CIDR contains an address. */
export function cidrContains(cidr: string, ip: string): boolean {
  const [base, bits = "32"] = cidr.split("/");
  const toInt = (a: string) => a.split(".").reduce((n, p) => (n << 8) + Number(p), 0) >>> 0;
  const n = Number(bits);
  if (!base || !/^\d+\.\d+\.\d+\.\d+$/.test(base) || !(n >= 0 && n <= 32)) return false;
  const mask = n === 0 ? 0 : (~0 << (32 - n)) >>> 0;
  return (toInt(base) & mask) === (toInt(ip) & mask);
}

export function networkRoutes(w: World): Handlers {
  const r = w.region;
  const SG_FILTERS: Record<string, (g: SecurityGroup) => unknown> = {
    SecurityGroupIds: (g) => g.SecurityGroupId,
    SecurityGroupNames: (g) => g.SecurityGroupName,
    NetIds: (g) => g.NetId,
    Descriptions: (g) => g.Description,
    AccountIds: (g) => g.AccountId,
  };
  const resyncAll = async () => {
    for (const id of r.vms.keys()) await w.syncReach(id);
  };

  const parseRules = (body: Record<string, unknown>): SgRule[] => {
    const rules = (body.Rules as Array<Record<string, unknown>> | undefined) ?? [];
    const list = rules.length
      ? rules.map((x) => ({
          FromPortRange: x.FromPortRange as number,
          ToPortRange: x.ToPortRange as number,
          IpProtocol: (x.IpProtocol as string) ?? "-1",
          IpRanges: strs(x.IpRanges),
        }))
      : [
          {
            FromPortRange: body.FromPortRange as number,
            ToPortRange: body.ToPortRange as number,
            IpProtocol: (body.IpProtocol as string) ?? "-1",
            IpRanges: body.IpRange ? [body.IpRange as string] : [],
          },
        ];
    for (const x of list) {
      if (!["tcp", "udp", "icmp", "-1"].includes(x.IpProtocol))
        throw fault.badValue(`IpProtocol '${x.IpProtocol}' is not tcp, udp, icmp or -1.`);
      if (x.IpProtocol !== "-1" && (x.FromPortRange === undefined || x.ToPortRange === undefined))
        throw fault.missingParameter("FromPortRange");
      for (const c of x.IpRanges)
        if (!/^\d+\.\d+\.\d+\.\d+\/\d+$/.test(c))
          throw fault.badValue(`The IP range '${c}' is not in CIDR notation.`);
      if (!x.IpRanges.length) throw fault.missingParameter("IpRanges");
    }
    return list;
  };
  const sameRule = (a: SgRule, b: SgRule) =>
    a.FromPortRange === b.FromPortRange &&
    a.ToPortRange === b.ToPortRange &&
    a.IpProtocol === b.IpProtocol &&
    a.IpRanges.join() === b.IpRanges.join();

  return {
    ReadKeypairs(body) {
      const f = body.Filters as Record<string, unknown> | undefined;
      return {
        Keypairs: [...r.keypairs.values()]
          .filter((k) =>
            matches(k, f, {
              KeypairNames: (k) => k.KeypairName,
              KeypairFingerprints: (k) => k.KeypairFingerprint,
              KeypairTypes: (k) => k.KeypairType,
              KeypairIds: (k) => k.KeypairId,
            }),
          )
          .map(view),
      };
    },
    CreateKeypair(body) {
      const name = body.KeypairName as string;
      if (!/^[\x20-\x7e]{1,255}$/.test(name))
        throw fault.badValue("KeypairName must be 1–255 printable ASCII characters.");
      if (r.keypairs.has(name)) throw fault.conflict(`The key pair '${name}' already exists.`, "9011");
      let privateKey: string | undefined;
      let line: string;
      if (body.PublicKey !== undefined) {
        const b64 = body.PublicKey as string;
        if (!/^[A-Za-z0-9+/]+=*$/.test(b64)) throw fault.badValue("The PublicKey must be Base64-encoded.");
        line = Buffer.from(b64, "base64").toString("utf8").trim();
      } else {
        const k = generateRsa();
        privateKey = k.privateKey;
        line = k.publicLine;
      }
      const { type, blob } = parsePublicLine(line);
      const kp: Keypair = {
        KeypairName: name,
        KeypairId: newId("key"),
        KeypairFingerprint: md5Fingerprint(blob),
        KeypairType: type,
        Tags: [],
        _publicKey: line,
      };
      r.keypairs.set(name, kp);
      return { Keypair: { ...view(kp), ...(privateKey ? { PrivateKey: privateKey } : {}) } };
    },
    DeleteKeypair(body) {
      const name =
        str(body.KeypairName) ??
        [...r.keypairs.values()].find((k) => k.KeypairId === body.KeypairId)?.KeypairName;
      if (!name) throw fault.missingParameter("KeypairName");
      need(r.keypairs.get(name), "KeypairName", name, "5071");
      r.keypairs.delete(name);
      return {};
    },

    ReadSecurityGroups(body) {
      const f = body.Filters as Record<string, unknown> | undefined;
      for (const id of strs(f?.SecurityGroupIds))
        need(r.securityGroups.get(id), "SecurityGroupId", id, "5020");
      return {
        SecurityGroups: [...r.securityGroups.values()]
          .filter((g) => matches(g, f, SG_FILTERS as never))
          .map(view),
      };
    },
    CreateSecurityGroup(body, call) {
      const name = body.SecurityGroupName as string;
      const netId = str(body.NetId);
      if (netId) need(r.nets.get(netId), "NetId", netId, "5065");
      if (name.startsWith("sg-")) throw fault.badValue("SecurityGroupName cannot start with sg-.");
      if ([...r.securityGroups.values()].some((g) => g.SecurityGroupName === name && g.NetId === netId))
        throw fault.conflict(`The security group '${name}' already exists.`, "9008");
      const g: SecurityGroup = {
        SecurityGroupId: newId("sg"),
        SecurityGroupName: name,
        Description: body.Description as string,
        AccountId: call.accountId,
        ...(netId ? { NetId: netId } : {}),
        InboundRules: [],
        OutboundRules: netId
          ? [{ FromPortRange: -1, ToPortRange: -1, IpProtocol: "-1", IpRanges: ["0.0.0.0/0"] }]
          : [],
        Tags: [],
      };
      r.securityGroups.set(g.SecurityGroupId, g);
      return { SecurityGroup: view(g) };
    },
    async CreateSecurityGroupRule(body) {
      const g = need(
        r.securityGroups.get(body.SecurityGroupId as string),
        "SecurityGroupId",
        body.SecurityGroupId as string,
        "5020",
      );
      const flow = body.Flow as string;
      if (flow !== "Inbound" && flow !== "Outbound")
        throw fault.badValue("Flow must be Inbound or Outbound.");
      const list = flow === "Inbound" ? g.InboundRules : g.OutboundRules;
      for (const rule of parseRules(body)) {
        if (list.some((x) => sameRule(x, rule)))
          throw fault.conflict("This rule already exists in the security group.", "9021");
        list.push(rule);
      }
      await resyncAll();
      return { SecurityGroup: view(g) };
    },
    async DeleteSecurityGroupRule(body) {
      const g = need(
        r.securityGroups.get(body.SecurityGroupId as string),
        "SecurityGroupId",
        body.SecurityGroupId as string,
        "5020",
      );
      const key = body.Flow === "Inbound" ? "InboundRules" : "OutboundRules";
      const drop = parseRules(body);
      g[key] = g[key].filter((x) => !drop.some((d) => sameRule(x, d)));
      await resyncAll();
      return { SecurityGroup: view(g) };
    },
    DeleteSecurityGroup(body) {
      const id =
        str(body.SecurityGroupId) ??
        [...r.securityGroups.values()].find((g) => g.SecurityGroupName === body.SecurityGroupName)
          ?.SecurityGroupId;
      if (!id) throw fault.missingParameter("SecurityGroupId");
      const g = need(r.securityGroups.get(id), "SecurityGroupId", id, "5020");
      if (g.SecurityGroupName === "default")
        throw fault.badValue("The default security group cannot be deleted.");
      const user = [...r.vms.values()].find(
        (v) => v.State !== "terminated" && v.SecurityGroups.some((s) => s.SecurityGroupId === id),
      );
      if (user) throw fault.conflict(`The security group '${id}' is used by the VM '${user.VmId}'.`, "1004");
      r.securityGroups.delete(id);
      return {};
    },

    ReadPublicIps(body) {
      const f = body.Filters as Record<string, unknown> | undefined;
      return {
        PublicIps: [...r.publicIps.values()]
          .filter((p) =>
            matches(p, f, {
              PublicIpIds: (p) => p.PublicIpId,
              PublicIps: (p) => p.PublicIp,
              VmIds: (p) => p.VmId,
              LinkPublicIpIds: (p) => p.LinkPublicIpId,
            }),
          )
          .map(view),
      };
    },
    CreatePublicIp() {
      const p: PublicIp = { PublicIpId: newId("eipalloc"), PublicIp: r.allocateAddress(), Tags: [] };
      r.publicIps.set(p.PublicIpId, p);
      return { PublicIp: view(p) };
    },
    async LinkPublicIp(body) {
      const p =
        (str(body.PublicIpId) && r.publicIps.get(body.PublicIpId as string)) ||
        [...r.publicIps.values()].find((x) => x.PublicIp === body.PublicIp);
      if (!p) throw fault.notFound("PublicIpId", String(body.PublicIpId ?? body.PublicIp), "5025");
      const vmId = str(body.VmId);
      if (!vmId) throw fault.missingParameter("VmId");
      const vm = need(r.vms.get(vmId), "VmId", vmId, "5063");
      if (p.VmId && p.VmId !== vmId && body.AllowRelink !== true)
        throw fault.conflict(`The public IP is linked to ${p.VmId}.`, "9029");
      for (const other of r.publicIps.values())
        if (other.VmId === vmId) {
          delete other.VmId;
          delete other.LinkPublicIpId;
        }
      p.VmId = vmId;
      p.LinkPublicIpId = newId("eipassoc");
      vm.PublicIp = p.PublicIp;
      vm.PublicDnsName = `ows-${p.PublicIp.replace(/\./g, "-")}.${r.name}.compute.outscale.com`;
      await w.syncReach(vmId);
      return { LinkPublicIpId: p.LinkPublicIpId };
    },
    async UnlinkPublicIp(body) {
      const p = [...r.publicIps.values()].find((x) =>
        body.LinkPublicIpId ? x.LinkPublicIpId === body.LinkPublicIpId : x.PublicIp === body.PublicIp,
      );
      if (!p?.VmId)
        throw fault.notFound("LinkPublicIpId", String(body.LinkPublicIpId ?? body.PublicIp), "5026");
      const vm = r.vms.get(p.VmId);
      delete p.VmId;
      delete p.LinkPublicIpId;
      if (vm) {
        vm.PublicIp = undefined;
        vm.PublicDnsName = undefined;
        await w.syncReach(vm.VmId);
      }
      return {};
    },
    DeletePublicIp(body) {
      const p =
        (str(body.PublicIpId) && r.publicIps.get(body.PublicIpId as string)) ||
        [...r.publicIps.values()].find((x) => x.PublicIp === body.PublicIp);
      if (!p) throw fault.notFound("PublicIpId", String(body.PublicIpId ?? body.PublicIp), "5025");
      if (p.VmId) throw fault.conflict(`The public IP is linked to ${p.VmId}; unlink it first.`, "9029");
      r.publicIps.delete(p.PublicIpId);
      return {};
    },

    ReadNets(body) {
      const f = body.Filters as Record<string, unknown> | undefined;
      return {
        Nets: [...r.nets.values()]
          .filter((n) =>
            matches(n, f, {
              NetIds: (n) => n.NetId,
              IpRanges: (n) => n.IpRange,
              States: (n) => n.State,
              DhcpOptionsSetIds: (n) => n.DhcpOptionsSetId,
              IsDefault: () => false,
            }),
          )
          .map(view),
      };
    },
    ReadSubnets(body) {
      const f = body.Filters as Record<string, unknown> | undefined;
      return {
        Subnets: [...r.subnets.values()]
          .filter((s) =>
            matches(s, f, {
              SubnetIds: (s) => s.SubnetId,
              NetIds: (s) => s.NetId,
              States: (s) => s.State,
              SubregionNames: (s) => s.SubregionName,
              IpRanges: (s) => s.IpRange,
              AvailableIpsCounts: (s) => s.AvailableIpsCount,
            }),
          )
          .map(view),
      };
    },
    ReadSubregions(body) {
      const names = strs((body.Filters as Record<string, unknown> | undefined)?.SubregionNames);
      return {
        Subregions: r.subregions
          .filter((s) => !names.length || names.includes(s))
          .map((s) => ({ SubregionName: s, RegionName: r.name, State: "available", LocationCode: "PAR1" })),
      };
    },
    ReadRegions() {
      return { Regions: [{ RegionName: r.name, Endpoint: `api.${r.name}.outscale.com` }] };
    },
  };
}
