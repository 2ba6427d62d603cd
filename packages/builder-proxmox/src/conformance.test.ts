/**
 * The builder conformance suite from @kiln/sdk (the one third-party builders run), for both
 * builders, against the Proxmox VE API double (FakeRunner: the VMs do not boot, so
 * `communicator: none`). After the suite, the double must hold nothing the builds made.
 */

import { testBuilder } from "@kiln/sdk/conformance";
import { FakeRunner, login, request, startPveDouble, waitTask } from "@kiln-testbed/pve";
import { afterAll, expect, it } from "vitest";
import plugin from "./index.js";

const PASSWORD = "conformance-Secret-1";
const pve = await startPveDouble({
  runner: new FakeRunner({ shutdownMs: 20 }),
  users: { "root@pam": { password: PASSWORD, privileges: "all" } },
  taskDurationMs: 10,
});
afterAll(() => pve.close());

const connection = {
  proxmox_url: pve.url,
  username: "root@pam",
  password: PASSWORD,
  insecure_skip_tls_verify: true,
  node: "pve",
  communicator: "none",
  task_timeout: "20s",
  memory: 256,
  network_adapters: [{ model: "virtio", bridge: "vmbr0" }],
};

// A template to clone, made through the API as a user would have one.
const session = await login(pve.url, pve.caCert, "root@pam", PASSWORD);
const call = async (path: string, params?: Record<string, string | number>) => {
  const r = await request(pve.url, "POST", path, { ...session, ...(params ? { params } : {}) });
  await waitTask(pve.url, "pve", r.body.data as string, session);
};
await call("/nodes/pve/qemu", { vmid: 900, name: "golden", scsi0: "local:1", net0: "virtio,bridge=vmbr0" });
await call("/nodes/pve/qemu/900/template");

testBuilder({
  plugin,
  type: "proxmox-iso",
  secrets: [PASSWORD],
  example: {
    ...connection,
    boot_iso: { cd_content: { "meta-data": "instance-id: conformance\n" }, cd_label: "cidata" },
    disks: [{ type: "scsi", storage_pool: "local", disk_size: "1G" }],
    boot_wait: "0s",
  },
  invalid: [
    { ...connection, memory: "lots" },
    { ...connection, disks: [{ disk_size: "1G" }] }, // storage_pool is required
    { ...connection, boot_iso: { iso_file: 7 } },
    { ...connection, node: undefined },
  ],
});

testBuilder({
  plugin,
  type: "proxmox-clone",
  secrets: [PASSWORD],
  example: { ...connection, clone_vm: "golden", full_clone: false },
  invalid: [
    { ...connection, clone_vm_id: "golden" },
    { ...connection, full_clone: "yes" },
    { ...connection, ipconfig: [{ address: "10.0.0.1/24" }] },
  ],
});

it("leaves nothing on the Proxmox host but the template it started with and those it built", () => {
  const vms = [...pve.state.vms.values()];
  expect(vms.filter((v) => v.config.template !== "1")).toEqual([]);
  expect([...pve.state.tasks.values()].filter((t) => t.status === "running")).toEqual([]);
});
