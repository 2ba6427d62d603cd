/**
 * A machine's memory and device state as a file, through QEMU's migration: saved with
 * `migrate` to a unix socket kiln listens on, loaded into a QEMU started with `-incoming
 * defer` through `migrate-incoming` and a socket kiln writes the file into. The bytes pass
 * through kiln both ways, so the file's SHA-256 is computed on the way out and checked on the
 * way in, before the machine runs a single instruction. (QEMU 7.2 has no `file:` migration.)
 */
import { createHash } from "node:crypto";
import { createReadStream, createWriteStream } from "node:fs";
import { rm } from "node:fs/promises";
import { connect, createServer, type Socket } from "node:net";
import { join } from "node:path";
import { pipeline } from "node:stream/promises";
import type { QmpClient, QmpEvent } from "@kiln/sdk";

export interface VmStateFile {
  sha256: string;
  bytes: number;
}

const DONE = ["completed", "failed", "cancelled"];

/** Turn QMP migration events on (needed before waiting for MIGRATION). */
async function migrationEvents(qmp: QmpClient): Promise<void> {
  await qmp.execute("migrate-set-capabilities", { capabilities: [{ capability: "events", state: true }] });
}

function finished(qmp: QmpClient, signal: AbortSignal): Promise<QmpEvent> {
  return qmp.waitForEvent("MIGRATION", {
    signal,
    filter: (e) => DONE.includes(String(e.data?.status)),
  });
}

async function failure(qmp: QmpClient, what: string): Promise<Error> {
  const info = await qmp
    .execute<{ "error-desc"?: string }>("query-migrate")
    .catch(() => ({}) as { "error-desc"?: string });
  return new Error(`${what}${info["error-desc"] ? `: ${info["error-desc"]}` : ""}`);
}

/**
 * Write the paused machine's state to `file` (the machine stays paused; `cont` resumes it).
 * `sockDir` is a short folder for the socket (unix socket paths are limited to 107 bytes).
 */
export async function saveVmState(
  qmp: QmpClient,
  file: string,
  sockDir: string,
  signal: AbortSignal,
): Promise<VmStateFile> {
  const sock = join(sockDir, "migrate-out.sock");
  await rm(sock, { force: true });
  const hash = createHash("sha256");
  let bytes = 0;
  let written: Promise<void> | undefined;
  const server = createServer({ allowHalfOpen: false }, (s: Socket) => {
    if (written) return s.destroy(); // one stream only
    const out = createWriteStream(file, { mode: 0o600 });
    s.on("data", (d: Buffer) => {
      hash.update(d);
      bytes += d.length;
    });
    written = pipeline(s, out);
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(sock, resolve);
  });
  try {
    await migrationEvents(qmp);
    // Paused, everything goes in one pass: let it go as fast as the disk takes it.
    await qmp.execute("migrate-set-parameters", { "max-bandwidth": 1e12 });
    const done = finished(qmp, signal);
    await qmp.execute("migrate", { uri: `unix:${sock}` });
    let ev: QmpEvent;
    try {
      ev = await done;
    } catch (e) {
      await qmp.execute("migrate_cancel").catch(() => {});
      throw e;
    }
    if (ev.data?.status !== "completed")
      throw await failure(qmp, `saving the machine's state ${ev.data?.status}`);
    await written;
    return { sha256: hash.digest("hex"), bytes };
  } finally {
    server.close();
    await rm(sock, { force: true });
  }
}

/**
 * Load `file` into a QEMU started with `-incoming defer`; rejects when QEMU refuses it or the
 * bytes are not the ones saved (`sha256`). The machine is left paused.
 */
export async function loadVmState(
  qmp: QmpClient,
  file: string,
  expected: VmStateFile,
  sockDir: string,
  signal: AbortSignal,
): Promise<void> {
  const sock = join(sockDir, "migrate-in.sock");
  await rm(sock, { force: true });
  await migrationEvents(qmp);
  const done = finished(qmp, signal);
  await qmp.execute("migrate-incoming", { uri: `unix:${sock}` });
  const hash = createHash("sha256");
  let bytes = 0;
  const sent = (async () => {
    const s = connect(sock);
    await new Promise<void>((resolve, reject) => {
      s.once("connect", resolve);
      s.once("error", reject);
    });
    const src = createReadStream(file);
    src.on("data", (d) => {
      hash.update(d as Buffer);
      bytes += (d as Buffer).length;
    });
    // QEMU may close its end early when it rejects the stream: that is its error to report.
    await pipeline(src, s).catch(() => {});
  })();
  try {
    const ev = await done;
    await sent;
    if (ev.data?.status !== "completed")
      throw await failure(qmp, `QEMU did not accept the saved state (${ev.data?.status})`);
    const sha = hash.digest("hex");
    if (bytes !== expected.bytes || sha !== expected.sha256)
      throw new Error(
        `the saved state is damaged (${bytes} bytes, sha256 ${sha.slice(0, 12)}…, saved ${expected.bytes} bytes, ${expected.sha256.slice(0, 12)}…)`,
      );
  } finally {
    await rm(sock, { force: true });
  }
}
