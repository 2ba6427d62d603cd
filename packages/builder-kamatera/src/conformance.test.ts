/**
 * The builder conformance suite from @kiln/sdk (the one third-party builders run), against the
 * Kamatera API double with its in-memory machines (they do not boot, so `communicator: none`).
 * After the suite, the double must hold nothing the builds made.
 */
import { testBuilder } from "@kiln/sdk/conformance";
import { MemoryHost, startKamateraDouble } from "@kiln-testbed/kamatera";
import { afterAll, expect, it } from "vitest";
import plugin from "./index.js";

const d = await startKamateraDouble({ host: new MemoryHost({ shutdownMs: 10 }), commandDurationMs: 20 });
afterAll(() => d.close());

const connection = {
  api_url: d.url,
  api_client_id: d.clientId,
  api_secret: d.secret,
  datacenter: "EU",
  image: "kiln_appliance_64-bit",
  communicator: "none",
  poll_interval: "50ms",
  wait_timeout: "20s",
};

testBuilder({
  plugin,
  type: "kamatera",
  secrets: [d.secret],
  example: connection,
  invalid: [
    { ...connection, datacenter: undefined },
    { ...connection, cpu: "two" },
    { ...connection, ram: "lots" },
    { ...connection, disks: [] },
    { ...connection, disks: [{ size: 1 }, { size: 2 }, { size: 3 }, { size: 4 }, { size: 5 }] },
    { ...connection, disks: [{ image_name: "x" }] },
    { ...connection, poll_interval: "often" },
    { ...connection, disable_ssh: "yes" },
  ],
});

it("leaves nothing on the double: no server, no unfinished command, no machine", () => {
  expect(d.leftovers()).toEqual({ servers: [], commands: [], machines: [] });
  expect(d.account.contractViolations).toEqual([]);
  // The one successful run saved its disk in the library.
  expect(d.account.catalog.library().map((i) => i.name)).toEqual([
    expect.stringMatching(/^kiln-example-\d{8}T\d{6}Z-[0-9a-f]{4}$/),
  ]);
});
