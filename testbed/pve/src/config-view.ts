/**
 * How GET /nodes/{node}/qemu/{vmid}/config answers a stored value: QemuServer's parse_vm_config
 * runs each value through PVE::JSONSchema::check_type, which returns int() for integers and
 * 1/0 for booleans, so those go out as JSON numbers (`"cores": 2`, `"kvm": 1`, `"numa": 0`);
 * strings, property strings and `number`s as stored.
 */
import type { ApiSubset, Schema } from "./spec.js";

export function configValueOf(spec: ApiSubset): (key: string, value: string) => string | number {
  const props = (
    spec.paths["/nodes/{node}/qemu/{vmid}/config"]?.GET?.returns as { properties?: Record<string, Schema> }
  )?.properties;
  const typeOf = (key: string): Schema["type"] | undefined => {
    const direct = props?.[key];
    if (direct) return direct.type;
    const m = /^([a-z_]+?)(\d+)$/.exec(key);
    return m ? props?.[`${m[1]}[n]`]?.type : undefined;
  };
  return (key, value) => {
    const t = typeOf(key);
    if (t === "integer" && /^-?\d+$/.test(value)) return Number.parseInt(value, 10);
    if (t === "boolean") return /^(1|on|yes|true)$/i.test(value) ? 1 : 0;
    return value;
  };
}
