/** ansible-playbook --version: the version it reports, for the transfer method to use. */

export interface AnsibleVersion {
  major: number;
  minor: number;
  patch: number;
  /** As printed, e.g. "2.14.18". */
  text: string;
}

/**
 * The version in `ansible-playbook --version`'s first line: `ansible-playbook [core 2.14.18]`
 * (ansible-core), `ansible-playbook 2.9.6` (older). Undefined when there is none.
 */
export function parseAnsibleVersion(output: string): AnsibleVersion | undefined {
  const first = output.split("\n").find((l) => l.trim() !== "") ?? "";
  const m = /(?:\[core |\s|^)(\d+)\.(\d+)(?:\.(\d+))?/.exec(first);
  if (!m) return undefined;
  const [major, minor, patch] = [m[1], m[2], m[3] ?? "0"].map(Number) as [number, number, number];
  return {
    major,
    minor,
    patch,
    text: m[3] === undefined ? `${major}.${minor}` : `${major}.${minor}.${patch}`,
  };
}
