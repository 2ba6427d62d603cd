/** The contract file and its checker: what cloudcli-server refuses, the double refuses the same way. */
import { describe, expect, it } from "vitest";
import {
  type Contract,
  checkRequest,
  type IncomingRequest,
  loadContract,
  parseItems,
  type Shape,
  shapeProblems,
} from "./contract.js";
import { createServerBody, KEY } from "./test-requests.js";
import type { ApiError } from "./wire.js";

const c = loadContract();
const HEADERS = { accept: "application/json", "content-type": "application/json" };

const req = (
  method: string,
  path: string,
  body?: Record<string, unknown>,
  query: Record<string, string> = {},
) => ({ method, path, headers: HEADERS, query, body }) as IncomingRequest;

const CREATE = createServerBody("kiln-test-1", "ubuntu_server_24.04_64-bit");

function refusal(r: IncomingRequest): { status: number; message: string } {
  try {
    checkRequest(c, r);
  } catch (e) {
    return { status: (e as ApiError).status, message: (e as Error).message };
  }
  throw new Error("the request was accepted");
}

describe("the contract file", () => {
  it("every shape reference resolves and every endpoint has fields and an answer", () => {
    const refs: string[] = [];
    const walk = (s: unknown): void => {
      if (!s || typeof s !== "object") return;
      if ("ref" in (s as object)) refs.push((s as { ref: string }).ref);
      for (const v of Object.values(s as object)) walk(v);
    };
    walk(c);
    expect(refs.length).toBeGreaterThan(5);
    for (const r of refs) expect(Object.keys(c.shapes)).toContain(r);
    for (const e of c.endpoints) {
      expect(e.fields, e.id).toBeTypeOf("object");
      expect(e.answer, e.id).toBeDefined();
      for (const [name, f] of Object.entries(e.fields))
        expect(["string", "string|number", "bool", "items"], `${e.id}.${name}`).toContain(f.type);
    }
  });

  it("names each endpoint once and covers what the builder calls", () => {
    const ids = c.endpoints.map((e) => e.id);
    expect(new Set(ids).size).toBe(ids.length);
    for (const id of [
      "server.create",
      "queue.detail",
      "server.ssh",
      "server.info",
      "server.list",
      "server.poweroff",
      "server.terminate",
      "server.hdlib",
      "catalog.options",
      "catalog.capabilities",
    ])
      expect(ids).toContain(id);
  });
});

describe("create-request rules", () => {
  it("accepts the Packer plugin's body, applying the proxy's defaults", () => {
    const { endpoint, flags } = checkRequest(c, req("POST", "/service/server", CREATE));
    expect(endpoint.id).toBe("server.create");
    expect(flags.poweronaftercreate).toBe("yes"); // empty → default
    expect(flags.disk).toEqual([{ size: "10", id: "0" }]);
    expect(flags.network).toEqual([{ name: "wan", ip: "auto", id: "0" }]);
    expect(flags.passwordValidate).toBeUndefined(); // ignored by the proxy
    expect(flags.password).toBe("__generate__");
  });

  it("accepts ram as a JSON number (Terraform) and several disks", () => {
    const { flags } = checkRequest(
      c,
      req("POST", "/service/server", { ...CREATE, ram: 2048, disk: "size=20 id=3,size=5 size=50" }),
    );
    expect(flags.ram).toBe("2048");
    expect(flags.disk).toEqual([
      { size: "20", id: "0" },
      { size: "50", id: "1" },
      { id: "3", size: "5" },
    ]);
  });

  it.each([
    [{ datacenter: undefined }, 400, "missing required flag (datacenter)"],
    [{ name: "" }, 400, "missing required flag (name)"],
    [{ image: undefined }, 400, "missing required flag (image)"],
    [{ password: "" }, 400, "missing required flag (password)"],
    [{ disk: "size=10 id=4,size=5" }, 400, "invalid item id: 4 (disk=size=10 id=4,size=5)"],
    [{ disk: "id=0,size=10 id=0,size=5" }, 400, "duplicate item id: 0 (disk=id=0,size=10 id=0,size=5)"],
    [
      { disk: "size=1 size=2 size=3 size=4 size=5" },
      400,
      "invalid item ids (disk=size=1 size=2 size=3 size=4 size=5)",
    ],
    [{ disk: "size10" }, 400, "invalid flag value (disk=size10)"],
    [{ disk: "id=1" }, 400, "invalid flag value (disk=id=1)"],
    [{ billingcycle: "weekly" }, 500, "Failed to run command method (createServer)"],
    [{ managed: "maybe" }, 400, "invalid flag value (managed=maybe)"],
    [{ name: "a b" }, 400, "invalid flag value (name=a b)"],
    [{ cpu: "two" }, 400, "invalid flag value (cpu=two)"],
    [{ colour: "blue" }, 400, "unknown flag (colour)"],
    [{ "ssh-key": "not a key" }, 400, "invalid flag value (ssh-key): not an OpenSSH public key line"],
  ])("%j → %i %s", (change, status, message) => {
    const body: Record<string, unknown> = { ...CREATE, ...change };
    for (const [k, v] of Object.entries(change)) if (v === undefined) delete body[k];
    expect(refusal(req("POST", "/service/server", body))).toEqual({ status, message });
  });

  it("a password is needed unless an ssh-key is given, and follows the 10–20 character rule without being echoed", () => {
    const { flags } = checkRequest(
      c,
      req("POST", "/service/server", { ...CREATE, password: "", "ssh-key": KEY }),
    );
    expect(flags["ssh-key"]).toBe(KEY);
    for (const pw of [
      "short1A",
      "alllowercase123",
      "NoDigitsHereAtAll",
      "Has space 123",
      "Way2LongPassword12345",
    ]) {
      const r = refusal(req("POST", "/service/server", { ...CREATE, password: pw }));
      expect(r).toEqual({ status: 400, message: "invalid flag value (password)" });
      expect(r.message).not.toContain(pw);
    }
    expect(
      checkRequest(c, req("POST", "/service/server", { ...CREATE, password: "Abcdef123!" })).flags.password,
    ).toBe("Abcdef123!");
  });
});

describe("server selection, booleans, queries and headers", () => {
  it("name or id, not both and not neither", () => {
    expect(refusal(req("POST", "/service/server/poweroff", {}))).toEqual({
      status: 500,
      message: "Missing server 'id' / 'name'",
    });
    expect(refusal(req("POST", "/service/server/terminate", { name: "x", id: "y" }))).toEqual({
      status: 500,
      message: "Please specify 'name' or 'id' but not both",
    });
  });

  it('force is true for JSON true and "true", false for "1" (PHP\'s loose == "true")', () => {
    const force = (v: unknown) =>
      checkRequest(c, req("POST", "/service/server/terminate", { name: "kiln-x", force: v })).flags.force;
    expect(force(true)).toBe(true);
    expect(force("true")).toBe(true);
    expect(force("1")).toBe(false);
    expect(force(undefined)).toBe(false);
  });

  it("clone needs image-name", () => {
    expect(refusal(req("POST", "/server/hdlib", { name: "kiln-x", clone: "u-1" }))).toEqual({
      status: 400,
      message: "missing required flag (image-name)",
    });
  });

  it("GET /service/server is four calls told apart by the query", () => {
    const id = (q: Record<string, string>) =>
      checkRequest(c, req("GET", "/service/server", undefined, q)).endpoint.id;
    expect(id({})).toBe("catalog.options");
    expect(id({ datacenter: "1" })).toBe("catalog.datacenters");
    expect(id({ images: "1", datacenter: "EU" })).toBe("catalog.images");
    expect(id({ capabilities: "1", datacenter: "EU" })).toBe("catalog.capabilities");
    expect(refusal(req("GET", "/service/server", undefined, { images: "1" }))).toEqual({
      status: 400,
      message: "missing required flag (datacenter)",
    });
  });

  it("flags may come in the JSON body of a GET (Laravel's input() merges both)", () => {
    const r = checkRequest(c, req("GET", "/service/queue", { id: "12" }));
    expect(r.flags.id).toBe("12");
    expect(refusal(req("GET", "/service/queue", undefined, {}))).toEqual({
      status: 400,
      message: "missing required flag (id)",
    });
  });

  it("wrong method, unknown path, missing Accept or a body that is not JSON", () => {
    expect(refusal(req("POST", "/service/servers", {})).status).toBe(405);
    expect(refusal(req("GET", "/service/nothing")).status).toBe(404);
    expect(refusal({ ...req("GET", "/service/servers"), headers: {} }).message).toMatch(
      /Accept: application\/json/,
    );
    expect(
      refusal({
        ...req("POST", "/service/server/info", { name: "x" }),
        headers: { accept: "application/json" },
      }).message,
    ).toMatch(/Content-Type: application\/json/);
  });
});

describe("item lists and answer shapes", () => {
  it("numbers items without id into the free ids", () => {
    expect(parseItems("disk", "id=1,size=5 size=7")).toEqual([
      { size: "7", id: "0" },
      { id: "1", size: "5" },
    ]);
  });

  it("checks answers: a queue item, command ids in every shape, a wrong type", () => {
    const s = (ref: string): Shape => ({ ref });
    const ok = {
      id: "7",
      status: "complete",
      server: "kiln-x",
      description: "Create",
      added: null,
      executed: null,
      completed: null,
      log: "Name: kiln-x",
    };
    expect(shapeProblems([ok], { array: s("queueItem") }, c as Contract)).toEqual([]);
    for (const v of [["1"], [1, "2"], 5, { commandIds: ["3"], password: "x" }, { cmdId: 9 }])
      expect(shapeProblems(v, s("commandIds"), c)).toEqual([]);
    expect(shapeProblems({ ids: [] }, s("commandIds"), c)).not.toEqual([]);
    expect(shapeProblems([{ ...ok, status: 3 }], { array: s("queueItem") }, c)[0]).toMatch(/matches none/);
    expect(shapeProblems([{ ...ok, extra: 1 }], { array: s("queueItem") }, c)[0]).toMatch(
      /extra: not in the contract/,
    );
  });
});
