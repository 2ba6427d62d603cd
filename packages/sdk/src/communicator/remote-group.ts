/**
 * A remote command that can be ended. Closing the SSH channel does not end what it started,
 * and OpenSSH honours "signal" requests only for some sessions (not for root logins), so the
 * shell provisioner (and ansible-local) runs each script in a process group of its own and records the group's id
 * in a file next to the script; on interrupt, a second command sends the group TERM, then KILL
 * if it is still there after 2 s, and removes the file. The whole session is ended too
 * (`pkill -s`), so children that moved to a process group of their own go with it.
 *
 * The group: `setsid -w` (util-linux) starts a new session whose leader writes its pid — the
 * group's id — and becomes the command. Without a `setsid` that can wait (busybox, BSD), the
 * recorded pid is that of the shell sshd started, which sshd makes a session leader; its
 * children are ended by `pkill -P` where the group cannot be signalled.
 *
 * Both commands are one `sh -c '…' args` line, so they work whatever the login shell (csh, fish).
 */
import { shellQuote } from "./sftp.js";
import type { Communicator } from "./types.js";

/** Records its pid in "$0" and becomes the command "$1". */
const LEADER = `echo $$ > "$0" && exec sh -c "$1"`;

const WRAP = [
  "if command -v setsid >/dev/null 2>&1 && setsid --help 2>&1 | grep -q -- --wait; then",
  `exec setsid -w sh -c ${shellQuote(LEADER)} "$0" "$1";`,
  "fi;",
  LEADER,
].join(" ");

/** `command`, run so that `endGroup(pidFile)` can end it and everything it started. */
export function groupedCommand(command: string, pidFile: string): string {
  return `sh -c ${shellQuote(WRAP)} ${shellQuote(pidFile)} ${shellQuote(command)}`;
}

const END = [
  'p=$(cat "$0" 2>/dev/null);',
  'rm -f "$0";',
  '[ -n "$p" ] || exit 0;',
  'pkill -TERM -s "$p" 2>/dev/null;',
  'kill -TERM -"$p" 2>/dev/null || { pkill -TERM -P "$p" 2>/dev/null; kill -TERM "$p" 2>/dev/null; };',
  "i=0;",
  'while [ "$i" -lt 10 ] && { pgrep -s "$p" >/dev/null 2>&1 || kill -0 -"$p" 2>/dev/null || kill -0 "$p" 2>/dev/null; }; do',
  "sleep 0.2 2>/dev/null || sleep 1; i=$((i+1));",
  "done;",
  'pkill -KILL -s "$p" 2>/dev/null;',
  'kill -KILL -"$p" 2>/dev/null || { pkill -KILL -P "$p" 2>/dev/null; kill -KILL "$p" 2>/dev/null; };',
  "exit 0",
].join(" ");

/** The command that ends the group recorded in `pidFile` (TERM, then KILL) and removes the file. */
export function endGroupCommand(pidFile: string): string {
  return `sh -c ${shellQuote(END)} ${shellQuote(pidFile)}`;
}

/** End the group over a fresh command (the run's signal has fired); never throws. */
export async function endGroup(comm: Communicator, pidFile: string): Promise<void> {
  await comm.exec(endGroupCommand(pidFile), { timeoutMs: 15_000 }).catch(() => {});
}
