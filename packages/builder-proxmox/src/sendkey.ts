/**
 * The Proxmox VE keyboard: `PUT /nodes/{node}/qemu/{vmid}/sendkey` takes one key combination
 * per call (`key=shift-a`, `ctrl-alt-delete`) and cannot hold a key down, so a held modifier
 * (`<leftCtrlOn>`) is pressed along with every key until it is released.
 */
import { actionQcodes, type BootAction, type KeyDriver } from "@kiln/sdk";

function union(held: readonly string[], keys: readonly string[]): string[] {
  const out = [...held];
  for (const k of keys) if (!out.includes(k)) out.push(k);
  return out;
}

/**
 * The `sendkey` value for a key or character action, with `held` keys (qcodes) pressed along:
 * `shift-a`, `ctrl-alt-delete`. Undefined for waits and hold/release actions, which send
 * nothing by themselves.
 */
export function toProxmoxSendkey(action: BootAction, held: readonly string[] = []): string | undefined {
  if (action.type !== "char" && action.type !== "key") return undefined;
  return union(held, actionQcodes(action)).join("-");
}

/** A {@link KeyDriver} for APIs that take one `a-b-c` key combination per call (Proxmox sendkey). */
export function createSendkeyDriver(
  send: (key: string) => Promise<void>,
  options: { keyInterval?: number } = {},
): KeyDriver {
  return {
    press: (keys) => send(keys.join("-")),
    keyInterval: options.keyInterval ?? 100,
  };
}
