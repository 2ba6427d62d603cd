/**
 * The RFB client and VNC keyboard against a real QEMU (TCG): its VNC server with a password set
 * through QMP, and a guest (a boot sector reading the BIOS keyboard) that echoes every key's
 * ASCII code to the serial port — so what arrives is compared byte for byte.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseBootCommand } from "../boot/parse.js";
import { typeBootCommand } from "../boot/type.js";
import { QmpClient } from "../qmp/client.js";
import { createQmpKeyDriver } from "../qmp/keyboard.js";
import {
  killAllTestQemus,
  QEMU_BINARY,
  qemuVersion,
  startTestQemu,
  type TestQemu,
} from "../qmp/test-qemu.js";
import { VncClient } from "./client.js";
import { createVncKeyDriver } from "./keyboard.js";

const version = qemuVersion();
// Under CI the QEMU tests must run: a missing QEMU fails them instead of skipping.
const skip = version === undefined && process.env.CI !== "true";
const title = skip
  ? `VNC typing into a real QEMU (skipped: ${QEMU_BINARY} is not installed; apt-get install qemu-system-x86)`
  : `VNC typing into a real QEMU (${version})`;

/** Every printable ASCII character but those the boot_command syntax reads (`<`), in a mixed order. */
function sampleText(): string {
  const chars: string[] = [];
  for (let c = 0x20; c < 0x7f; c++) if (c !== 0x3c) chars.push(String.fromCharCode(c));
  const out: string[] = [];
  for (let i = 0; i < chars.length; i++) out.push(chars[(i * 37) % chars.length] as string);
  return out.join("");
}

/** The ASCII codes the echo guest wrote (it writes ASCII, scan code per key, after an "R"). */
function echoedAscii(serial: Buffer): string {
  let s = "";
  for (let i = 1; i + 1 < serial.length; i += 2) s += String.fromCharCode(serial[i] as number);
  return s;
}

describe.skipIf(skip)(title, () => {
  let q: TestQemu;
  let qmp: QmpClient;
  let port: number;
  const password = "Vn!c-7xQ";

  beforeAll(async () => {
    // QEMU picks a free display (5900 + 0…99) itself; query-vnc says which.
    q = await startTestQemu({ echo: true, extraArgs: ["-vnc", "127.0.0.1:0,to=99,password=on"] });
    qmp = await QmpClient.connect(q.qmpPath, { timeout: 20_000 });
    await qmp.execute("set_password", { protocol: "vnc", password });
    const info = (await qmp.execute("query-vnc")) as { enabled: boolean; service: string; auth: string };
    expect(info.enabled).toBe(true);
    expect(info.auth).toBe("vnc");
    port = Number(info.service);
  }, 60_000);

  afterAll(async () => {
    qmp?.destroy();
    await killAllTestQemus();
  });

  it("refuses a wrong password and a missing one", async () => {
    await expect(VncClient.connect({ port, password: "wrong" })).rejects.toMatchObject({
      code: "KILN_VNC_AUTH",
    });
    await expect(VncClient.connect({ port })).rejects.toMatchObject({
      code: "KILN_VNC_AUTH",
      message: expect.stringContaining("wants a password"),
    });
  });

  it("logs in with the password and types every printable character intact (shifted ones too)", async () => {
    const vnc = await VncClient.connect({ port, password });
    try {
      expect(vnc.version).toBe("3.8");
      expect(vnc.securityType).toBe(2);
      expect(vnc.serverInit.width).toBeGreaterThan(0);
      const text = sampleText();
      const before = (await q.serial()).length;
      const actions = parseBootCommand(`${text}<enter>`);
      const t0 = Date.now();
      await typeBootCommand(actions, createVncKeyDriver(vnc), { keyInterval: 10 });
      const ms = Date.now() - t0;
      const out = await q.waitSerial(before + 2 * (text.length + 1), 20_000);
      expect(echoedAscii(out)).toBe(`${text}\r`);
      // biome-ignore lint/suspicious/noConsole: the rate is what this test reports
      console.info(
        `[vnc] typed ${text.length + 1} keys over VNC (boot_key_interval 10ms) at ${((text.length + 1) / (ms / 1000)).toFixed(1)} keys/s`,
      );
    } finally {
      await vnc.close();
    }
  }, 60_000);

  it("holds modifiers across keys: <leftShiftOn>abc<leftShiftOff>d → ABCd", async () => {
    const vnc = await VncClient.connect({ port, password });
    try {
      const before = (await q.serial()).length;
      await typeBootCommand(parseBootCommand("<leftShiftOn>ab1<leftShiftOff>d"), createVncKeyDriver(vnc), {
        keyInterval: 10,
      });
      const out = await q.waitSerial(before + 8, 10_000);
      expect(echoedAscii(out.subarray(before - 1))).toBe("AB!d");
    } finally {
      await vnc.close();
    }
  }, 30_000);

  it("rates: VNC at Packer's default interval (100 ms) and QMP's own pacing, same guest", async () => {
    const text = "Kiln-Rate_Test:0123/ABC!";
    const rate = async (driver: Parameters<typeof typeBootCommand>[1], opts = {}) => {
      const before = (await q.serial()).length;
      const t0 = Date.now();
      await typeBootCommand(parseBootCommand(text), driver, opts);
      const ms = Date.now() - t0;
      const out = await q.waitSerial(before + 2 * text.length, 10_000);
      expect(echoedAscii(out.subarray(before - 1))).toBe(text);
      return (text.length / (ms / 1000)).toFixed(1);
    };
    const vnc = await VncClient.connect({ port, password });
    let vncDefault: string;
    try {
      vncDefault = await rate(createVncKeyDriver(vnc));
    } finally {
      await vnc.close();
    }
    const viaQmp = await rate(createQmpKeyDriver(qmp));
    // biome-ignore lint/suspicious/noConsole: the rates are what this test reports
    console.info(
      `[vnc] ${text.length} keys: VNC (default 100ms interval) ${vncDefault} keys/s; QMP ${viaQmp} keys/s`,
    );
  }, 30_000);
});
