/**
 * The inventory ansible gets for one run: the host line from inventory_file_template (Packer's
 * Go-template fields `{{ .HostAlias }}`, `{{ .Host }}`, `{{ .Port }}`, `{{ .User }}` and the build
 * variables), then one `[group]` section holding that line per group, then the empty groups.
 */
import { ansibleError, CODES, type Component } from "./errors.js";

export const DEFAULT_INVENTORY_TEMPLATE =
  "{{ .HostAlias }} ansible_host={{ .Host }} ansible_user={{ .User }} ansible_port={{ .Port }}\n";

export interface InventoryInput {
  template?: string | undefined;
  hostAlias: string;
  host: string;
  port: number;
  user: string;
  groups?: string[] | undefined;
  emptyGroups?: string[] | undefined;
  /** More fields for the template: the build variables (ID, SSHPublicKey …). */
  vars?: Record<string, string | number | boolean | undefined>;
}

const FIELD = /\{\{-?\s*\.([A-Za-z_][A-Za-z0-9_]*)\s*-?\}\}/g;
const GROUP = /^[A-Za-z0-9_][A-Za-z0-9_.:-]*$/;

/** Replace the `{{ .Name }}` fields of a Packer template; an unknown name is an options error. */
export function renderTemplate(
  option: string,
  template: string,
  fields: Record<string, string | number | boolean | undefined>,
): string {
  return template.replace(FIELD, (m, name: string) => {
    const v = fields[name];
    if (v === undefined) {
      throw ansibleError("ansible", CODES.options, `${option}: unknown field ${m}`, {
        hint: `Use ${Object.keys(fields)
          .filter((k) => fields[k] !== undefined)
          .map((f) => `{{ .${f} }}`)
          .join(", ")}.`,
      });
    }
    return String(v);
  });
}

function checkGroups(type: Component, option: string, groups: string[]): void {
  for (const g of groups) {
    if (!GROUP.test(g)) {
      throw ansibleError(type, CODES.options, `${option}: "${g}" is not a group name ansible accepts`, {
        hint: "Use letters, digits, _, - and . (no spaces or brackets).",
      });
    }
  }
}

/** The inventory file's text (INI format). */
export function inventoryText(i: InventoryInput): string {
  const fields = { ...(i.vars ?? {}), HostAlias: i.hostAlias, Host: i.host, Port: i.port, User: i.user };
  let line = renderTemplate("inventory_file_template", i.template ?? DEFAULT_INVENTORY_TEMPLATE, fields);
  if (!line.endsWith("\n")) line += "\n";
  const groups = i.groups ?? [];
  const empty = i.emptyGroups ?? [];
  checkGroups("ansible", "groups", groups);
  checkGroups("ansible", "empty_groups", empty);
  let text = line;
  for (const g of groups) text += `[${g}]\n${line}`;
  for (const g of empty) text += `[${g}]\n`;
  return text;
}

/** ansible-local's generated inventory: 127.0.0.1, in each of inventory_groups. */
export function localInventoryText(groups: string[] | undefined): string {
  const list = groups ?? [];
  checkGroups("ansible-local", "inventory_groups", list);
  if (list.length === 0) return "127.0.0.1\n";
  return list.map((g) => `[${g}]\n127.0.0.1\n`).join("");
}
