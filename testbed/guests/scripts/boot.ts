/**
 * Boot a test image by hand with the runner (not part of the test suite):
 *   KILN_BOOT=debian npx vitest run -c testbed/guests/scripts/vitest.config.ts
 * KILN_BOOT: appliance (default) | debian. KILN_BOOT_KEY: a public key file (default ~/.ssh/id_ed25519.pub,
 * else a fresh key is written to the run dir). The guest runs until it powers off (`poweroff` inside),
 * KILN_BOOT_MINUTES (default 30) pass, or Ctrl-C.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { test } from "vitest";
import { ensureImage, type ImageKind } from "../src/images.js";
import { cloudConfig, GuestRunner } from "../src/index.js";
import { testKey } from "../src/testing.js";

test("boot by hand", async () => {
  const kind = (process.env.KILN_BOOT ?? "appliance") as ImageKind;
  const img = await ensureImage(kind);
  const runner = new GuestRunner({ console: (_n, l) => process.stdout.write(`console| ${l}\n`) });
  try {
    const keyFile = process.env.KILN_BOOT_KEY ?? path.join(os.homedir(), ".ssh/id_ed25519.pub");
    let pub: string;
    let hint = "";
    if (fs.existsSync(keyFile)) pub = fs.readFileSync(keyFile, "utf8").trim();
    else {
      const k = testKey();
      pub = k.publicKey;
      const priv = path.join(runner.runDir, "id_ed25519");
      fs.writeFileSync(priv, k.privateKey, { mode: 0o600 });
      hint = ` -i ${priv}`;
    }
    const g = await runner.start({
      name: `byhand-${kind}`,
      memoryMiB: img.memoryMiB,
      disks: [{ file: img.file, overlay: true, bootIndex: 1 }],
      seed: { userData: cloudConfig({ hostname: `byhand-${kind}`, sshAuthorizedKeys: [pub] }) },
    });
    await g.waitForPort(22, 240_000);
    process.stdout.write(
      `\n>>> ssh${hint} -o StrictHostKeyChecking=no -p ${g.port(22)} ${img.user}@${g.address}\n` +
        `>>> console log: ${g.consoleLog}; QMP: ${path.join(runner.runDir, `${g.name}.qmp`)}\n\n`,
    );
    const minutes = Number(process.env.KILN_BOOT_MINUTES ?? 30);
    await Promise.race([g.exited, new Promise((r) => setTimeout(r, minutes * 60_000))]);
  } finally {
    await runner.close();
  }
});
