/**
 * Filters as Packer users write them, turned into OAPI's: Packer's names (`image-name`, the
 * plugin's subnet `sub-region-names` …) or OAPI's own (`ImageNames`); one value or a
 * comma-free list. Unlike the plugin, an unknown key is an error that names the known ones (the
 * plugin logs and ignores it, so `name:` silently matched every image), and `owners` are resolved:
 * `self` to the caller's account id, 12 digits to AccountIds, anything else to AccountAliases.
 */
import { errors } from "./errors.js";

type Table = Record<string, { key: string; kind?: "bool" | "int" }>;

const IMAGE: Table = {
  "account-alias": { key: "AccountAliases" },
  "account-id": { key: "AccountIds" },
  architecture: { key: "Architectures" },
  "image-id": { key: "ImageIds" },
  "image-name": { key: "ImageNames" },
  "virtualization-type": { key: "VirtualizationTypes" },
  "root-device-type": { key: "RootDeviceTypes" },
  "root-device-name": { key: "RootDeviceNames" },
  state: { key: "States" },
  description: { key: "Descriptions" },
  "tag-key": { key: "TagKeys" },
  "tag-value": { key: "TagValues" },
};
const NET: Table = {
  "ip-range": { key: "IpRanges" },
  "dhcp-options-set-id": { key: "DhcpOptionsSetIds" },
  "is-default": { key: "IsDefault", kind: "bool" },
  state: { key: "States" },
  "net-id": { key: "NetIds" },
  "tag-key": { key: "TagKeys" },
  "tag-value": { key: "TagValues" },
};
const SUBNET: Table = {
  "available-ips-counts": { key: "AvailableIpsCounts", kind: "int" },
  "ip-ranges": { key: "IpRanges" },
  "net-ids": { key: "NetIds" },
  states: { key: "States" },
  "subnet-ids": { key: "SubnetIds" },
  "sub-region-names": { key: "SubregionNames" },
  "tag-key": { key: "TagKeys" },
  "tag-value": { key: "TagValues" },
};
const SECURITY_GROUP: Table = {
  security_group_ids: { key: "SecurityGroupIds" },
  security_group_names: { key: "SecurityGroupNames" },
  tag_keys: { key: "TagKeys" },
  tag_values: { key: "TagValues" },
  tags: { key: "Tags" },
  "net-ids": { key: "NetIds" },
};

export const FILTER_TABLES = { image: IMAGE, net: NET, subnet: SUBNET, securityGroup: SECURITY_GROUP };
export type FilterKind = keyof typeof FILTER_TABLES;

/** OAPI filters from the build file's, or a configuration error naming the bad key. */
export function oapiFilters(
  kind: FilterKind,
  filters: Record<string, string> | undefined,
  option: string,
): Record<string, unknown> {
  const table = FILTER_TABLES[kind];
  const oapiNames = new Set(Object.values(table).map((t) => t.key));
  const out: Record<string, unknown> = {};
  for (const [name, raw] of Object.entries(filters ?? {})) {
    const t =
      table[name] ?? (oapiNames.has(name) ? Object.values(table).find((x) => x.key === name) : undefined);
    if (!t)
      throw errors.config(
        `${option}: unknown filter ${JSON.stringify(name)}`,
        `Known: ${Object.keys(table).join(", ")} (or OAPI's ${[...oapiNames].join(", ")}).${name === "name" ? " For an image's name, write image-name." : ""}`,
      );
    const values = String(raw)
      .split(",")
      .map((v) => v.trim())
      .filter(Boolean);
    if (t.kind === "bool") {
      if (!/^(true|false)$/.test(String(raw).trim()))
        throw errors.config(`${option}.${name} must be true or false`);
      out[t.key] = String(raw).trim() === "true";
    } else if (t.kind === "int") {
      const nums = values.map(Number);
      if (nums.some((n) => !Number.isInteger(n)))
        throw errors.config(`${option}.${name} must be whole numbers`);
      out[t.key] = nums;
    } else out[t.key] = values;
  }
  return out;
}

/** `owners` as image filters: self → the caller's account id, 12 digits → AccountIds, else AccountAliases. */
export function ownerFilters(owners: string[] | undefined, selfAccountId: string): Record<string, string[]> {
  const ids: string[] = [];
  const aliases: string[] = [];
  for (const o of owners ?? []) {
    if (o === "self") ids.push(selfAccountId);
    else if (/^\d{12}$/.test(o)) ids.push(o);
    else aliases.push(o);
  }
  if (ids.length && aliases.length)
    throw errors.config(
      `owners mixes account ids (${ids.join(", ")}) and aliases (${aliases.join(", ")})`,
      "OAPI matches ids and aliases together (an image must have both): list only ids, or only aliases.",
    );
  return {
    ...(ids.length ? { AccountIds: ids } : {}),
    ...(aliases.length ? { AccountAliases: aliases } : {}),
  };
}

export interface OmiLike {
  ImageId: string;
  CreationDate?: string;
}

/** The one image of several matches: the newest with most_recent, else an error listing them. */
export function pickImage<T extends OmiLike>(images: T[], mostRecent: boolean, what: string): T {
  if (!images.length)
    throw errors.config(
      `${what} matched no OMI`,
      "Check the filters and owners (kiln prints the filters it sent above).",
    );
  if (images.length > 1 && !mostRecent)
    throw errors.config(
      `${what} matched ${images.length} OMIs (${images
        .slice(0, 5)
        .map((i) => i.ImageId)
        .join(", ")}${images.length > 5 ? ", …" : ""})`,
      "Narrow the filters, or set most_recent: true to take the newest.",
    );
  return [...images].sort((a, b) =>
    String(b.CreationDate ?? "").localeCompare(String(a.CreationDate ?? "")),
  )[0] as T;
}
