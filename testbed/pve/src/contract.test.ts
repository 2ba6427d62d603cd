import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { login, request, waitTask } from "./client.js";
import { type PveDouble, startPveDouble } from "./server.js";
import { createValidator, loadSubset } from "./spec.js";

let d: PveDouble;
let s: Awaited<ReturnType<typeof login>>;
const MISSING = "property is missing and it is not optional";
const UNKNOWN = "property is not defined in schema and the schema does not allow additional properties";

beforeAll(async () => {
  d = await startPveDouble({ taskDurationMs: 0 });
  s = await login(d.url, d.caCert, "root@pam", "kiln");
});
afterAll(async () => {
  await d?.close();
});

async function expect400(
  method: string,
  path: string,
  o: Parameters<typeof request>[3],
  errors: Record<string, string>,
) {
  const r = await request(d.url, method, path, { ...s, ...o });
  expect(r.status).toBe(400);
  expect(r.reason).toBe("Parameter verification failed.");
  expect(r.body).toEqual({ data: null, message: "Parameter verification failed.\n", errors });
}

describe("request validation against the PVE 9.1 schema", () => {
  test("unknown parameter", async () => {
    await expect400(
      "POST",
      "/nodes/pve/qemu",
      { params: { vmid: 300, colour: "blue" } },
      { colour: UNKNOWN },
    );
  });

  test("missing required parameter", async () => {
    await expect400("POST", "/nodes/pve/qemu", { params: { name: "x" } }, { vmid: MISSING });
    await expect400("PUT", "/nodes/pve/qemu/300/sendkey", { params: {} }, { key: MISSING });
    await expect400("POST", "/access/ticket", { params: { username: "root@pam" } }, { password: MISSING });
  });

  test("wrong types: integer, boolean (PVE wants 0/1 in forms), number limits", async () => {
    await expect400(
      "POST",
      "/nodes/pve/qemu",
      { params: { vmid: 300, cores: "two", start: "true", sockets: 0 } },
      {
        cores: "type check ('integer') failed - got 'two'",
        start: "type check ('boolean') failed - got 'true'",
        sockets: "value must have a minimum value of 1",
      },
    );
  });

  test("enums and string formats", async () => {
    await expect400(
      "POST",
      "/nodes/pve/qemu",
      { params: { vmid: 300, ostype: "dos", name: "no_underscores", bios: "uefi" } },
      {
        ostype:
          "value 'dos' does not have a value in the enumeration 'other, wxp, w2k, w2k3, w2k8, wvista, win7, win8, win10, win11, l24, l26, solaris'",
        name: "invalid format - value does not look like a valid DNS name\n",
        bios: "value 'uefi' does not have a value in the enumeration 'seabios, ovmf'",
      },
    );
  });

  test("property strings are parsed like PVE (drive and net options)", async () => {
    await expect400(
      "POST",
      "/nodes/pve/qemu",
      { params: { vmid: 300, scsi0: "local:8,discard=maybe", net0: "virtio,firewall=1,colour=red" } },
      {
        scsi0:
          "invalid format - format error\nscsi0.discard: value 'maybe' does not have a value in the enumeration 'ignore, on'\n",
        net0: "invalid format - invalid key in comma-separated list property: colour\n",
      },
    );
  });

  test("indexed parameters exist only up to their limit (scsi0..scsi30)", async () => {
    await expect400(
      "POST",
      "/nodes/pve/qemu",
      { params: { vmid: 300, scsi31: "local:1" } },
      { scsi31: UNKNOWN },
    );
  });

  test("path parameters are validated too", async () => {
    await expect400(
      "GET",
      "/nodes/pve/qemu/abc/config",
      {},
      { vmid: "type check ('integer') failed - got 'abc'" },
    );
    // format (pve-vmid) is checked before minimum, as in PVE::JSONSchema::check_prop
    await expect400(
      "GET",
      "/nodes/pve/qemu/99/config",
      {},
      { vmid: "invalid format - value does not look like a valid VM ID\n" },
    );
    await expect400(
      "GET",
      "/nodes/bad_node/qemu",
      {},
      { node: "invalid format - value does not look like a valid node name\n" },
    );
  });

  test("query parameters of GET calls", async () => {
    await expect400(
      "GET",
      "/cluster/resources",
      { params: { type: "vms" } },
      {
        type: "value 'vms' does not have a value in the enumeration 'vm, storage, node, sdn'",
      },
    );
    await expect400(
      "GET",
      "/cluster/nextid",
      { params: { vmid: "x1" } },
      { vmid: "type check ('integer') failed - got 'x1'" },
    );
  });

  test("dependent parameters (requires)", async () => {
    await expect400(
      "POST",
      "/nodes/pve/storage/local/download-url",
      { params: { url: "http://127.0.0.1/x.iso", content: "iso", filename: "x.iso", checksum: "abc" } },
      { "checksum-algorithm": "missing property - 'checksum' requires this property" },
    );
  });

  test("JSON bodies: numbers and booleans are accepted, wrong JSON types are not", async () => {
    const ok = await request(d.url, "POST", "/nodes/pve/qemu", {
      ...s,
      json: { vmid: 301, cores: 2, memory: "2048", template: false, name: "json-vm" },
    });
    expect(ok.status).toBe(200);
    await waitTask(d.url, "pve", ok.body.data as string, s);
    await expect400(
      "POST",
      "/nodes/pve/qemu",
      { json: { vmid: 302, cores: true } },
      {
        cores: "type check ('integer') failed - got JSON::PP::Boolean",
      },
    );
  });

  test("unknown paths and methods are 501 like pveproxy", async () => {
    const r = await request(d.url, "GET", "/nodes/pve/lxc", s);
    expect(r.status).toBe(501);
    expect(r.reason).toBe("Method 'GET /api2/json/nodes/pve/lxc' not implemented");
    const m = await request(d.url, "DELETE", "/nodes/pve/qemu/301/config", s);
    expect(m.status).toBe(501);
  });

  test("API errors carry PVE's messages (missing VM, unknown node)", async () => {
    const r = await request(d.url, "GET", "/nodes/pve/qemu/999/config", s);
    expect(r.status).toBe(500);
    expect(r.reason).toBe("Configuration file 'nodes/pve/qemu-server/999.conf' does not exist");
    const n = await request(d.url, "GET", "/nodes/other/qemu", s);
    expect(n.status).toBe(500);
    expect(n.reason).toMatch(/^hostname lookup 'other' failed/);
  });
});

test("every method in the subset is served (none answers 501)", async () => {
  const spec = loadSubset();
  const values: Record<string, string> = {
    node: "pve",
    vmid: "100",
    storage: "local",
    upid: "UPID:pve:00000001:00000001:00000001:qmstart:100:root@pam:",
    volume: "local:iso/none.iso",
  };
  for (const [template, methods] of Object.entries(spec.paths)) {
    const p = template.replace(/\{([^}]+)\}/g, (_m, n: string) => encodeURIComponent(values[n] ?? "x"));
    for (const method of Object.keys(methods)) {
      const r = await request(d.url, method, p, s);
      expect(r.status, `${method} ${template}: ${r.reason}`).not.toBe(501);
    }
  }
});

describe("the validator on its own", () => {
  const spec = loadSubset();
  const v = createValidator(spec);
  const create = spec.paths["/nodes/{node}/qemu"]?.POST;
  if (!create) throw new Error("subset lacks POST /nodes/{node}/qemu");

  test("a typical create request is valid", () => {
    expect(
      v.validate(create, {
        node: "pve",
        vmid: "100",
        name: "kiln-build",
        memory: "2048",
        cores: "2",
        sockets: "1",
        cpu: "x86-64-v2-AES",
        ostype: "l26",
        bios: "seabios",
        machine: "q35",
        scsihw: "virtio-scsi-single",
        scsi0: "local:32,format=qcow2,discard=on,iothread=1,ssd=1",
        virtio1: "local:8",
        sata0: "local:4",
        ide2: "local:iso/debian.iso,media=cdrom",
        net0: "virtio,bridge=vmbr0,firewall=0",
        boot: "order=scsi0;ide2;net0",
        agent: "enabled=1,fstrim_cloned_disks=1",
        tags: "kiln;ci",
        pool: "builds",
        template: "0",
        serial0: "socket",
        vga: "serial0",
      }),
    ).toEqual({});
  });

  test("aliases with key aliases (net0: virtio=MAC)", () => {
    expect(
      v.validate(create, { node: "pve", vmid: "100", net0: "virtio=BC:24:11:00:00:01,bridge=vmbr0" }),
    ).toEqual({});
    expect(v.validate(create, { node: "pve", vmid: "100", net0: "virtio=01:24:11:00:00:01" })).toEqual({
      net0: "invalid format - format error\nnet0.macaddr: invalid format - value does not look like a valid unicast MAC address\n\n",
    });
  });

  test("the subset records source, version and licence", () => {
    expect(spec.source.pveVersion).toBe("9.1");
    expect(spec.source.licence).toMatch(/AGPL-3.0-or-later/);
  });
});
