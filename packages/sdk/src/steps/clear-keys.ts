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
 * When `sudo -n` is not possible (no sudo, a password or a tty needed), root's file is skipped
 * with a message, not an error (Packer only logs it). The command is one `sh -c` line, so the
 * user's login shell may be sh, bash, csh/tcsh or fish.
 */
import type { Step } from "@kiln/core";
import type { CommunicatorOptions } from "../schemas.js";
import { CLEARED_KEYS, COMMUNICATOR, TEMPORARY_KEY } from "../state.js";

export type ClearAuthorizedKeysOptions = Pick<
  CommunicatorOptions,
  "communicator" | "ssh_clear_authorized_keys"
>;

export interface ClearAuthorizedKeysStepOptions {
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
  /**
   * `no-sudo`: root's file was not looked at because `sudo -n` is not possible for the user (no
   * sudo, a password or a tty is required); Packer only logs this too.
   */
  status: "removed" | "absent" | "missing-file" | "failed" | "no-sudo";
}

const ROOT_KEYS = "/root/.ssh/authorized_keys";
/** Prefix of the stderr line that says why `sudo -n` is not possible. */
const SUDO_REASON = "kiln-clear-keys: sudo -n: ";

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
 * The POSIX sh script, on ONE line, that removes every line holding `blob` from each file given as
 * an argument, rewriting the file in place (owner, mode and inode kept: `tee` writes into it), and
 * prints one line per file: `kiln-clear-keys <status> <removed lines> <file>`. With `root`, a
 * non-root user then does the same to /root/.ssh/authorized_keys through `sudo -n`, or reports
 * `no-sudo` (and why, on stderr) when sudo cannot be used without a password or a tty.
 *
 * It is one line with no `'`, `!` and no backslash but printf's `\n`, so that whatever login shell
 * receives it inside single quotes (sh, bash, csh/tcsh, fish) passes it to sh unchanged. Exits 1
 * when a file failed.
 */
export function clearKeysScript(blob: string, root = false): string {
  if (!/^[A-Za-z0-9+/=]+$/.test(blob)) throw new Error("not a key blob");
  const statements = [
    `k=${blob}`,
    "rc=0",
    'o() { printf "kiln-clear-keys %s %s %s\\n" "$1" "$2" "$3"; }',
    // c PREFIX FILE: PREFIX is empty or "sudo -n" (split into words on purpose).
    'c() { p=$1; f=$2; if $p test -f "$f"; then :; else o missing-file 0 "$f"; return 0; fi' +
      '; n=$($p grep -c -F -e "$k" "$f"); g=$?' +
      '; if [ "$g" -gt 1 ]; then o failed 0 "$f"; return 1; fi' +
      '; if [ "$n" = 0 ]; then o absent 0 "$f"; return 0; fi' +
      '; t=$(mktemp "${TMPDIR:-/tmp}/kiln-keys.XXXXXX") || { o failed 0 "$f"; return 1; }' +
      '; $p grep -v -F -e "$k" "$f" >"$t"; g=$?' +
      '; if [ "$g" -le 1 ] && $p tee "$f" <"$t" >/dev/null; then o removed "$n" "$f"; r=0; else o failed 0 "$f"; r=1; fi' +
      '; rm -f "$t"; return $r; }',
    'for f in "$@"; do c "" "$f" || rc=1; done',
  ];
  if (root) {
    statements.push(
      'if [ "$(id -u)" -ne 0 ]; then if e=$(sudo -n true 2>&1 </dev/null); then c "sudo -n" ' +
        `${ROOT_KEYS} || rc=1; else o no-sudo 0 ${ROOT_KEYS}; ` +
        `printf "%s%s\\n" "${SUDO_REASON}" "$(printf "%s" "$e" | tail -n 1)" >&2; fi; fi`,
    );
  }
  statements.push("exit $rc");
  const script = statements.join("; ");
  // printf's \n is the only backslash: fish reads \\ and \' in single quotes, csh reads ! anywhere.
  if (/[\n'!\\]/.test(script.replaceAll("\\n", "")))
    throw new Error("the clear-keys script must stay one plain line");
  return script;
}

/**
 * The whole remote command, one line whatever the user's login shell:
 * `sh -c '<script>' kiln-clear-keys <files…>` (root's file through sudo -n, inside the script).
 */
export function clearKeysCommand(publicKey: string, files: string[], root: boolean): string {
  const script = clearKeysScript(authorizedKeyBlob(publicKey), root);
  return `sh -c '${script}' kiln-clear-keys ${files.map(remotePath).join(" ")}`.trimEnd();
}

/** Parse the script's report lines. */
export function parseClearKeysReport(stdout: string): ClearedFile[] {
  const out: ClearedFile[] = [];
  for (const line of stdout.split(/\r?\n/)) {
    const m = /^kiln-clear-keys (removed|absent|missing-file|failed|no-sudo) (\d+) (.+)$/.exec(line);
    if (m) out.push({ status: m[1] as ClearedFile["status"], removed: Number(m[2]), file: m[3] as string });
  }
  return out;
}

/**
 * The step. Runs only with `ssh_clear_authorized_keys: true`, the SSH communicator and a
 * temporary key; puts what it did in the state as `ssh-cleared-keys` (ClearedFile[]).
 */
export function clearAuthorizedKeysStep(
  o: ClearAuthorizedKeysOptions,
  how: ClearAuthorizedKeysStepOptions = {},
): Step {
  return {
    name: "clear authorized keys",
    async run(ctx) {
      if (!o.ssh_clear_authorized_keys || o.communicator !== "ssh") return;
      const key = ctx.state.get(TEMPORARY_KEY)?.publicKey;
      if (!key) {
        ctx.ui.message(
          "ssh_clear_authorized_keys: no temporary key was made (a password or key file is used); nothing to remove.",
        );
        return;
      }
      const comm = ctx.state.get(COMMUNICATOR);
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
      ctx.state.put(CLEARED_KEYS, report);
      const errLines = stderr.split(/\r?\n/).filter((l) => l.trim() !== "");
      const sudoReason = errLines
        .filter((l) => l.startsWith(SUDO_REASON))
        .pop()
        ?.slice(SUDO_REASON.length);
      const otherErr = errLines.filter((l) => !l.startsWith(SUDO_REASON));
      for (const f of report) {
        if (f.status === "removed")
          ctx.ui.message(`Removed the temporary key from ${f.file} (${f.removed} line(s)).`);
        else if (f.status === "absent") ctx.ui.message(`${f.file} does not hold the temporary key.`);
        else if (f.status === "missing-file") ctx.ui.message(`${f.file} does not exist.`);
        else if (f.status === "no-sudo")
          ctx.ui.message(
            `${f.file} was not checked: sudo -n is not possible for this user${sudoReason?.trim() ? ` (${sudoReason.trim()})` : ""}. The temporary key is normally only in the login user's file; if it was added to ${f.file} too, remove it there by hand.`,
          );
      }
      const failed = report.filter((f) => f.status === "failed");
      if (exitCode !== 0 || failed.length > 0) {
        ctx.ui.error(
          `Could not remove the temporary SSH key from ${failed.length ? failed.map((f) => f.file).join(", ") : "authorized_keys"}${otherErr.length ? `: ${otherErr.slice(-2).join(" / ")}` : ""}; remove it by hand (its private key is discarded).`,
        );
      }
    },
  };
}
