/** Checking transferred files: sizes, and sha256sum on the machine when it has one. */
import { rm } from "node:fs/promises";
import type { SFTPWrapper } from "ssh2";
import { CommunicatorError } from "../errors.js";
import { readChunks, sftpClose, sftpOpen, sftpStat, shellQuote } from "../sftp.js";
import { run } from "./exec.js";
import type { SSHLink } from "./link.js";

/** sha256 of remote files with `sha256sum`, in order; undefined when the tool is not available. */
async function remoteSha256(link: SSHLink, paths: string[]): Promise<string[] | undefined> {
  if (link.hasSha256sum === false || paths.length === 0) return paths.length === 0 ? [] : undefined;
  const out: string[] = [];
  for (let i = 0; i < paths.length; ) {
    const batch: string[] = [];
    let len = 0;
    while (i < paths.length && batch.length < 256 && len < 64 * 1024) {
      const p = paths[i++] as string;
      batch.push(p);
      len += p.length + 3;
    }
    const r = await run(link, `sha256sum -- ${batch.map(shellQuote).join(" ")}`);
    const sums = r.stdout
      .split("\n")
      .map((l) => /^\\?([0-9a-f]{64}) /.exec(l)?.[1])
      .filter((s): s is string => s !== undefined);
    if (r.exitCode !== 0 || sums.length !== batch.length) {
      if (r.exitCode === 127 || sums.length === 0) {
        link.hasSha256sum = false;
        return undefined;
      }
      throw new CommunicatorError(
        "KILN_SSH_INTEGRITY",
        `sha256sum failed on ${link.target}: ${r.stderr.trim().slice(0, 500)}`,
      );
    }
    link.hasSha256sum = true;
    out.push(...sums);
  }
  return out;
}

/** Compare remote files against what was sent: size via SFTP, content via sha256sum (or by reading back over SFTP). */
export async function verifyRemote(
  link: SSHLink,
  sftp: SFTPWrapper,
  files: { remote: string; bytes: number; sha256: string }[],
): Promise<void> {
  for (const f of files) {
    const st = await sftpStat(sftp, f.remote);
    if (st.size !== f.bytes) {
      throw new CommunicatorError(
        "KILN_SSH_INTEGRITY",
        `${f.remote} on ${link.target} has ${st.size} bytes after upload, expected ${f.bytes}`,
      );
    }
  }
  const sums = await remoteSha256(
    link,
    files.map((f) => f.remote),
  );
  for (const [i, f] of files.entries()) {
    let sum = sums?.[i];
    if (sum === undefined) {
      const h = await sftpOpen(sftp, f.remote, "r");
      try {
        sum = (await readChunks(sftp, h, f.bytes)).sha256;
      } finally {
        await sftpClose(sftp, h).catch(() => {});
      }
    }
    if (sum !== f.sha256) {
      throw new CommunicatorError(
        "KILN_SSH_INTEGRITY",
        `${f.remote} on ${link.target} does not match what was sent (sha256 ${sum}, expected ${f.sha256})`,
      );
    }
  }
}

/** Check files written without SFTP: sha256sum when the machine has it, else the size with `wc -c`. */
export async function verifyViaShell(
  link: SSHLink,
  f: { remote: string; bytes: number; sha256: string },
): Promise<void> {
  const sums = await remoteSha256(link, [f.remote]);
  if (sums) {
    if (sums[0] !== f.sha256) {
      throw new CommunicatorError(
        "KILN_SSH_INTEGRITY",
        `${f.remote} on ${link.target} does not match what was sent (sha256 ${sums[0] ?? "?"}, expected ${f.sha256})`,
      );
    }
    return;
  }
  const r = await run(link, `wc -c < ${shellQuote(f.remote)}`);
  const size = Number(r.stdout.trim());
  if (r.exitCode !== 0 || size !== f.bytes) {
    throw new CommunicatorError(
      "KILN_SSH_INTEGRITY",
      `${f.remote} on ${link.target} has ${r.stdout.trim() || "unknown"} bytes after upload, expected ${f.bytes}`,
    );
  }
}

export async function verifyDownloaded(
  link: SSHLink,
  files: { remote: string; sha256: string; local: string }[],
): Promise<void> {
  const sums = await remoteSha256(
    link,
    files.map((f) => f.remote),
  );
  if (!sums) return; // no sha256sum remotely: sizes were checked while reading
  for (const [i, f] of files.entries()) {
    if (sums[i] !== f.sha256) {
      await rm(f.local, { force: true });
      throw new CommunicatorError(
        "KILN_SSH_INTEGRITY",
        `${f.local} does not match ${f.remote} on ${link.target} (sha256 ${f.sha256}, remote ${sums[i] ?? "?"})`,
      );
    }
  }
}
