/**
 * The double's model of one OUTSCALE region: accounts, images, snapshots, volumes, VMs, key
 * pairs, security groups, public IPs, Nets/Subnets and tags. Objects hold the OAPI fields as
 * answered (plus a few internal ones, which the routes leave out), so a Read* answer is the
 * object itself. States move on timers (durations), or when the machine reports its exit.
 */
import crypto from "node:crypto";

export interface ResourceTag {
  Key: string;
  Value: string;
}

export interface Image {
  ImageId: string;
  ImageName: string;
  AccountId: string;
  AccountAlias?: string;
  State: "pending" | "available" | "failed";
  StateComment?: { StateCode?: string; StateMessage?: string };
  CreationDate: string;
  Description: string;
  Architecture: string;
  BootModes: string[];
  ImageType: string;
  RootDeviceName: string;
  RootDeviceType: string;
  BlockDeviceMappings: Array<{
    DeviceName: string;
    Bsu: {
      SnapshotId?: string;
      VolumeSize?: number;
      VolumeType?: string;
      DeleteOnVmDeletion?: boolean;
      Iops?: number;
    };
  }>;
  PermissionsToLaunch: { GlobalPermission: boolean; AccountIds: string[] };
  ProductCodes: string[];
  Tags: ResourceTag[];
}

export interface Snapshot {
  SnapshotId: string;
  VolumeId?: string;
  VolumeSize: number;
  State: "in-queue" | "pending" | "completed" | "error" | "deleting";
  Progress: number;
  AccountId: string;
  Description: string;
  CreationDate: string;
  PermissionsToCreateVolume: { GlobalPermission: boolean; AccountIds: string[] };
  Tags: ResourceTag[];
}

export interface Volume {
  VolumeId: string;
  Size: number;
  SubregionName: string;
  State: "creating" | "available" | "in-use" | "deleting" | "error";
  VolumeType: string;
  Iops?: number;
  SnapshotId?: string;
  CreationDate: string;
  LinkedVolumes: Array<{
    VmId: string;
    DeviceName: string;
    State: string;
    DeleteOnVmDeletion: boolean;
    VolumeId: string;
  }>;
  Tags: ResourceTag[];
}

export type VmState =
  | "pending"
  | "running"
  | "stopping"
  | "stopped"
  | "shutting-down"
  | "terminated"
  | "quarantine";

export interface Vm {
  VmId: string;
  State: VmState;
  StateReason: string;
  ImageId: string;
  VmType: string;
  KeypairName?: string;
  SecurityGroups: Array<{ SecurityGroupId: string; SecurityGroupName: string }>;
  SubnetId?: string;
  NetId?: string;
  PrivateIp: string;
  PrivateDnsName: string;
  PublicIp?: string;
  PublicDnsName?: string;
  Placement: { SubregionName: string; Tenancy: string };
  BlockDeviceMappings: Array<{
    DeviceName: string;
    Bsu: { VolumeId: string; State: string; LinkDate: string; DeleteOnVmDeletion: boolean };
  }>;
  RootDeviceName: string;
  RootDeviceType: string;
  VmInitiatedShutdownBehavior: string;
  BsuOptimized: boolean;
  BootMode: string;
  Architecture: string;
  ClientToken?: string;
  CreationDate: string;
  ReservationId: string;
  Tags: ResourceTag[];
  /** Internal: decoded user data (for the seed), when it was deleted (terminated VMs fade). */
  _userData?: string;
  _terminatedAt?: number;
  /** Internal: the guest was lost (a fault): its exit terminates the VM. */
  _lost?: boolean;
  /** Internal: the machine the double runs on (outscale-chroot's host), no guest behind it. */
  _host?: boolean;
  _accountId: string;
}

export interface Keypair {
  KeypairName: string;
  KeypairId: string;
  KeypairFingerprint: string;
  KeypairType: string;
  Tags: ResourceTag[];
  _publicKey: string;
}

export interface SgRule {
  FromPortRange: number;
  ToPortRange: number;
  IpProtocol: string;
  IpRanges: string[];
}

export interface SecurityGroup {
  SecurityGroupId: string;
  SecurityGroupName: string;
  Description: string;
  AccountId: string;
  NetId?: string;
  InboundRules: SgRule[];
  OutboundRules: SgRule[];
  Tags: ResourceTag[];
}

export interface PublicIp {
  PublicIpId: string;
  PublicIp: string;
  VmId?: string;
  LinkPublicIpId?: string;
  Tags: ResourceTag[];
}

export interface Net {
  NetId: string;
  IpRange: string;
  State: string;
  DhcpOptionsSetId: string;
  Tenancy: string;
  Tags: ResourceTag[];
}

export interface Subnet {
  SubnetId: string;
  NetId: string;
  IpRange: string;
  SubregionName: string;
  State: string;
  AvailableIpsCount: number;
  MapPublicIpOnLaunch: boolean;
  Tags: ResourceTag[];
}

export interface Account {
  AccountId: string;
  Email: string;
  /** Internal: CAs (PEM) whose client certificates the account's API access rules require. */
  _caPems?: string[];
}

export const newId = (prefix: string) => `${prefix}-${crypto.randomBytes(4).toString("hex")}`;
export const isoNow = () => new Date().toISOString();

export class Region {
  readonly images = new Map<string, Image>();
  readonly snapshots = new Map<string, Snapshot>();
  readonly volumes = new Map<string, Volume>();
  readonly vms = new Map<string, Vm>();
  readonly keypairs = new Map<string, Keypair>();
  readonly securityGroups = new Map<string, SecurityGroup>();
  readonly publicIps = new Map<string, PublicIp>();
  readonly nets = new Map<string, Net>();
  readonly subnets = new Map<string, Subnet>();
  readonly accounts = new Map<string, Account>();
  /** Ids present before any request: the leftover listing ignores them. */
  readonly seeded = new Set<string>();
  /**
   * Public IP addresses handed out without a machines' allocator: 203.0.113.N, N from 10
   * (RFC 5737 TEST-NET-3, documentation addresses: never routed; a cloud never hands out 127.x).
   */
  private nextAddress = 10;
  private nextPrivate = 10;

  constructor(
    readonly name: string,
    readonly subregions: string[],
    private readonly allocator?: () => string,
  ) {}

  allocateAddress(): string {
    if (this.allocator) return this.allocator();
    if (this.nextAddress > 250) throw new Error("no public IP left in 203.0.113.0/24");
    return `203.0.113.${this.nextAddress++}`;
  }
  allocatePrivate(netRange?: string): string {
    const n = this.nextPrivate++;
    return netRange
      ? `10.0.${Math.floor(n / 250)}.${(n % 250) + 4}`
      : `172.31.${Math.floor(n / 250)}.${(n % 250) + 4}`;
  }

  /** Every taggable resource by id. */
  resource(id: string): { Tags: ResourceTag[] } | undefined {
    return (
      this.vms.get(id) ??
      this.images.get(id) ??
      this.snapshots.get(id) ??
      this.volumes.get(id) ??
      this.securityGroups.get(id) ??
      this.publicIps.get(id) ??
      this.nets.get(id) ??
      this.subnets.get(id) ??
      [...this.keypairs.values()].find((k) => k.KeypairId === id)
    );
  }

  resourceType(id: string): string {
    if (this.vms.has(id)) return "vm";
    if (this.images.has(id)) return "image";
    if (this.snapshots.has(id)) return "snapshot";
    if (this.volumes.has(id)) return "volume";
    if (this.securityGroups.has(id)) return "security-group";
    if (this.publicIps.has(id)) return "public-ip";
    if (this.nets.has(id)) return "vpc";
    if (this.subnets.has(id)) return "subnet";
    return "keypair";
  }
}
