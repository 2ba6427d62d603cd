/** Single-file transfers without SFTP: `cat` over an exec channel, for servers without an SFTP subsystem. */
import { createHash, randomBytes } from "node:crypto";
import { createWriteStream } from "node:fs";
import { chmod, rename, rm } from "node:fs/promises";
import { CommunicatorError } from "../errors.js";
import { shellQuote, writeLocal } from "../sftp.js";
import { run } from "./exec.js";
import type { SSHLink } from "./link.js";
import { openSource } from "./source.js";

/**
 * Run a command feeding `input` to its stdin (with back-pressure) and handing stdout to `sink`
 * (awaited: the channel pauses meanwhile). Resolves with the exit code and the start of stderr.
 */
function streamExec(
  link: SSHLink,
  command: string,
  input: AsyncIterable<Buffer> | Iterable<Buffer> | undefined,
  sink?: (chunk: Buffer) => Promise<void> | void,
): Promise<{ exitCode: number | null; stderr: string }> {
  const client = link.requireClient("transfer files");
  return new Promise((resolve, reject) => {
    client.exec(command, (err, ch) => {
      if (err) return reject(err);
      let exitCode: number | null = null;
      let stderr = "";
      let failed = false;
      const fail = (e: unknown): void => {
        if (failed) return;
        failed = true;
        ch.close();
        reject(e);
      };
      ch.on("exit", (code: number | null) => {
        exitCode = code ?? null;
      });
      ch.stderr.on("data", (d: Buffer) => {
        if (stderr.length < 4096) stderr += d.toString();
      });
      ch.on("data", (d: Buffer) => {
        if (!sink) return;
        const r = sink(d);
        if (r) {
          ch.pause();
          r.then(
            () => ch.resume(),
            (e: unknown) => fail(e),
          );
        }
      });
      ch.on("close", () => {
        if (failed) return;
        if (link.dead.has(client)) {
          failed = true;
          reject(
            new CommunicatorError(
              "KILN_SSH_DISCONNECTED",
              `the connection to ${link.target} was lost during a transfer`,
            ),
          );
          return;
        }
        resolve({ exitCode, stderr });
      });
      void (async () => {
        try {
          if (input) {
            for await (const chunk of input) {
              if (failed) return;
              if (!ch.write(chunk)) await new Promise<void>((r) => ch.once("drain", () => r()));
            }
          }
          ch.end();
        } catch (e) {
          fail(e);
        }
      })();
    });
  });
}

/** Upload one file without SFTP: `cat > path` over an exec channel, then chmod. */
export async function putViaShell(
  link: SSHLink,
  src: string | Buffer,
  remotePath: string,
  mode: number | undefined,
  onProgress?: (done: number, total: number) => void,
): Promise<{ remote: string; bytes: number; sha256: string }> {
  const { total, chunks, fileMode } = await openSource(src, mode, 256 * 1024);
  const hash = createHash("sha256");
  let bytes = 0;
  async function* counted(): AsyncIterable<Buffer> {
    for await (const c of chunks) {
      hash.update(c);
      bytes += c.length;
      yield c;
      onProgress?.(bytes, Math.max(total, bytes));
    }
  }
  onProgress?.(0, total);
  const q = shellQuote(remotePath);
  const r = await streamExec(
    link,
    `cat > ${q} && chmod ${fileMode.toString(8).padStart(4, "0")} ${q}`,
    counted(),
  );
  if (r.exitCode !== 0) {
    throw new CommunicatorError(
      "KILN_SSH_TRANSFER_FAILED",
      `writing ${remotePath} on ${link.target} failed (exit ${String(r.exitCode)}): ${r.stderr.trim().slice(0, 500)}`,
    );
  }
  return { remote: remotePath, bytes, sha256: hash.digest("hex") };
}

/** Download one file without SFTP: `cat path` over an exec channel into a temporary local file. */
export async function getViaShell(
  link: SSHLink,
  remotePath: string,
  localPath: string,
  onProgress?: (done: number, total: number) => void,
): Promise<{ remote: string; bytes: number; sha256: string }> {
  const q = shellQuote(remotePath);
  const info = await run(link, `stat -L -c '%s %a' ${q}`);
  const m = /^(\d+) ([0-7]+)/.exec(info.stdout);
  const total = m ? Number(m[1]) : 0;
  const mode = m ? Number.parseInt(m[2] ?? "644", 8) : 0o644;
  const tmp = `${localPath}.kiln-partial-${randomBytes(4).toString("hex")}`;
  const out = createWriteStream(tmp, { flags: "wx", mode: 0o600 });
  await new Promise<void>((resolve, reject) => {
    out.once("open", () => resolve());
    out.once("error", reject);
  });
  const hash = createHash("sha256");
  let bytes = 0;
  let ok = false;
  try {
    let r: { exitCode: number | null; stderr: string };
    try {
      onProgress?.(0, total);
      r = await streamExec(link, `cat ${q}`, undefined, (c) => {
        hash.update(c);
        bytes += c.length;
        onProgress?.(bytes, Math.max(total, bytes));
        return writeLocal(out, c);
      });
    } finally {
      await new Promise<void>((resolve, reject) => {
        out.once("error", reject);
        out.end(() => resolve());
      });
    }
    if (r.exitCode !== 0) {
      throw new CommunicatorError(
        "KILN_SSH_TRANSFER_FAILED",
        `reading ${remotePath} on ${link.target} failed (exit ${String(r.exitCode)}): ${r.stderr.trim().slice(0, 500)}`,
      );
    }
    if (m && bytes !== total) {
      throw new CommunicatorError(
        "KILN_SSH_INTEGRITY",
        `${remotePath} on ${link.target}: received ${bytes} of ${total} bytes`,
      );
    }
    await chmod(tmp, mode);
    await rename(tmp, localPath);
    ok = true;
    return { remote: remotePath, bytes, sha256: hash.digest("hex") };
  } finally {
    if (!ok) await rm(tmp, { force: true }).catch(() => {});
  }
}
