/**
 * End-to-end tests of provisioners without a VM: a real sshd on this machine, reached with a
 * throwaway key, as the machine of a build file's `null` source; and a build file loaded and run
 * through @kiln/core as `kiln build` does, with an empty environment.
 */
import {
  type BuildResult,
  EventBus,
  formatDiagnostics,
  type KilnError,
  type KilnEvent,
  loadBuildFile,
  type ResolverOptions,
  runBuild,
} from "@kiln/core";
import {
  generateTemporaryKeyPair,
  type TemporaryKeyFile,
  writeTemporaryPrivateKey,
} from "../communicator/keys.js";
import { type Sshd, type StartSshdOptions, startSshd } from "./sshd.js";

export interface NullHost {
  sshd: Sshd;
  /** The private key's file (dispose() it in afterAll; stopAllSshd() stops the server). */
  key: TemporaryKeyFile;
  /** The `sources:` entry `name` of type null that connects to the sshd with the key. */
  source(name?: string): string;
}

/** Starts an sshd that takes a fresh key (and, with `password`, its user's password too). */
export async function startNullHost(opts: Omit<StartSshdOptions, "authorizedKeys"> = {}): Promise<NullHost> {
  const k = generateTemporaryKeyPair();
  const sshd = await startSshd({ ...opts, authorizedKeys: [k.publicKey] });
  const key = await writeTemporaryPrivateKey(k.privateKey);
  return {
    sshd,
    key,
    source: (name = "host") => `  ${name}:
    type: "null"
    ssh_host: ${sshd.host}
    ssh_port: ${sshd.port}
    ssh_username: ${sshd.user.username}
    ssh_private_key_file: ${key.path}
    ssh_timeout: 20s
`,
  };
}

export interface RunBuildFileOptions {
  /** The variables' environment (`env:` of variables). */
  env?: Record<string, string>;
  resolver?: Omit<ResolverOptions, "fromDir" | "plugins">;
  signal?: AbortSignal;
  onEvent?: (e: KilnEvent) => void;
}

/** Loads `file` (a load error becomes an Error with the loader's diagnostics) and runs it. */
export async function runBuildFile(
  file: string,
  o: RunBuildFileOptions = {},
): Promise<{ result: BuildResult; events: KilnEvent[] }> {
  let loaded: ReturnType<typeof loadBuildFile>;
  try {
    loaded = loadBuildFile({ file, env: o.env ?? {}, ...(o.resolver ? { resolver: o.resolver } : {}) });
  } catch (err) {
    throw new Error(formatDiagnostics((err as KilnError).diagnostics ?? []) || String(err), { cause: err });
  }
  const bus = new EventBus();
  const events: KilnEvent[] = [];
  bus.subscribe((e) => {
    events.push(e);
    o.onEvent?.(e);
  });
  const result = await runBuild({ loaded, bus, signal: o.signal ?? new AbortController().signal, env: {} });
  return { result, events };
}
