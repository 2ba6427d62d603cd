/** Whether the tests that need the real ansible-playbook skip: only when it is missing and CI is not set. */
import { execFileSync } from "node:child_process";

export function ansibleAvailable(): { available: boolean; reason?: string } {
  try {
    execFileSync("ansible-playbook", ["--version"], { stdio: "ignore", timeout: 60_000 });
    return { available: true };
  } catch (err) {
    return {
      available: false,
      reason: `ansible-playbook cannot be run (${(err as Error).message.split("\n")[0]}); apt-get install ansible`,
    };
  }
}

export function ansibleSkip(suite: string): { skip: boolean; reason: string | undefined } {
  const a = ansibleAvailable();
  if (!a.available && process.env.CI === "true")
    throw new Error(`CI=true requires the ${suite} tests to run, but ${a.reason}`);
  if (!a.available) {
    // biome-ignore lint/suspicious/noConsole: tell the developer why a suite is skipped
    console.warn(`[kiln] skipping the ${suite} tests: ${a.reason}`);
  }
  return { skip: !a.available, reason: a.reason };
}
