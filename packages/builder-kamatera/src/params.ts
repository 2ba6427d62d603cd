/**
 * What the builder sends, from the options: the server's name, its disks and their image
 * names, the create request, and the rule Kamatera applies to a server password.
 */
import { errors } from "./errors.js";
import { DEFAULT_DISK_GB, type KamateraOptions } from "./schema.js";

/** Kamatera's server names: at least 4 of a-z A-Z 0-9 ( ) _ - (the Packer plugin cuts at 40). */
export const NAME_RE = /^[a-zA-Z0-9()_-]{4,}$/;
const MAX_NAME = 40;

/**
 * The temporary server's name: `kiln-<source>-<nonce>`, at most 40 characters. The nonce makes
 * it unique, so cleanup can find exactly this build's server by name, and it has no regex
 * characters (the API matches `name` as the regex ^name$).
 */
export function serverName(source: string, nonce: string): string {
  const slug = source.replace(/[^a-zA-Z0-9_-]+/g, "-").replace(/^-+|-+$/g, "");
  const tail = `-${nonce}`;
  const head = `kiln${slug ? `-${slug}` : ""}`.slice(0, MAX_NAME - tail.length).replace(/-+$/, "");
  return head + tail;
}

export interface DiskPlan {
  index: number;
  sizeGB: number;
  imageName: string;
}

/**
 * The default image name: `kiln-<source>-<UTC time>-<4 hex>`, e.g.
 * kiln-ubuntu-20261201T120000Z-3f9a — readable and sortable like Packer's packer-{{timestamp}},
 * and unique also for builds of one source in the same second (a library name cannot be reused).
 */
export function defaultImageName(source: string, nowMs: number, nonce: string): string {
  const slug = source
    .replace(/[^a-zA-Z0-9_-]+/g, "-")
    .replace(/^-+|-+$/g, "")
    .slice(0, 40);
  const time = new Date(nowMs)
    .toISOString()
    .replace(/[-:]/g, "")
    .replace(/\.\d+Z$/, "Z");
  return `kiln-${slug ? `${slug}-` : ""}${time}-${nonce}`;
}

/** The disks of the server and the library image each one becomes (`base`: the default image name). */
export function diskPlan(
  o: Pick<KamateraOptions, "disk" | "disks" | "image_name">,
  base = "kiln-image",
): DiskPlan[] {
  if (o.disk !== undefined && o.disks !== undefined)
    throw errors.config(
      "set disk or disks, not both",
      "disk is one disk's size in GiB; disks: [{ size: 20 }, { size: 50 }] is a list.",
    );
  const first = o.image_name ?? base;
  const list = o.disks ?? [{ size: o.disk ?? DEFAULT_DISK_GB }];
  const plan = list.map((d, index) => ({
    index,
    sizeGB: Number((d as { size: number | string }).size),
    imageName: (d as { image_name?: string }).image_name ?? (index === 0 ? first : `${first}-disk${index}`),
  }));
  for (const d of plan)
    if (!Number.isInteger(d.sizeGB) || d.sizeGB < 1)
      throw errors.config(`disk ${d.index}: size ${JSON.stringify(d.sizeGB)} is not a whole number of GiB`);
  const names = plan.map((d) => d.imageName);
  const dup = names.find((n, i) => names.indexOf(n) !== i);
  if (dup)
    throw errors.config(
      `two disks would be saved as the same image ${dup}`,
      "Give each disk its own image_name.",
    );
  return plan;
}

/** Kamatera's password rule (cloudcli's check): 10–20 of a-z A-Z 0-9 !@#$^&*()~, with a lower-case letter, a capital and a digit. */
export function serverPasswordProblem(pw: string): string | undefined {
  if (pw.length < 10 || pw.length > 20) return "it must be 10 to 20 characters long";
  if (!/^[a-zA-Z0-9!@#$^&*()~]+$/.test(pw)) return "it may only hold a-z, A-Z, 0-9 and !@#$^&*()~";
  if (!/[a-z]/.test(pw) || !/[A-Z]/.test(pw) || !/[0-9]/.test(pw))
    return "it needs at least one lower-case letter, one capital and one digit";
  return undefined;
}

export const GENERATE = "__generate__";

export interface CreateInput {
  name: string;
  /** The public key to put in root's authorized_keys, or "" (disable_ssh / a password login). */
  publicKey: string;
  /** A password of the user's (ssh_password), or undefined to have Kamatera generate one. */
  password?: string | undefined;
  disks: DiskPlan[];
}

/**
 * The `POST /service/server` body. The fields the Packer plugin hard-codes keep its values
 * (hourly billing, no backup, not managed, one WAN interface with an automatic IP, powered on).
 */
export function createBody(
  o: Pick<KamateraOptions, "datacenter" | "image" | "cpu" | "ram" | "script">,
  input: CreateInput,
): Record<string, string> {
  const password = input.password ?? GENERATE;
  return {
    name: input.name,
    password,
    passwordValidate: password,
    "ssh-key": input.publicKey.trim(),
    datacenter: o.datacenter,
    image: o.image,
    cpu: o.cpu.toUpperCase(),
    ram: String(o.ram),
    disk: input.disks.map((d) => `id=${d.index},size=${d.sizeGB}`).join(" "),
    dailybackup: "no",
    managed: "no",
    network: "id=0,name=wan,ip=auto",
    quantity: "1",
    billingcycle: "hourly",
    monthlypackage: "",
    poweronaftercreate: "yes",
    ...(o.script ? { "script-file": o.script } : {}),
  };
}

/** Whether the build waits for the first-boot script to power the server off (disable_ssh). */
export function waitsForPowerOff(
  o: Pick<KamateraOptions, "disable_ssh" | "script" | "wait_for_power_off">,
): boolean {
  return o.disable_ssh && (o.wait_for_power_off ?? o.script !== undefined);
}
