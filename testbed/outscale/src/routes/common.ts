/** What every route module is given, and the helpers they share (filters, tags, transitions). */
import type { OapiFault } from "../api-error.js";
import { fault } from "../api-error.js";
import type { DiskStore } from "../disks.js";
import type { FaultState, TransitionKind } from "../faults.js";
import type { Machines } from "../machines.js";
import type { Region, ResourceTag } from "../state.js";

export type Body = Record<string, unknown>;
export interface Call {
  accountId: string;
}
export type Handler = (body: Body, call: Call) => Promise<Record<string, unknown>> | Record<string, unknown>;
export type Handlers = Record<string, Handler>;

export interface Durations {
  /** pending → running after the machine started. */
  vmStart: number;
  /** shutting-down → terminated. */
  vmTerminate: number;
  /** How long a terminated VM stays readable. */
  terminatedVisible: number;
  image: number;
  snapshot: number;
  volume: number;
}

export interface World {
  region: Region;
  disks: DiskStore;
  machines: Machines;
  faults: FaultState;
  durations: Durations;
  /** Run `fn` after the transition of `kind` has taken `ms` (slow/stuck/failing faults apply). */
  transition(kind: TransitionKind, ms: number, done: (failure?: string) => void): void;
  /** Other regions' doubles linked to this one (CreateImage from another region copies from them). */
  peers: Map<string, { region: Region; disks: DiskStore }>;
  /** Bring the guest's exposures in line with its state, public IP and security-group rules. */
  syncReach(vmId: string): Promise<void>;
  log(line: string): void;
}

export const str = (v: unknown): string | undefined => (typeof v === "string" ? v : undefined);
export const strs = (v: unknown): string[] => (Array.isArray(v) ? (v as string[]) : []);

/** Filter matching: each given filter must match (a list matches when any value does). */
export function matches<T>(
  obj: T,
  filters: Record<string, unknown> | undefined,
  table: Record<
    string,
    (o: T) => Array<string | number | boolean | undefined> | string | number | boolean | undefined
  >,
): boolean {
  if (!filters) return true;
  for (const [name, want] of Object.entries(filters)) {
    if (want === undefined) continue;
    const get = table[name] ?? TAG_FILTERS[name];
    if (!get)
      throw fault.badValue(`The filter '${name}' is not modelled by the kiln double (it is valid OAPI).`);
    const got = get(obj as never);
    const have = (Array.isArray(got) ? got : [got]).filter((x) => x !== undefined).map(String);
    const wanted = (Array.isArray(want) ? want : [want]).map(String);
    const hit = (w: string) =>
      GLOB_FILTERS.has(name) && /[*?]/.test(w) ? have.some((h) => glob(w).test(h)) : have.includes(w);
    if (!wanted.some(hit)) return false;
  }
  return true;
}

/** Filters whose values may hold * and ? (the SPEC's ReadImages example: ImageNames ["Ubuntu*"]). */
const GLOB_FILTERS = new Set(["ImageNames", "Descriptions", "SecurityGroupNames", "KeypairNames"]);
const glob = (w: string) =>
  new RegExp(
    `^${w
      .replace(/[.+^${}()|[\]\\]/g, "\\$&")
      .replace(/\*/g, ".*")
      .replace(/\?/g, ".")}$`,
  );

const TAG_FILTERS: Record<string, (o: { Tags: ResourceTag[] }) => string[]> = {
  TagKeys: (o) => o.Tags.map((t) => t.Key),
  TagValues: (o) => o.Tags.map((t) => t.Value),
  Tags: (o) => o.Tags.map((t) => `${t.Key}=${t.Value}`),
};

/** The object without its internal (`_…`) fields, as answered. */
export function view<T extends object>(o: T): Record<string, unknown> {
  return Object.fromEntries(Object.entries(o).filter(([k, v]) => !k.startsWith("_") && v !== undefined));
}

export function need<T>(v: T | undefined, kind: string, id: string, code?: string): T {
  if (v === undefined) throw fault.notFound(kind, id, code);
  return v;
}

export type { OapiFault };
