/**
 * outscale-bsu and outscale-omi against the OAPI double (in-memory machines, communicator none):
 * what they send (key pair, security group, user data, mappings, tags, permissions), the data
 * source's rules, and every fault ending in a clear error with nothing left on the double.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { buildFile } from "@kiln/sdk/testing";
import { InMemoryMachines, NOTHING_LEFT, startOutscaleDouble } from "@kiln-testbed/outscale";
import { beforeEach, describe, expect, it } from "vitest";
import { useDouble } from "./test-double.js";

const RESOLVER = {
  standard: {
    builder: { "outscale-bsu": "@kiln/builder-outscale", "osc-bsu": "@kiln/builder-outscale" },
    datasource: { "outscale-omi": "@kiln/builder-outscale", "osc-omi": "@kiln/builder-outscale" },
  },
};
const machines = new InMemoryMachines({ shutdownMs: 10 });
let n = 0;

const t = useDouble("api", () => ({
  machines,
  durations: { vmStart: 10, vmTerminate: 10, image: 20, snapshot: 10 },
}));
beforeEach(() => t.osc.faults.clear());

const bsu = (extra = "", name = `kiln-api-${++n}`) => `kiln: 1
sources:
  vm:
    type: outscale-bsu
${t.accessYaml}
    vm_type: tinav5.c1r1p2
    source_omi: ${t.osc.baseImageId}
    omi_name: ${name}
    communicator: none
    vm_ready_timeout: 20s
    image_timeout: 20s
${extra}
builds:
  - sources: [vm]
`;

const build = (yaml: string, opts: Parameters<typeof buildFile>[3] = {}) =>
  buildFile(t.dir, `b-${++n}.yaml`, yaml, { resolver: RESOLVER, ...opts });

/** The OMIs of the builds that succeeded: theirs to keep. */
const kept: string[] = [];
/** What is left on the double besides finished OMIs (and their snapshots). */
function nothingLeft(extra: string[] = []) {
  const keepImages = [...kept, ...extra].filter((i) => t.osc.state.images.has(i));
  const left = t.osc.leftovers();
  const keepSnaps = keepImages.flatMap((id) =>
    (t.osc.state.images.get(id)?.BlockDeviceMappings ?? []).map((m) => m.Bsu.SnapshotId),
  );
  expect({
    ...left,
    images: left.images.filter((i) => !keepImages.includes(i)),
    snapshots: left.snapshots.filter((s) => !keepSnaps.includes(s)),
  }).toEqual(NOTHING_LEFT);
}
const errorOf = (r: Awaited<ReturnType<typeof buildFile>>) =>
  String((r.result.runs[0]?.error as Error | undefined)?.message);
const omiOf = (r: Awaited<ReturnType<typeof buildFile>>) => {
  const id =
    (r.result.runs[0]?.artifacts[0]?.data as { omis?: Record<string, string> } | undefined)?.omis?.[
      t.osc.region
    ] ?? "";
  kept.push(id);
  return id;
};

describe("outscale-bsu sends what it should", () => {
  it("a group open to the CIDR on ssh_port, user data encoded once, mappings, tags, permissions", async () => {
    const userData = "#cloud-config\nruncmd: [echo hi]\n";
    const r = await build(
      bsu(`    temporary_security_group_source_cidr: 127.0.0.1/32
    ssh_port: 2222
    user_data: ${JSON.stringify(userData)}
    subnet_id: ${t.osc.subnetId}
    associate_public_ip_address: true
    launch_block_device_mappings:
      - { device_name: /dev/sda1, volume_size: 2, delete_on_vm_deletion: true }
      - { device_name: /dev/xvdb, volume_size: 1, volume_type: gp2 }
    run_tags: { team: kiln }
    run_volume_tags: { disk: yes }
    tags: { os: appliance }
    snapshot_tags: { kind: root }
    omi_account_ids: ["111122223333"]
    snapshot_account_ids: ["444455556666"]
    omi_description: made by kiln`),
    );
    expect(r.result.ok, r.log).toBe(true);
    const id = omiOf(r);
    const img = t.osc.state.images.get(id);
    expect(img?.Description).toBe("made by kiln");
    expect(img?.Tags).toEqual([{ Key: "os", Value: "appliance" }]);
    expect(img?.PermissionsToLaunch.AccountIds).toEqual(["111122223333"]);
    expect(
      img?.BlockDeviceMappings.map((m) => [m.DeviceName, m.Bsu.VolumeSize, m.Bsu.DeleteOnVmDeletion]),
    ).toEqual([
      ["/dev/sda1", 2, true],
      ["/dev/xvdb", 1, false],
    ]);
    const snaps = img?.BlockDeviceMappings.map((m) => t.osc.state.snapshots.get(m.Bsu.SnapshotId as string));
    for (const s of snaps ?? []) {
      expect(s?.PermissionsToCreateVolume.AccountIds).toEqual(["444455556666"]);
      expect(s?.Tags).toEqual([
        { Key: "os", Value: "appliance" },
        { Key: "kind", Value: "root" },
      ]);
    }
    const started = machines.started.at(-1);
    expect(started?.seed.userData).toBe(userData); // base64 once: the double decodes it back to the text
    expect(started?.seed.sshAuthorizedKeys).toEqual([]); // communicator none: no key pair (the e2e test logs in with one)
    // the temporary group: only the CIDR, only the port; in the subnet's Net
    const created = t.osc.requests.filter((q) => q.action === "CreateSecurityGroupRule" && q.status === 200);
    expect(created).toHaveLength(1);
    expect(r.log).toMatch(/TCP 2222 from 127\.0\.0\.1\/32/);
    nothingLeft([id]);
  });

  it("an OMI of the same name stops the build before anything is made; force_deregister replaces it", async () => {
    const name = `kiln-dup-${process.pid}`;
    const first = await build(bsu("", name));
    expect(first.result.ok, first.log).toBe(true);
    const old = omiOf(first);
    const again = await build(bsu("", name));
    expect(again.result.ok).toBe(false);
    expect(errorOf(again)).toMatch(
      new RegExp(`\\[outscale-bsu\\] an OMI named "${name}" exists already \\(${old}\\)`),
    );
    const forced = await build(bsu("    force_deregister: true\n    force_delete_snapshot: true", name));
    expect(forced.result.ok, forced.log).toBe(true);
    expect(t.osc.state.images.has(old)).toBe(false);
    nothingLeft([omiOf(forced)]);
  });

  it("source_omi_filter with owners finds the image; without owners it is a config error", async () => {
    const ok = await build(
      bsu("    source_omi_filter: { filters: { image-name: kiln-appliance-* }, owners: [Outscale] }").replace(
        `    source_omi: ${t.osc.baseImageId}\n`,
        "",
      ),
    );
    expect(ok.result.ok, ok.log).toBe(true);
    const bad = await build(
      bsu("    source_omi_filter: { filters: { image-name: x } }").replace(
        `    source_omi: ${t.osc.baseImageId}\n`,
        "",
      ),
    );
    expect(errorOf(bad)).toMatch(/source_omi_filter needs owners/);
    nothingLeft([omiOf(ok)]);
  });
});

describe("faults end in a clear error with nothing left", () => {
  it("a failing image: the state and OUTSCALE's reason", async () => {
    t.osc.faults.failTransition("image", "out of disk on the storage");
    const r = await build(bsu());
    expect(errorOf(r)).toMatch(
      /\[outscale-bsu\] OMI ami-\w+ to be available: it is failed: out of disk on the storage/,
    );
    nothingLeft();
  });

  it("an image that never finishes: image_timeout, within about its time", async () => {
    t.osc.faults.stickTransition("image");
    const t0 = Date.now();
    const r = await build(bsu().replace("image_timeout: 20s", "image_timeout: 2s"));
    expect(errorOf(r)).toMatch(/still pending after 2 s/);
    expect(errorOf(r)).not.toMatch(/undefined/);
    expect(Date.now() - t0).toBeLessThan(8000);
    t.osc.faults.clear();
    await new Promise((res) => setTimeout(res, 50));
    nothingLeft();
  });

  it("a VM lost while booting", async () => {
    t.osc.faults.failTransition("vm", "Server.InternalError: the host was lost");
    const r = await build(bsu());
    expect(errorOf(r)).toMatch(
      /VM i-\w+ to run: it is (shutting-down|terminated): Server.InternalError: the host was lost/,
    );
    nothingLeft();
  });

  it("5xx on CreateVms: retried, then a clear error", async () => {
    t.osc.faults.inject({ action: "CreateVms", status: 503, details: "maintenance" });
    const r = await build(bsu());
    expect(errorOf(r)).toMatch(
      /\[outscale-bsu\] CreateVms: HTTP 503 InternalError \(code 2000\): maintenance/,
    );
    expect(t.osc.requests.filter((q) => q.action === "CreateVms" && q.status === 503).length).toBe(6);
    nothingLeft();
  }, 120_000);

  it("throttling (429 RequestLimitExceeded): retried with backoff, the build succeeds", async () => {
    t.osc.faults.throttle(3);
    const r = await build(bsu());
    expect(r.result.ok, r.log).toBe(true);
    expect(t.osc.requests.filter((q) => q.status === 429).length).toBeGreaterThanOrEqual(3);
    nothingLeft([omiOf(r)]);
  });

  it("bad credentials: the auth check names the source of the keys", async () => {
    const r = await build(bsu().replace(`secret_key: ${t.osc.secretKey}`, "secret_key: wrong-secret"));
    expect(errorOf(r)).toMatch(/ReadVms: HTTP 401 AccessDenied \(code 1\)/);
    expect(JSON.stringify(r.events)).not.toContain(t.osc.secretKey);
    nothingLeft();
  });

  it("Ctrl-C while the OMI is pending: stops within seconds and cleans up, the OMI included", async () => {
    t.osc.faults.slowTransition("image", 60_000);
    const ctl = new AbortController();
    const poll = setInterval(() => {
      if ([...t.osc.state.images.values()].some((i) => i.State === "pending"))
        ctl.abort(new Error("interrupt"));
    }, 20);
    const t0 = Date.now();
    const r = await build(bsu(), { signal: ctl.signal });
    clearInterval(poll);
    expect(r.result.ok).toBe(false);
    expect(Date.now() - t0).toBeLessThan(10_000);
    nothingLeft();
  });
});

describe("omi_regions", () => {
  it("really copies the OMI to the other region, with tags and permissions; the artifact lists both; destroy() deletes both", async () => {
    const accounts = [{ accountId: "123456789012", keys: { AKCOPYREGIONS: "copy-regions-secret-1" } }];
    const home = await startOutscaleDouble({
      accounts,
      machines: new InMemoryMachines({ shutdownMs: 10 }),
      durations: { vmStart: 10, vmTerminate: 10, image: 10, snapshot: 10 },
    });
    const away = await startOutscaleDouble({
      accounts,
      region: "us-east-2",
      durations: { image: 10, snapshot: 10 },
    });
    try {
      home.link(away);
      const cas = join(t.dir, "cas.pem");
      writeFileSync(cas, `${home.caCert}${away.caCert}`);
      const r = await build(`kiln: 1
sources:
  vm:
    type: outscale-bsu
    access_key: AKCOPYREGIONS
    secret_key: copy-regions-secret-1
    region: ${home.region}
    custom_endpoint_oapi: ${home.endpoint}
    ca_file: ${cas}
    vm_type: tinav5.c1r1p2
    source_omi: ${home.baseImageId}
    omi_name: kiln-copied
    omi_regions: [us-east-2]
    omi_region_endpoints: { us-east-2: ${away.endpoint} }
    omi_account_ids: ["111122223333"]
    tags: { copied: yes }
    communicator: none
builds:
  - sources: [vm]
`);
      expect(r.result.ok, r.log).toBe(true);
      const a = r.result.runs[0]?.artifacts[0];
      const omis = (a?.data as { omis?: Record<string, string> } | undefined)?.omis ?? {};
      expect(Object.keys(omis)).toEqual(["eu-west-2", "us-east-2"]);
      expect(a?.id).toBe(`eu-west-2:${omis["eu-west-2"]},us-east-2:${omis["us-east-2"]}`);
      const copy = away.state.images.get(omis["us-east-2"] as string);
      expect(copy?.State).toBe("available");
      expect(copy?.ImageName).toBe("kiln-copied");
      expect(copy?.Tags).toEqual([{ Key: "copied", Value: "yes" }]);
      expect(copy?.PermissionsToLaunch.AccountIds).toEqual(["111122223333"]);
      expect(away.leftovers().snapshots).toHaveLength(1); // the copy's own snapshot file
      expect(away.leftovers().strayFiles).toEqual([]);
      await a?.destroy?.();
      for (const d of [home, away]) expect(d.leftovers()).toEqual(NOTHING_LEFT);
    } finally {
      await home.close();
      await away.close();
    }
  });
});
