import { createWriteStream, mkdirSync, type WriteStream } from "node:fs";
import { join } from "node:path";
import { createInterface } from "node:readline";
import {
  EventBus,
  type KilnEvent,
  type LoadedBuildFile,
  loadStructure,
  type OnError,
  runBuild,
  type Structure,
} from "@kiln/core";
import { type CommandContext, EXIT } from "../context.js";
import { jsonRenderer, lineFor, machineReadableRenderer, plainRenderer } from "../render/plain.js";
import { CLI_DIR, fileArg, loadFromArgs, report } from "../shared.js";

const ON_ERROR: OnError[] = ["cleanup", "abort", "ask", "pause"];

function list(v: unknown): string[] {
  const items = Array.isArray(v) ? v : typeof v === "string" ? [v] : [];
  return items
    .flatMap((s) => String(s).split(","))
    .map((s) => s.trim())
    .filter(Boolean);
}

/** `kiln build`: run every build of a file. Exit 0 when all runs succeed, 1 otherwise. */
export async function run(ctx: CommandContext): Promise<number> {
  const usage = "kiln build [--only g] [--except g] [--parallel-builds N] [--force] [--on-error m] <file>";
  const file = fileArg(ctx, usage);
  if (!file) return EXIT.INVALID;
  const onError = (ctx.values["on-error"] as string | undefined) ?? "cleanup";
  if (!ON_ERROR.includes(onError as OnError)) {
    ctx.stderr.write(`kiln build: --on-error must be one of ${ON_ERROR.join(", ")}, not "${onError}"\n`);
    return EXIT.INVALID;
  }
  const parallelText = (ctx.values["parallel-builds"] as string | undefined) ?? "0";
  const parallel = Number(parallelText);
  if (!Number.isInteger(parallel) || parallel < 0) {
    ctx.stderr.write(
      `kiln build: --parallel-builds takes a whole number (0 = all at once), not "${parallelText}"\n`,
    );
    return EXIT.INVALID;
  }
  let loaded: LoadedBuildFile;
  let structure: Structure | undefined;
  try {
    // Read and parsed once: the installer and the loader share the document.
    structure = loadStructure(file);
    // Plugins the file needs and nothing provides are installed first (into .kiln/plugins, with
    // kiln.lock) — unless --no-install, or CI=true and they are not in kiln.lock.
    const { ensurePlugins, isCI } = await import("../install/index.js");
    await ensurePlugins({
      file,
      structure,
      mode: "build",
      noInstall: ctx.values["no-install"] === true,
      ci: isCI(),
      log: (l) => ctx.stderr.write(`kiln: ${l}\n`),
      searchDirs: [CLI_DIR],
    });
    loaded = loadFromArgs(ctx, file, { structure });
  } catch (err) {
    return report(ctx, err, structure?.src);
  }

  const bus = new EventBus();
  for (const s of loaded.secrets) bus.secrets.add(s);
  const timestamps = ctx.values["timestamp-ui"] === true;
  const out = ctx.stdout as NodeJS.WriteStream;
  if (ctx.values.json) bus.subscribe(jsonRenderer(out));
  else if (ctx.values["machine-readable"]) bus.subscribe(machineReadableRenderer(out));
  else if (out.isTTY && process.env.TERM !== "dumb") {
    const { ttyRenderer } = await import("../render/tty.js");
    bus.subscribe(ttyRenderer(out, { timestamps, color: ctx.color }));
  } else bus.subscribe(plainRenderer(out, { timestamps, color: false }));

  // A full log per run, without colour, with timestamps: <build file folder>/.kiln/logs/<run>.log
  const logDir = join(loaded.dir, ".kiln", "logs");
  const logs = new Map<string, WriteStream>();
  bus.subscribe((e: KilnEvent) => {
    if (!e.run) return;
    let s = logs.get(e.run);
    if (!s) {
      mkdirSync(logDir, { recursive: true });
      s = createWriteStream(join(logDir, `${e.run}.log`));
      logs.set(e.run, s);
    }
    const line = e.type === "progress" ? undefined : lineFor(e, { timestamps: true });
    if (line !== undefined) s.write(`${line}\n`);
  });

  // Ctrl-C / SIGTERM: abort the runs; cleanups still run. A second signal says what is still
  // being cleaned up and keeps waiting — nothing is abandoned half-cleaned.
  const ctl = new AbortController();
  const active = new Map<string, string>();
  bus.subscribe((e) => {
    if (e.type === "run-start") active.set(e.run, "starting");
    else if (e.type === "step-start") active.set(e.run, e.step);
    else if (e.type === "cleanup-start") active.set(e.run, `cleanup of ${e.step}`);
    else if (e.type === "run-end") active.delete(e.run);
  });
  let signals = 0;
  let finished = false;
  const onSignal = (sig: NodeJS.Signals) => {
    if (finished) return; // exiting already; keep the exit code of the build
    signals++;
    const pending = [...active].map(([r, what]) => `${r} (${what})`);
    bus.emit({ type: "interrupt", time: Date.now(), signal: sig, pending });
    if (signals === 1) ctl.abort(new Error(`interrupted by ${sig}`));
    else
      ctx.stderr.write(
        `kiln: still cleaning up: ${pending.join(", ") || "nearly done"} — waiting so nothing is left behind\n`,
      );
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);

  let rl: ReturnType<typeof createInterface> | undefined;
  const prompt = async (question: string): Promise<string> => {
    if (!process.stdin.isTTY) {
      ctx.stderr.write(`${question} (no terminal to answer: continuing)\n`);
      return onError === "ask" ? "c" : "";
    }
    rl ??= createInterface({ input: process.stdin, output: ctx.stderr });
    return new Promise((resolve) => rl?.question(`${question} `, resolve));
  };

  try {
    const result = await runBuild({
      loaded,
      bus,
      only: list(ctx.values.only),
      except: list(ctx.values.except),
      parallel,
      force: ctx.values.force === true,
      onError: onError as OnError,
      debug: ctx.values.debug === true,
      prompt,
      signal: ctl.signal,
    });
    return result.ok ? EXIT.OK : EXIT.BUILD_FAILED;
  } finally {
    finished = true;
    rl?.close();
    await Promise.all([...logs.values()].map((s) => new Promise((r) => s.end(r))));
  }
}
