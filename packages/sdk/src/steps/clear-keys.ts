/**
 * `ssh_clear_authorized_keys`, as Packer does it: after provisioning and before the machine is
 * shut down and saved, remove the build's temporary public key from the login user's
 * `~/.ssh/authorized_keys` and (through `sudo -n`, when the user is not root) from
 * `/root/.ssh/authorized_keys`. Only the lines holding that key go; every other line stays, in
 * its order, and the file keeps its owner, mode and inode (it is rewritten in place).
 *
 * Packer matches the key's comment; this matches the key itself (its base64 blob), so a key with
 * options in front (`no-pty ssh-ed25519 AAAA…`) goes too and nothing else can match. As in
 * Packer, a failure is reported but does not fail the build: the private key is discarded anyway.
 */
import type { Communicator, RunContext, Step } from "@kiln/core";
import { STATE_COMMUNICATOR } from "./connect.js";

export interface ClearAuthorizedKeysOptions {
  communicator?: "ssh" | "none";
  ssh_clear_authorized_keys?: boolean;
}

export interface ClearAuthorizedKeysStepOptions {
  /** The temporary public key line the builder installed (undefined: none was made, nothing to do). */
  publicKey: (ctx: RunContext) => string | undefined;
  /**
   * The login user's files to clean. `~/` means the user's home. Default
   * `["~/.ssh/authorized_keys"]`.
   */
  files?: string[];
  /** Also clean `/root/.ssh/authorized_keys` with `sudo -n` when the user is not root. Default true. */
  root?: boolean;
}

/** What the remote script reported for one file. */
export interface ClearedFile {
  file: string;
  removed: number;
  status: "removed" | "absent" | "missing-file" | "failed";
}

function shellQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

function remotePath(p: string): string {
  if (p === "~") return '"$HOME"';
  if (p.startsWith("~/")) return `"$HOME"/${shellQuote(p.slice(2))}`;
  return shellQuote(p);
}

/** The key's base64 blob: what identifies it on any authorized_keys line. */
export function authorizedKeyBlob(publicKey: string): string {
  const blob = publicKey
    .trim()
    .split(/\s+/)
    .find((part) => /^AAAA[A-Za-z0-9+/]+=*$/.test(part));
  if (!blob) throw new Error("not an OpenSSH public key line");
  return blob;
}

/**
 * The POSIX sh script that removes every line holding `blob` from each file given as an argument,
 * rewriting the file in place (owner, mode and links kept), and prints one line per file:
 * `kiln-clear-keys <status> <removed lines> <file>`.
 */
export function clearKeysScript(blob: string): string {
  return [
    `k=${shellQuote(blob)}`,
    "rc=0",
    'for f in "$@"; do',
    '  if [ ! -f "$f" ]; then echo "kiln-clear-keys missing-file 0 $f"; continue; fi',
    '  n=$(grep -c -F -e "$k" "$f"); g=$?',
    '  if [ "$g" -gt 1 ]; then echo "kiln-clear-keys failed 0 $f"; rc=1; continue; fi',
    '  if [ "$n" = 0 ]; then echo "kiln-clear-keys absent 0 $f"; continue; fi',
    '  t=$(mktemp "${TMPDIR:-/tmp}/kiln-keys.XXXXXX") || { echo "kiln-clear-keys failed 0 $f"; rc=1; continue; }',
    '  grep -v -F -e "$k" "$f" >"$t"; g=$?',
    '  if [ "$g" -le 1 ] && cat "$t" >"$f"; then echo "kiln-clear-keys removed $n $f"; else echo "kiln-clear-keys failed 0 $f"; rc=1; fi',
    '  rm -f "$t"',
    "done",
    "exit $rc",
  ].join("\n");
}

/** The whole remote command: the user's files, then root's through sudo -n when not root. */
export function clearKeysCommand(publicKey: string, files: string[], root: boolean): string {
  const script = shellQuote(clearKeysScript(authorizedKeyBlob(publicKey)));
  const user = `sh -c ${script} kiln-clear-keys ${files.map(remotePath).join(" ")}`;
  if (!root) return user;
  return [
    `${user}; r=$?`,
    'if [ "$(id -u)" != 0 ]; then',
    "  if command -v sudo >/dev/null 2>&1; then",
    `    sudo -n sh -c ${script} kiln-clear-keys /root/.ssh/authorized_keys || { echo "kiln-clear-keys failed 0 /root/.ssh/authorized_keys (sudo -n)"; r=1; }`,
    "  fi",
    "fi",
    "exit $r",
  ].join("\n");
}

/** Parse the script's report lines. */
export function parseClearKeysReport(stdout: string): ClearedFile[] {
  const out: ClearedFile[] = [];
  for (const line of stdout.split(/\r?\n/)) {
    const m = /^kiln-clear-keys (removed|absent|missing-file|failed) (\d+) (.+)$/.exec(line.trim());
    if (m) out.push({ status: m[1] as ClearedFile["status"], removed: Number(m[2]), file: m[3] as string });
  }
  return out;
}

export const STATE_CLEARED_KEYS = "ssh-cleared-keys";

/**
 * The step. Runs only with `ssh_clear_authorized_keys: true`, the SSH communicator and a
 * temporary key; puts what it did in the state as `ssh-cleared-keys` (ClearedFile[]).
 */
export function clearAuthorizedKeysStep(
  o: ClearAuthorizedKeysOptions,
  how: ClearAuthorizedKeysStepOptions,
): Step {
  return {
    name: "clear authorized keys",
    async run(ctx) {
      if (!o.ssh_clear_authorized_keys || (o.communicator ?? "ssh") !== "ssh") return;
      const key = how.publicKey(ctx);
      if (!key) {
        ctx.ui.message(
          "ssh_clear_authorized_keys: no temporary key was made (a password or key file is used); nothing to remove.",
        );
        return;
      }
      const comm = ctx.state.get<Communicator>(STATE_COMMUNICATOR);
      if (!comm) return;
      ctx.ui.say("Removing the temporary SSH key from authorized_keys...");
      let stdout = "";
      let stderr = "";
      let exitCode: number | null = null;
      try {
        const r = await comm.exec(
          clearKeysCommand(key, how.files ?? ["~/.ssh/authorized_keys"], how.root ?? true),
          {
            signal: ctx.signal,
            onStdout: (c) => {
              stdout += c;
            },
            onStderr: (c) => {
              stderr += c;
            },
          },
        );
        exitCode = r.exitCode;
      } catch (e) {
        if (ctx.signal.aborted) throw e;
        stderr += e instanceof Error ? e.message : String(e);
      }
      const report = parseClearKeysReport(stdout);
      ctx.state.put(STATE_CLEARED_KEYS, report);
      for (const f of report) {
        if (f.status === "removed")
          ctx.ui.message(`Removed the temporary key from ${f.file} (${f.removed} line(s)).`);
        else if (f.status === "absent") ctx.ui.message(`${f.file} does not hold the temporary key.`);
        else if (f.status === "missing-file") ctx.ui.message(`${f.file} does not exist.`);
      }
      const failed = report.filter((f) => f.status === "failed");
      if (exitCode !== 0 || failed.length > 0) {
        ctx.ui.error(
          `Could not remove the temporary SSH key from ${failed.length ? failed.map((f) => f.file).join(", ") : "authorized_keys"}${stderr.trim() ? `: ${stderr.trim().split("\n").slice(-2).join(" / ")}` : ""}; remove it by hand (its private key is discarded).`,
        );
      }
    },
  };
}
