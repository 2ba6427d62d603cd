/**
 * The RFB client and the VNC keyboard against a tiny in-process RFB server that plays the
 * server's side of each handshake byte by byte and records exactly what the client sent.
 */
import { randomBytes } from "node:crypto";
import { createServer, type Server, type Socket } from "node:net";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { CHAR_QCODES, SPECIAL_KEY_QCODES } from "../boot/keys.js";
import { parseBootCommand } from "../boot/parse.js";
import { typeBootCommand } from "../boot/type.js";
import { type Blackhole, startBlackhole } from "../internal/test-blackhole.js";
import { cleanReason, VNC_REASON_MAX, VncClient, VncError } from "./client.js";
import { vncAuthResponse } from "./des.js";
import { createVncKeyDriver, VNC_DEFAULT_KEY_INTERVAL } from "./keyboard.js";
import { QCODE_KEYSYMS, qcodeKeysym } from "./keysyms.js";

/** The server side of one connection: send bytes, and read exactly n bytes from the client. */
class Peer {
  private buf = Buffer.alloc(0);
  private wake: (() => void) | undefined;
  closed = false;

  constructor(readonly sock: Socket) {
    sock.on("data", (c) => {
      this.buf = Buffer.concat([this.buf, c]);
      this.wake?.();
    });
    sock.on("close", () => {
      this.closed = true;
      this.wake?.();
    });
    sock.on("error", () => {});
  }

  send(data: Buffer | string | number[]): void {
    this.sock.write(Array.isArray(data) ? Buffer.from(data) : data);
  }

  /** Send one byte at a time, to check the client reassembles what it reads. */
  async trickle(data: Buffer): Promise<void> {
    for (const b of data) {
      this.sock.write(Buffer.from([b]));
      await new Promise((r) => setTimeout(r, 1));
    }
  }

  async read(n: number, timeoutMs = 2000): Promise<Buffer> {
    const deadline = Date.now() + timeoutMs;
    while (this.buf.length < n) {
      if (this.closed) throw new Error(`client closed after ${this.buf.length} of ${n} bytes`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out waiting for ${n} bytes (have ${this.buf.length})`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.wake = () => {
          clearTimeout(t);
          resolve();
        };
      });
      this.wake = undefined;
    }
    const out = this.buf.subarray(0, n);
    this.buf = this.buf.subarray(n);
    return Buffer.from(out);
  }

  /** Everything the client sent that was not read yet. */
  pending(): Buffer {
    return Buffer.from(this.buf);
  }
}

const servers: Server[] = [];
const clients: VncClient[] = [];

afterEach(async () => {
  for (const c of clients.splice(0)) c.destroy();
  for (const s of servers.splice(0)) await new Promise((r) => s.close(r));
});

/** Start a server running `script` for each connection; returns its port and the script's result. */
async function fakeServer(
  script: (peer: Peer) => Promise<void>,
): Promise<{ port: number; done: Promise<void> }> {
  let resolveDone: () => void = () => {};
  let rejectDone: (e: unknown) => void = () => {};
  const done = new Promise<void>((res, rej) => {
    resolveDone = res;
    rejectDone = rej;
  });
  done.catch(() => {});
  const server = createServer((sock) => {
    script(new Peer(sock)).then(resolveDone, rejectDone);
  });
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return { port: (server.address() as { port: number }).port, done };
}

function serverInit(name = "kiln-fake", width = 800, height = 600): Buffer {
  const b = Buffer.alloc(24);
  b.writeUInt16BE(width, 0);
  b.writeUInt16BE(height, 2);
  // 32 bpp, depth 24, little endian, true colour, max 255/255/255, shifts 16/8/0.
  Buffer.from([32, 24, 0, 1, 0, 255, 0, 255, 0, 255, 16, 8, 0, 0, 0, 0]).copy(b, 4);
  b.writeUInt32BE(Buffer.byteLength(name), 20);
  return Buffer.concat([b, Buffer.from(name)]);
}

function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n);
  return b;
}

function reason(text: string): Buffer {
  return Buffer.concat([u32(Buffer.byteLength(text)), Buffer.from(text)]);
}

function keyEventBytes(keysym: number, down: boolean): Buffer {
  const b = Buffer.alloc(8);
  b[0] = 4;
  b[1] = down ? 1 : 0;
  b.writeUInt32BE(keysym, 4);
  return b;
}

async function connect(port: number, opts: { password?: string; shared?: boolean; timeout?: number } = {}) {
  const c = await VncClient.connect({ port, timeout: 3000, ...opts });
  clients.push(c);
  return c;
}

describe("RFB handshake", () => {
  it("3.8 with security None: version, type choice, SecurityResult, ClientInit (shared), ServerInit", async () => {
    const { port, done } = await fakeServer(async (p) => {
      p.send("RFB 003.008\n");
      expect((await p.read(12)).toString()).toBe("RFB 003.008\n");
      p.send([2, 16, 1]); // two types: Tight (16), None (1)
      expect([...(await p.read(1))]).toEqual([1]);
      p.send(u32(0));
      expect([...(await p.read(1))]).toEqual([1]); // shared
      p.send(serverInit());
      expect(await p.read(16)).toEqual(
        Buffer.concat([keyEventBytes(0x61, true), keyEventBytes(0x61, false)]),
      );
    });
    const c = await connect(port);
    expect(c.version).toBe("3.8");
    expect(c.serverVersion).toBe("RFB 003.008");
    expect(c.securityType).toBe(1);
    expect(c.serverInit).toMatchObject({ width: 800, height: 600, name: "kiln-fake" });
    expect(c.serverInit.pixelFormat[0]).toBe(32);
    await c.sendKeyEvents([
      [0x61, true],
      [0x61, false],
    ]);
    await done;
  });

  it("3.8 with VNC Authentication: answers the challenge with DES of the bit-reversed password", async () => {
    const challenge = Buffer.from("000102030405060708090a0b0c0d0e0f", "hex");
    const { port, done } = await fakeServer(async (p) => {
      p.send("RFB 003.008\n");
      await p.read(12);
      p.send([1, 2]);
      expect([...(await p.read(1))]).toEqual([2]);
      p.send(challenge);
      expect((await p.read(16)).toString("hex")).toBe("b866924125c8eebb9debc1db61c538e2");
      p.send(u32(0));
      expect([...(await p.read(1))]).toEqual([0]); // shared: false
      p.send(serverInit("QEMU"));
    });
    const c = await connect(port, { password: "password", shared: false });
    expect(c.securityType).toBe(2);
    expect(c.serverInit.name).toBe("QEMU");
    await done;
  });

  it("3.8: a wrong password fails with the server's reason", async () => {
    const { port } = await fakeServer(async (p) => {
      p.send("RFB 003.008\n");
      await p.read(12);
      p.send([1, 2]);
      await p.read(1);
      const challenge = randomBytes(16);
      p.send(challenge);
      const answer = await p.read(16);
      const ok = answer.equals(vncAuthResponse("right", challenge));
      p.send(ok ? u32(0) : Buffer.concat([u32(1), reason("Authentication failed")]));
    });
    const e = await connect(port, { password: "wrong" }).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(VncError);
    expect((e as VncError).code).toBe("KILN_VNC_AUTH");
    expect((e as VncError).message).toContain("Authentication failed");
    expect((e as VncError).hint).toContain("password");
  });

  it("3.7 with None: no SecurityResult", async () => {
    const { port, done } = await fakeServer(async (p) => {
      p.send("RFB 003.007\n");
      expect((await p.read(12)).toString()).toBe("RFB 003.007\n");
      p.send([1, 1]);
      expect([...(await p.read(1))]).toEqual([1]);
      expect([...(await p.read(1))]).toEqual([1]); // ClientInit straight away
      p.send(serverInit());
    });
    const c = await connect(port);
    expect(c.version).toBe("3.7");
    await done;
  });

  it("3.7 with VNC Authentication: SecurityResult without a reason", async () => {
    const { port } = await fakeServer(async (p) => {
      p.send("RFB 003.007\n");
      await p.read(12);
      p.send([1, 2]);
      await p.read(1);
      p.send(Buffer.alloc(16));
      await p.read(16);
      p.send(u32(1));
    });
    const e = (await connect(port, { password: "x" }).catch((x: unknown) => x)) as VncError;
    expect(e.code).toBe("KILN_VNC_AUTH");
    expect(e.message).toMatch(/authentication with 127\.0\.0\.1:\d+ failed$/);
  });

  it("3.3: the server picks the type (a U32); VNC Authentication then SecurityResult", async () => {
    const challenge = Buffer.from("8f2e1cb74a3d69f00112233445566778", "hex");
    const { port, done } = await fakeServer(async (p) => {
      p.send("RFB 003.003\n");
      expect((await p.read(12)).toString()).toBe("RFB 003.003\n");
      p.send(Buffer.concat([u32(2), challenge]));
      expect((await p.read(16)).toString("hex")).toBe("93c76087533acba67507aa94e224bf6c");
      p.send(u32(0));
      await p.read(1);
      p.send(serverInit());
    });
    const c = await connect(port, { password: "ab" });
    expect(c.version).toBe("3.3");
    expect(c.securityType).toBe(2);
    await done;
  });

  it("3.3 with None goes straight to ClientInit", async () => {
    const { port, done } = await fakeServer(async (p) => {
      p.send("RFB 003.003\n");
      await p.read(12);
      p.send(u32(1));
      expect([...(await p.read(1))]).toEqual([1]);
      p.send(serverInit());
    });
    await connect(port);
    await done;
  });

  it.each([
    ["RFB 003.889\n", "RFB 003.008\n"], // Apple Remote Desktop
    ["RFB 003.005\n", "RFB 003.003\n"],
    ["RFB 004.001\n", "RFB 003.008\n"],
  ])("server %j → client answers %j", async (server, answer) => {
    const { port, done } = await fakeServer(async (p) => {
      p.send(server);
      expect((await p.read(12)).toString()).toBe(answer);
      if (answer.endsWith("008\n")) {
        p.send([1, 1]);
        await p.read(1);
        p.send(u32(0));
      } else {
        p.send(u32(1));
      }
      await p.read(1);
      p.send(serverInit());
    });
    await connect(port);
    await done;
  });

  it("reassembles a handshake that arrives one byte at a time, and ignores what the server sends after it", async () => {
    const { port, done } = await fakeServer(async (p) => {
      await p.trickle(Buffer.from("RFB 003.008\n"));
      await p.read(12);
      await p.trickle(Buffer.from([1, 1]));
      await p.read(1);
      await p.trickle(u32(0));
      await p.read(1);
      // ServerInit followed at once by Bell, ServerCutText and garbage in the same writes.
      await p.trickle(
        Buffer.concat([
          serverInit("slow"),
          Buffer.from([2]),
          Buffer.from([3, 0, 0, 0]),
          reason("clipboard"),
          randomBytes(300),
        ]),
      );
      p.send(randomBytes(100_000)); // an unasked-for "framebuffer update"
      expect(await p.read(8)).toEqual(keyEventBytes(0xff0d, true));
    });
    const c = await connect(port);
    expect(c.serverInit.name).toBe("slow");
    await new Promise((r) => setTimeout(r, 50));
    await c.keyEvent(0xff0d, true);
    await done;
    expect(c.closed).toBe(false);
  });

  it("says what the server refused with (no security types)", async () => {
    const { port } = await fakeServer(async (p) => {
      p.send("RFB 003.008\n");
      await p.read(12);
      p.send(Buffer.concat([Buffer.from([0]), reason("Too many security failures")]));
    });
    const e = (await connect(port).catch((x: unknown) => x)) as VncError;
    expect(e.code).toBe("KILN_VNC_AUTH");
    expect(e.message).toContain("Too many security failures");
  });

  it("refuses security types it does not speak, and a password-less login to a server that wants one", async () => {
    const { port } = await fakeServer(async (p) => {
      p.send("RFB 003.008\n");
      await p.read(12);
      p.send([2, 19, 16]); // VeNCrypt, Tight
    });
    const e = (await connect(port).catch((x: unknown) => x)) as VncError;
    expect(e.code).toBe("KILN_VNC_AUTH");
    expect(e.message).toContain("19, 16");

    const s2 = await fakeServer(async (p) => {
      p.send("RFB 003.008\n");
      await p.read(12);
      p.send([1, 2]);
    });
    const e2 = (await connect(s2.port).catch((x: unknown) => x)) as VncError;
    expect(e2.code).toBe("KILN_VNC_AUTH");
    expect(e2.message).toContain("wants a password");
  });

  it("recognises a server that is not VNC", async () => {
    const { port } = await fakeServer(async (p) => {
      p.send("SSH-2.0-OpenSSH_9.2\r\n");
    });
    const e = (await connect(port).catch((x: unknown) => x)) as VncError;
    expect(e.code).toBe("KILN_VNC_PROTOCOL");
    expect(e.message).toContain("not a VNC server");
  });

  it("times out on a silent server, and reports a server that hangs up mid-handshake", async () => {
    const { port } = await fakeServer(async () => {});
    const t0 = Date.now();
    const e = (await VncClient.connect({ port, timeout: 1000 }).catch((x: unknown) => x)) as VncError;
    expect(e.code).toBe("KILN_VNC_TIMEOUT");
    expect(Date.now() - t0).toBeLessThan(3000);

    const s2 = await fakeServer(async (p) => {
      p.send("RFB 003.008\n");
      await p.read(12);
      p.sock.end();
    });
    const e2 = (await connect(s2.port).catch((x: unknown) => x)) as VncError;
    expect(e2.code).toBe("KILN_VNC_CLOSED");
  });

  it("keeps trying while nothing listens yet, up to the timeout", async () => {
    const probe = createServer();
    await new Promise<void>((r) => probe.listen(0, "127.0.0.1", r));
    const port = (probe.address() as { port: number }).port;
    await new Promise((r) => probe.close(r));
    const later = setTimeout(() => {
      const server = createServer((sock) => {
        const p = new Peer(sock);
        (async () => {
          p.send("RFB 003.003\n");
          await p.read(12);
          p.send(u32(1));
          await p.read(1);
          p.send(serverInit("late"));
        })().catch(() => {});
      });
      servers.push(server);
      server.listen(port, "127.0.0.1");
    }, 300);
    try {
      const c = await connect(port, { timeout: 5000 });
      expect(c.serverInit.name).toBe("late");
    } finally {
      clearTimeout(later);
    }
    const e = (await VncClient.connect({ port: 1, timeout: 200 }).catch((x: unknown) => x)) as VncError;
    expect(e.code).toBe("KILN_VNC_CONNECT");
  });

  it("stops when aborted", async () => {
    const { port } = await fakeServer(async () => {});
    const ac = new AbortController();
    setTimeout(() => ac.abort(new Error("stop now")), 100);
    await expect(VncClient.connect({ port, timeout: 5000, signal: ac.signal })).rejects.toThrow("stop now");
  });

  it("fails to send once the server has gone, and emits close", async () => {
    const { port, done } = await fakeServer(async (p) => {
      p.send("RFB 003.003\n");
      await p.read(12);
      p.send(u32(1));
      await p.read(1);
      p.send(serverInit());
      p.sock.destroy();
    });
    const c = await connect(port);
    await done;
    if (!c.closed) await new Promise((r) => c.once("close", r));
    await expect(c.keyEvent(0x61, true)).rejects.toMatchObject({ code: "KILN_VNC_CLOSED" });
  });
});

describe("server reasons", () => {
  const nasty = "\u001b[2J\u001b[31mGo\u0007 away\r\n\u001b]0;pwned\u0007now\u202e!\u0000";

  it("cleanReason drops escape sequences, control and bidi characters, and caps the length", () => {
    expect(cleanReason(nasty)).toBe("Go away now !");
    expect(cleanReason("  tabs\tand\nlines  ")).toBe("tabs and lines");
    const long = cleanReason("é".repeat(10_000));
    expect([...long]).toHaveLength(VNC_REASON_MAX);
    expect(long.endsWith("…")).toBe(true);
  });

  it("3.8: a refusal's and a failed login's reasons reach the error cleaned and capped", async () => {
    const { port } = await fakeServer(async (p) => {
      p.send("RFB 003.008\n");
      await p.read(12);
      p.send(Buffer.concat([Buffer.from([0]), reason(nasty + "x".repeat(5000))]));
    });
    const e = (await connect(port).catch((x: unknown) => x)) as VncError;
    expect(e.code).toBe("KILN_VNC_AUTH");
    expect(e.message).toContain("refused the connection: Go away now ! x");
    // biome-ignore lint/suspicious/noControlCharactersInRegex: the test is that there are none
    expect(e.message).not.toMatch(/[\u0000-\u001f\u007f-\u009f\u202e]/);
    expect(e.message.length).toBeLessThan(200 + VNC_REASON_MAX);

    const s2 = await fakeServer(async (p) => {
      p.send("RFB 003.008\n");
      await p.read(12);
      p.send([1, 2]);
      await p.read(1);
      p.send(randomBytes(16));
      await p.read(16);
      p.send(Buffer.concat([u32(1), reason(nasty)]));
    });
    const e2 = (await connect(s2.port, { password: "pw" }).catch((x: unknown) => x)) as VncError;
    expect(e2.code).toBe("KILN_VNC_AUTH");
    expect(e2.message).toContain("failed: Go away now !");
  });

  it("3.3 and 3.7: a refusal with a cut-short or missing reason is still a refusal, not a closed connection", async () => {
    const cases: Array<{ version: string; refuse: Buffer; expected: string }> = [
      // 3.3: type 0, a reason that says 100 bytes and sends 5, then hangs up.
      {
        version: "003.003",
        refuse: Buffer.concat([u32(0), u32(100), Buffer.from("Go aw")]),
        expected: "refused",
      },
      // 3.3: type 0 and no reason at all.
      { version: "003.003", refuse: u32(0), expected: "refused" },
      // 3.7: no security types and no reason.
      { version: "003.007", refuse: Buffer.from([0]), expected: "refused" },
      // 3.3 with a full reason, cleaned.
      {
        version: "003.003",
        refuse: Buffer.concat([u32(0), reason(nasty)]),
        expected: "refused the connection: Go away now !",
      },
    ];
    for (const c of cases) {
      const { port } = await fakeServer(async (p) => {
        p.send(`RFB ${c.version}\n`);
        await p.read(12);
        p.send(c.refuse);
        p.sock.end();
      });
      const e = (await connect(port).catch((x: unknown) => x)) as VncError;
      expect(e.code, JSON.stringify(c.refuse.toString("latin1"))).toBe("KILN_VNC_AUTH");
      expect(e.message).toContain(c.expected);
      expect(e.message).not.toContain("closed");
    }
  });
});

describe("connecting to a host that drops the SYN", () => {
  let hole: Blackhole;
  beforeAll(async () => {
    hole = await startBlackhole();
  });
  afterAll(async () => {
    await hole?.close();
  });

  it("gives up at the timeout, not the OS's connect timeout", async () => {
    const t0 = Date.now();
    const e = (await VncClient.connect({ host: hole.host, port: hole.port, timeout: 500 }).catch(
      (x: unknown) => x,
    )) as VncError;
    expect(e).toBeInstanceOf(VncError);
    expect(e.code).toBe("KILN_VNC_CONNECT");
    expect(e.message).toContain("timed out");
    expect(Date.now() - t0).toBeLessThan(3000);
  }, 10_000);

  it("stops when aborted during the connect", async () => {
    const ac = new AbortController();
    setTimeout(() => ac.abort(new Error("stop now")), 100);
    const t0 = Date.now();
    await expect(
      VncClient.connect({ host: hole.host, port: hole.port, timeout: 60_000, signal: ac.signal }),
    ).rejects.toThrow("stop now");
    expect(Date.now() - t0).toBeLessThan(3000);
  }, 10_000);

  it("returns no client when the abort comes as the connection is made", async () => {
    for (let i = 0; i < 5; i++) {
      const ac = new AbortController();
      const server = createServer((sock) => {
        // The whole 3.3 handshake at once, so only the abort can stop the client.
        sock.on("error", () => {});
        sock.write(Buffer.concat([Buffer.from("RFB 003.003\n"), u32(1), serverInit()]));
        ac.abort(new Error("stop now"));
      });
      servers.push(server);
      await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
      const port = (server.address() as { port: number }).port;
      const got = await VncClient.connect({ port, timeout: 3000, signal: ac.signal }).catch(
        (x: unknown) => x,
      );
      if (got instanceof VncClient) clients.push(got);
      expect(got).toBeInstanceOf(Error);
      expect((got as Error).message).toBe("stop now");
    }
  });
});

describe("keysyms", () => {
  it("has a keysym for every qcode the boot-command tables use, and characters are their own keysym", () => {
    for (const q of Object.values(SPECIAL_KEY_QCODES)) expect(QCODE_KEYSYMS.has(q), q).toBe(true);
    for (const [ch, qs] of Object.entries(CHAR_QCODES)) {
      const cp = ch.codePointAt(0) as number;
      const shift = qs[0] === "shift" && qs.length === 2;
      const sym = qcodeKeysym(qs[qs.length - 1] as string, shift);
      if (ch === "\n" || ch === "\r") expect(sym).toBe(0xff0d);
      else if (ch === "\t") expect(sym).toBe(0xff09);
      else expect(sym, JSON.stringify(ch)).toBe(cp);
    }
    expect(qcodeKeysym("ret")).toBe(0xff0d);
    expect(qcodeKeysym("f12")).toBe(0xffc9);
    expect(qcodeKeysym("meta_l")).toBe(0xffeb);
    expect(qcodeKeysym("nope")).toBeUndefined();
  });
});

type Ev = readonly [number, boolean];

function recorder() {
  const events: Array<[number, boolean, number]> = [];
  const t0 = Date.now();
  return {
    events,
    sender: {
      async sendKeyEvents(evs: ReadonlyArray<Ev>) {
        for (const [k, d] of evs) events.push([k, d, Date.now() - t0]);
      },
    },
    /** "+A" / "-A" for printable keysyms, "+ffe1" for the others. */
    trace(): string[] {
      return events.map(
        ([k, d]) => `${d ? "+" : "-"}${k >= 0x20 && k < 0x7f ? String.fromCharCode(k) : k.toString(16)}`,
      );
    },
  };
}

describe("createVncKeyDriver", () => {
  it("types characters as their keysyms, with Shift_L around shifted ones, as Packer", async () => {
    const r = recorder();
    const driver = createVncKeyDriver(r.sender, { holdMs: 0 });
    await typeBootCommand(parseBootCommand("aZ1!~<enter><f5> \t"), driver, { keyInterval: 0 });
    expect(r.trace()).toEqual([
      "+a",
      "-a",
      "+ffe1",
      "+Z",
      "-Z",
      "-ffe1",
      "+1",
      "-1",
      "+ffe1",
      "+!",
      "-!",
      "-ffe1",
      "+ffe1",
      "+~",
      "-~",
      "-ffe1",
      "+ff0d",
      "-ff0d",
      "+ffc2",
      "-ffc2",
      "+ ",
      "- ",
      "+ff09",
      "-ff09",
    ]);
  });

  it("holds modifiers across keys (<leftShiftOn>, <leftCtrlOn>, <leftAltOn>) and types shifted keysyms under shift", async () => {
    const r = recorder();
    const driver = createVncKeyDriver(r.sender, { holdMs: 0 });
    await typeBootCommand(
      parseBootCommand(
        "<leftShiftOn>a1B<leftShiftOff>b<leftCtrlOn><leftAltOn><del><leftAltOff><leftCtrlOff><xOn>y<xOff>",
      ),
      driver,
      { keyInterval: 0 },
    );
    expect(r.trace()).toEqual([
      "+ffe1",
      "+A",
      "-A",
      "+!",
      "-!",
      "+B",
      "-B",
      "-ffe1",
      "+b",
      "-b",
      "+ffe3",
      "+ffe9",
      "+ffff",
      "-ffff",
      "-ffe9",
      "-ffe3",
      "+x",
      "+y",
      "-y",
      "-x",
    ]);
  });

  it("releases held keys with the keysym they were pressed with, also when typing fails", async () => {
    const r = recorder();
    const driver = createVncKeyDriver(r.sender, { holdMs: 0 });
    // <aOn> under shift is "A"; released after shift went up, it must still be "A" that goes up.
    await typeBootCommand(parseBootCommand("<leftShiftOn><aOn><leftShiftOff><aOff>"), driver, {
      keyInterval: 0,
    });
    expect(r.trace()).toEqual(["+ffe1", "+A", "-ffe1", "-A"]);

    const r2 = recorder();
    const ac = new AbortController();
    const d2 = createVncKeyDriver(r2.sender, { holdMs: 0 });
    const p = typeBootCommand(parseBootCommand("<leftCtrlOn>abc<wait5>d"), d2, {
      keyInterval: 0,
      signal: ac.signal,
    });
    setTimeout(() => ac.abort(new Error("abort")), 50);
    await expect(p).rejects.toThrow("abort");
    expect(r2.trace()).toEqual(["+ffe3", "+a", "-a", "+b", "-b", "+c", "-c", "-ffe3"]);
  });

  it("holds each key holdMs and leaves Packer's 100 ms between keys unless told otherwise", async () => {
    const r = recorder();
    const driver = createVncKeyDriver(r.sender, { holdMs: 30 });
    expect(driver.keyInterval).toBe(VNC_DEFAULT_KEY_INTERVAL);
    expect(VNC_DEFAULT_KEY_INTERVAL).toBe(100);
    await typeBootCommand(parseBootCommand("ab"), driver);
    const [aDown, aUp, bDown, bUp] = r.events.map((e) => e[2]) as [number, number, number, number];
    expect(aUp - aDown).toBeGreaterThanOrEqual(28);
    expect(bDown - aUp).toBeGreaterThanOrEqual(95);
    expect(bUp - bDown).toBeGreaterThanOrEqual(28);

    const r2 = recorder();
    await typeBootCommand(parseBootCommand("abcdefghij"), createVncKeyDriver(r2.sender, { holdMs: 0 }), {
      keyInterval: 5,
    });
    const last = r2.events.at(-1)?.[2] ?? 0;
    expect(last).toBeLessThan(500); // boot_key_interval (5 ms) honoured, not 100 ms a key
    expect(createVncKeyDriver(r2.sender, { keyInterval: 40 }).keyInterval).toBe(40);
  });

  it("sends exactly these bytes over the wire for a boot command", async () => {
    const typed = "Hi!<enter>";
    const expected = Buffer.concat(
      [
        [0xffe1, true],
        [0x48, true],
        [0x48, false],
        [0xffe1, false],
        [0x69, true],
        [0x69, false],
        [0xffe1, true],
        [0x21, true],
        [0x21, false],
        [0xffe1, false],
        [0xff0d, true],
        [0xff0d, false],
      ].map(([k, d]) => keyEventBytes(k as number, d as boolean)),
    );
    const { port, done } = await fakeServer(async (p) => {
      p.send("RFB 003.008\n");
      await p.read(12);
      p.send([1, 2]);
      await p.read(1);
      const challenge = randomBytes(16);
      p.send(challenge);
      expect(await p.read(16)).toEqual(vncAuthResponse("s3cret!x", challenge));
      p.send(u32(0));
      await p.read(1);
      p.send(serverInit("QEMU"));
      expect(await p.read(expected.length)).toEqual(expected);
      expect(p.pending().length).toBe(0);
    });
    const c = await connect(port, { password: "s3cret!x" });
    await typeBootCommand(parseBootCommand(typed), createVncKeyDriver(c), { keyInterval: 1 });
    await done;
    await c.close();
    expect(c.closed).toBe(true);
  });
});
