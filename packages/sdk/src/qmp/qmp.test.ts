import { spawn } from "node:child_process";
import { readFile, stat } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseBootCommand } from "../boot/parse.js";
import { typeBootCommand } from "../boot/type.js";
import { QmpClient, QmpError, type QmpEvent } from "./client.js";
import { createQmpKeyDriver, QMP_KEYBOARD_DEFAULTS } from "./keyboard.js";
import { decodePpm, PNG_SIGNATURE, pngSize, ppmToPng } from "./png.js";
import { killAllTestQemus, QEMU_BINARY, qemuVersion, startTestQemu, type TestQemu } from "./test-qemu.js";

const version = qemuVersion();
// Under CI the QEMU tests must run: a missing QEMU fails them instead of skipping.
const skip = version === undefined && process.env.CI !== "true";
const title = skip
  ? `QMP against a real QEMU (skipped: ${QEMU_BINARY} is not installed; apt-get install qemu-system-x86)`
  : `QMP against a real QEMU (${version ?? "missing"})`;

/** What the echo guest received: [ascii, scancode] per key, after its "R". */
function keysOf(serial: Buffer): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  for (let i = 1; i + 1 < serial.length; i += 2) out.push([serial[i] as number, serial[i + 1] as number]);
  return out;
}
function textOf(serial: Buffer): string {
  return String.fromCharCode(...keysOf(serial).map(([a]) => a));
}

describe.skipIf(skip)(title, () => {
  afterAll(async () => {
    await killAllTestQemus();
  });

  describe("one machine, no disk", () => {
    let q: TestQemu;
    let qmp: QmpClient;
    beforeAll(async () => {
      q = await startTestQemu();
      qmp = await QmpClient.connect(q.qmpPath, { timeout: 15_000 });
    });
    afterAll(async () => {
      await qmp?.close();
      await q?.kill();
    });

    it("greets, negotiates capabilities and reports the version", () => {
      expect(qmp.version.major).toBeGreaterThanOrEqual(2);
      expect(Array.isArray(qmp.greeting.capabilities)).toBe(true);
    });

    it("queries the status", async () => {
      const st = await qmp.queryStatus();
      expect(st.running).toBe(true);
      expect(st.status).toBe("running");
    });

    it("maps QEMU errors to QmpError with the QMP class", async () => {
      const err = await qmp.execute("no-such-command").catch((e: unknown) => e);
      expect(err).toBeInstanceOf(QmpError);
      expect((err as QmpError).code).toBe("KILN_QMP_COMMAND");
      expect((err as QmpError).qmpClass).toBe("CommandNotFound");
      expect((err as QmpError).command).toBe("no-such-command");
      const bad = await qmp.sendKeys(["not_a_qcode"]).catch((e: unknown) => e);
      expect((bad as QmpError).qmpClass).toBe("GenericError");
      expect((bad as Error).message).toMatch(/send-key failed: .*not_a_qcode/);
      // the connection is still usable
      expect((await qmp.queryStatus()).running).toBe(true);
    });

    it("runs concurrent commands and matches replies by id", async () => {
      const results = await Promise.all([
        qmp.queryStatus(),
        qmp.execute<{ qemu: { major: number } }>("query-version"),
        qmp.execute("query-name"),
        qmp.queryStatus(),
      ]);
      expect(results[0].status).toBe("running");
      expect(results[1].qemu.major).toBe(qmp.version.major);
      expect(results[3].running).toBe(true);
    });

    it("emits events (STOP, RESUME) by name and as 'event'", async () => {
      const seen: string[] = [];
      const onEvent = (ev: QmpEvent) => seen.push(ev.event);
      qmp.on("event", onEvent);
      const stopped = qmp.waitForEvent("STOP", { timeout: 5000 });
      const byName = new Promise((resolve) =>
        qmp.once("STOP", (_data: unknown, ev: QmpEvent) => resolve(ev)),
      );
      await qmp.execute("stop");
      expect((await stopped).event).toBe("STOP");
      expect((await byName) as QmpEvent).toMatchObject({ event: "STOP" });
      expect((await qmp.queryStatus()).status).toBe("paused");
      const resumed = qmp.waitForEvent("RESUME", { timeout: 5000 });
      await qmp.execute("cont");
      await resumed;
      qmp.off("event", onEvent);
      expect(seen).toEqual(expect.arrayContaining(["STOP", "RESUME"]));
    });

    it("sends keys with send-key (with and without a hold time)", async () => {
      await qmp.sendKeys(["shift", "a"], 10);
      await qmp.sendKeys(["ret"]);
      await qmp.sendKeyEvents([
        ["ctrl", true],
        ["ctrl", false],
      ]);
    });

    it("writes a screendump as a valid PNG (QEMU's own PNG, and converted from PPM)", async () => {
      const png = join(q.dir, "screen.png");
      const res = await qmp.screendump(png);
      expect(res.format).toBe("png");
      const data = await readFile(png);
      expect(data.subarray(0, 8).equals(PNG_SIGNATURE)).toBe(true);
      const size = pngSize(data);
      expect(size?.width).toBeGreaterThan(0);
      expect(size?.height).toBeGreaterThan(0);

      // The guest's firmware may switch video modes between two dumps, so each dump is checked
      // on its own: the PPM converts to a PNG of the same size.
      const ppmFile = join(q.dir, "screen.ppm");
      await qmp.screendump(ppmFile, { format: "ppm" });
      const ppmData = await readFile(ppmFile);
      const ppm = decodePpm(ppmData);
      expect(ppm.width).toBeGreaterThan(0);
      expect(pngSize(ppmToPng(ppmData))).toEqual({ width: ppm.width, height: ppm.height });

      const converted = join(q.dir, "converted.png");
      await qmp.screendump(converted, { convert: true });
      const cdata = await readFile(converted);
      expect(cdata.subarray(0, 8).equals(PNG_SIGNATURE)).toBe(true);
      expect(pngSize(cdata)?.width).toBeGreaterThan(0);
      // the temporary PPM is gone
      const { readdir } = await import("node:fs/promises");
      expect((await readdir(q.dir)).filter((f) => f.startsWith("converted.png."))).toEqual([]);
    });

    it("reports a screendump QEMU cannot write as a command error", async () => {
      const err = await qmp.screendump(join(q.dir, "missing-dir", "x.png")).catch((e: unknown) => e);
      expect((err as QmpError).code).toBe("KILN_QMP_COMMAND");
    });

    it("rejects commands after close", async () => {
      // a second client cannot be served while this one is connected; close and reconnect
      await qmp.close();
      expect(qmp.closed).toBe(true);
      const err = await qmp.queryStatus().catch((e: unknown) => e);
      expect((err as QmpError).code).toBe("KILN_QMP_CLOSED");
      qmp = await QmpClient.connect(q.qmpPath, { timeout: 5000 });
      expect((await qmp.queryStatus()).running).toBe(true);
    });
  });

  it("retries until the socket exists, then connects", async () => {
    const { mkdtemp, rm } = await import("node:fs/promises");
    const { tmpdir } = await import("node:os");
    const dir = await mkdtemp(join(tmpdir(), "kiln-qmp-late-"));
    const sock = join(dir, "qmp.sock");
    const connecting = QmpClient.connect(sock, { timeout: 15_000, retryInterval: 20 });
    await new Promise((r) => setTimeout(r, 300));
    const proc = spawn(
      QEMU_BINARY,
      [
        "-accel",
        "tcg",
        "-machine",
        "pc",
        "-m",
        "64",
        "-display",
        "none",
        "-nodefaults",
        "-qmp",
        `unix:${sock},server=on,wait=off`,
      ],
      { stdio: "ignore" },
    );
    proc.on("error", () => {}); // a missing binary shows as the connect timeout below
    try {
      const qmp = await connecting;
      expect((await qmp.queryStatus()).running).toBe(true);
      const closed = new Promise((r) => qmp.once("close", r));
      await qmp.quit();
      await closed;
      expect(qmp.closed).toBe(true);
    } finally {
      proc.kill("SIGKILL");
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("gives up on a socket that never appears, with a clear error", async () => {
    const started = Date.now();
    const err = await QmpClient.connect("/nonexistent/kiln/qmp.sock", { timeout: 300 }).catch(
      (e: unknown) => e,
    );
    expect(Date.now() - started).toBeLessThan(2000);
    expect((err as QmpError).code).toBe("KILN_QMP_CONNECT");
    expect((err as Error).message).toMatch(/did not accept a connection within 300 ms/);
  });

  it("powers down (POWERDOWN event) and quits (SHUTDOWN event, connection closed, QEMU gone)", async () => {
    const q = await startTestQemu();
    try {
      const qmp = await QmpClient.connect(q.qmpPath);
      const powerdown = qmp.waitForEvent("POWERDOWN", { timeout: 5000 });
      await qmp.systemPowerdown();
      expect((await powerdown).event).toBe("POWERDOWN");
      // no ACPI OS runs, so nothing shuts down: quit it
      const shutdown = qmp.waitForEvent("SHUTDOWN", { timeout: 5000 });
      const closed = new Promise((r) => qmp.once("close", r));
      await qmp.quit();
      const ev = await shutdown;
      expect(ev.data).toMatchObject({ guest: false });
      await closed;
      expect(await q.exited).toBe(0);
      const err = await qmp.queryStatus().catch((e: unknown) => e);
      expect((err as QmpError).code).toBe("KILN_QMP_CLOSED");
    } finally {
      await q.kill();
    }
  });

  describe("typing into a real guest (a boot sector echoing BIOS keys to the serial port)", () => {
    let q: TestQemu;
    let qmp: QmpClient;
    beforeAll(async () => {
      q = await startTestQemu({ echo: true });
      qmp = await QmpClient.connect(q.qmpPath);
    });
    afterAll(async () => {
      await qmp?.close();
      await q?.kill();
    });

    let received = 0;
    async function typed(command: string | string[], options: Parameters<typeof createQmpKeyDriver>[1] = {}) {
      const actions = parseBootCommand(command);
      const keys = actions.filter((a) => a.type === "char" || a.type === "key").length;
      const started = performance.now();
      await typeBootCommand(actions, createQmpKeyDriver(qmp, options));
      const expectedBytes = 1 + 2 * (received + keys);
      const out = await q.waitSerial(expectedBytes, 10_000);
      const elapsed = performance.now() - started;
      // give a lost or doubled key a chance to show
      await new Promise((r) => setTimeout(r, 100));
      const all = await q.serial();
      const mine = Buffer.concat([Buffer.from("R"), all.subarray(1 + 2 * received)]);
      received = (all.length - 1) / 2;
      expect(out.length).toBeGreaterThanOrEqual(expectedBytes);
      return { text: textOf(mine), keys: keysOf(mine), rate: keys / (elapsed / 1000) };
    }

    it("types every printable ASCII character exactly, fast (keys/s measured)", async ({ annotate }) => {
      let ascii = "";
      for (let c = 0x20; c < 0x7f; c++) ascii += String.fromCharCode(c);
      const text = `The quick brown fox JUMPS over the lazy dog. ${ascii}`;
      // "<" starts a tag in boot_command syntax; a lone "<" not closing a known tag is literal.
      const r = await typed(text);
      expect(r.text).toBe(text);
      await annotate(
        `typed ${text.length} keys at ${r.rate.toFixed(0)} keys/s (hold ${QMP_KEYBOARD_DEFAULTS.holdMs} ms, gap ${QMP_KEYBOARD_DEFAULTS.gapMs} ms)`,
      );
      expect(r.rate).toBeGreaterThan(20);
    });

    it("types special keys with the right scan codes", async () => {
      const r = await typed(
        "<enter><return><tab><bs><esc><spacebar><f1><f12><up><down><left><right><home><end><pageUp><pageDown><insert><del>",
      );
      expect(r.keys.map(([a]) => a).slice(0, 6)).toEqual([0x0d, 0x0d, 0x09, 0x08, 0x1b, 0x20]);
      const scans = r.keys.slice(6).map(([, s]) => s);
      expect(scans).toEqual([0x3b, 0x86, 0x48, 0x50, 0x4b, 0x4d, 0x47, 0x4f, 0x49, 0x51, 0x52, 0x53]);
    });

    it("holds modifiers across keys (<leftShiftOn>, <leftCtrlOn>) and releases them", async () => {
      const r = await typed(
        "<leftShiftOn>abc<leftShiftOff>d<leftCtrlOn>c<leftCtrlOff>e<rightShiftOn>x<rightShiftOff><aOn><aOff>",
      );
      expect(r.text).toBe("ABCd\x03eXa");
    });

    it("types through send-key too", async () => {
      const r = await typed("Send-Key ok!", { method: "send-key", holdMs: 10, gapMs: 5 });
      expect(r.text).toBe("Send-Key ok!");
    });
  });

  it("cleans up: the temporary folders of stopped machines are removed", async () => {
    const q = await startTestQemu();
    const dir = q.dir;
    await q.kill();
    await expect(stat(dir)).rejects.toThrow();
  });
});

describe("QmpClient.connect and its signal (a fake QMP server, no QEMU)", () => {
  it("returns no client when the abort comes as the connection is made", async () => {
    const { mkdtemp, rm } = await import("node:fs/promises");
    const { tmpdir } = await import("node:os");
    const { createServer } = await import("node:net");
    const dir = await mkdtemp(join(tmpdir(), "kiln-qmp-abort-"));
    try {
      for (let i = 0; i < 5; i++) {
        const ac = new AbortController();
        const path = join(dir, `qmp${i}.sock`);
        const server = createServer((sock) => {
          sock.on("error", () => {});
          sock.write(`${JSON.stringify({ QMP: { version: { qemu: { major: 9, minor: 0, micro: 0 } } } })}\n`);
          sock.on("data", (d) => {
            const id = /"id":\s*("[^"]*"|\d+)/.exec(d.toString())?.[1];
            sock.write(`{"return": {}${id ? `, "id": ${id}` : ""}}\n`);
          });
          ac.abort(new Error("stop now"));
        });
        await new Promise<void>((r) => server.listen(path, r));
        try {
          const got = await QmpClient.connect(path, { timeout: 3000, signal: ac.signal }).catch(
            (e: unknown) => e,
          );
          if (got instanceof QmpClient) got.destroy();
          expect(got).toBeInstanceOf(Error);
          expect((got as Error).message).toBe("stop now");
        } finally {
          await new Promise((r) => server.close(r));
        }
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
