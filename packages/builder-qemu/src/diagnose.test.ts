/** What a failed build tells the user, without QEMU. */
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import {
  bootCommandHint,
  diagnosisHint,
  failureScreenshotPath,
  lastLines,
  SSH_TIMEOUT_HINT,
  serialTail,
  shutdownHint,
  sshWhere,
  stderrTail,
} from "./diagnose.js";

describe("the serial console's tail", () => {
  it("drops terminal escapes and empty lines and keeps the last lines", () => {
    const text = "\x1b[2J\x1b[1;1Hboot: \r\n\r\n  one\r\ntwo  \rthree\n\n\x1b[0mfour\n";
    expect(lastLines(text)).toBe("boot:\n  one\ntwo\nthree\nfour");
    expect(lastLines(text, 2)).toBe("three\nfour");
    expect(lastLines("")).toBe("");
  });

  it("reads the console file, and a missing one is empty", async () => {
    const dir = await mkdtemp(join(tmpdir(), "kiln-qemu-diag-"));
    try {
      const file = join(dir, "serial.log");
      await writeFile(file, Array.from({ length: 30 }, (_, i) => `line ${i}`).join("\n"));
      const tail = await serialTail(file);
      expect(tail.split("\n")).toHaveLength(15);
      expect(tail.split("\n")[14]).toBe("line 29");
      expect(await serialTail(join(dir, "missing.log"))).toBe("");
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe("failure messages", () => {
  it("puts the screenshot beside the build file, named after the run", () => {
    expect(failureScreenshotPath("/b", "qemu.wrong")).toBe("/b/kiln-qemu.wrong-failure.png");
    expect(failureScreenshotPath("/b", "my build/qemu.x y")).toBe("/b/kiln-my_build_qemu.x_y-failure.png");
  });

  it("the hint: what to check, the screenshot, the serial console's lines or how to get them", () => {
    const full = diagnosisHint(SSH_TIMEOUT_HINT, { png: "/b/s.png", serial: "a\nb" }, "/t/serial.log");
    expect(full).toBe(
      `${SSH_TIMEOUT_HINT}\nScreenshot of the machine's screen: /b/s.png\nLast lines of the serial console (/t/serial.log):\n  | a\n  | b`,
    );
    expect(diagnosisHint("x", { serial: "" }, "/t/serial.log")).toBe(
      "x\nThe serial console (ttyS0) printed nothing; add console=ttyS0 to the guest's kernel command line to see its output here.",
    );
    expect(diagnosisHint("x", { serial: "" }, undefined)).toBe("x");
  });

  it("names where SSH was awaited, QEMU's last stderr lines, and what to check after a shutdown or a boot command", () => {
    expect(sshWhere({ ssh_port: 22 }, 3022)).toBe("127.0.0.1:3022 (forwarded to the guest's port 22)");
    expect(sshWhere({ ssh_host: "10.1.1.5", ssh_port: 2200 }, undefined)).toBe("10.1.1.5:2200");
    expect(stderrTail("a\nb\nc\nd\n", 3)).toBe("b / c / d");
    expect(shutdownHint({ communicator: "none" })).toMatch(/power off by itself/);
    expect(shutdownHint({ communicator: "ssh", shutdown_command: "poweroff" })).toMatch(
      /Check that shutdown_command powers the machine off/,
    );
    expect(shutdownHint({ communicator: "ssh" })).toMatch(/ignores the ACPI power button/);
    expect(bootCommandHint(true)).toMatch(/boot_command syntax/);
    expect(bootCommandHint(false)).toMatch(/screenshot/);
  });
});
