import { join, resolve } from "node:path";
import {
  EventBus,
  type LoadedBuildFile,
  loadStructure,
  type OnError,
  runBuild,
  type Structure,
} from "@kiln/core";
import { guardBuild } from "../build/guard.js";
import { runLogs } from "../build/run-logs.js";
import { type CommandContext, EXIT } from "../context.js";
import { jsonRenderer, machineReadableRenderer } from "../render/machine.js";
import { plainRenderer } from "../render/plain.js";
import { createAsker } from "../render/prompt.js";
import { buildSummary } from "../render/summary.js";
import type { TtyView } from "../render/tty.js";
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
  const file = fileArg(ctx, "build");
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
      allowScripts: ctx.values["allow-scripts"] === true,
    });
    loaded = loadFromArgs(ctx, file, { structure });
  } catch (err) {
    return report(ctx, err, structure?.src);
  }

  const bus = new EventBus();
  for (const s of loaded.secrets) bus.secrets.add(s);
  const timestamps = ctx.values["timestamp-ui"] === true;
  const out = ctx.stdout as NodeJS.WriteStream;

  // Ctrl-C / SIGTERM / SIGHUP / SIGQUIT: abort the runs; cleanups still run. A second signal
  // stops the error-cleanup-provisioner, says what is still being cleaned up and keeps waiting
  // for the cleanups — nothing is abandoned half-cleaned.
  const ctl = new AbortController();
  const hard = new AbortController();
  const active = new Map<string, string>();
  let signals = 0;
  let finished = false;
  const guard = guardBuild({
    stdout: ctx.stdout,
    stderr: ctx.stderr,
    stop: (reason) => {
      if (!ctl.signal.aborted) ctl.abort(reason);
    },
    pending: () => [...active].map(([r, what]) => `${r} (${what})`),
    onSignal: (sig) => {
      if (finished) return; // exiting already; keep the exit code of the build
      signals++;
      const pending = [...active].map(([r, what]) => `${r} (${what})`);
      bus.emit({ type: "interrupt", time: Date.now(), signal: sig, pending });
      if (signals === 1) ctl.abort(new Error(`interrupted by ${sig}`));
      else {
        hard.abort(new Error(`interrupted again by ${sig}`));
        note(
          `kiln: still cleaning up: ${pending.join(", ") || "nearly done"} — waiting so nothing is left behind`,
        );
      }
    },
  });
  const err = guard.safe(ctx.stderr);
  const safeOut = guard.safe(out);
  // What people read: a live view on a terminal, plain lines otherwise (CI), and a summary at the
  // end. Programs get --json or --machine-readable, and no summary. A debug log going to stderr
  // (KILN_LOG=1 without KILN_LOG_PATH) would fight the live lines: then plain lines.
  let tty: TtyView | undefined;
  let plain: ReturnType<typeof plainRenderer> | undefined;
  if (ctx.values.json) bus.subscribe(jsonRenderer(safeOut));
  else if (ctx.values["machine-readable"]) bus.subscribe(machineReadableRenderer(safeOut));
  else if (out.isTTY && process.env.TERM !== "dumb" && ctx.debug.target !== "stderr") {
    const { ttyView } = await import("../render/tty.js");
    tty = ttyView(out, { timestamps, color: ctx.color });
    bus.subscribe(tty.listener);
  } else {
    plain = plainRenderer(safeOut, { timestamps, color: false });
    bus.subscribe(plain.listener);
  }
  const summary = tty || plain ? buildSummary() : undefined;
  if (summary) bus.subscribe(summary.listener);
  /** A line of kiln's own while the build runs (above the live lines on a terminal). */
  function note(text: string): void {
    if (tty) tty.log(text);
    else err.write(`${text}\n`);
  }
  if (ctx.debug.enabled) {
    ctx.debug.setRedactor((s) => bus.secrets.redact(s));
    for (const p of loaded.plugins)
      ctx.debug.write(`plugin ${p.kind} ${p.type}: ${p.pkg.name}@${p.pkg.version} (${p.via}: ${p.pkg.dir})`);
    bus.subscribe((e) => ctx.debug.write(`event ${JSON.stringify(e)}`));
  }

  // A full log per run, beside the build file (see run-logs.ts); a log that cannot be written is
  // one warning, never the end of the build.
  const logs = runLogs({
    dir: join(loaded.dir, ".kiln", "logs"),
    warn: (text) => bus.emit({ type: "warning", time: Date.now(), text }),
  });
  bus.subscribe(logs.listener);
  bus.subscribe((e) => {
    if (e.type === "run-start") active.set(e.run, "starting");
    else if (e.type === "step-start") active.set(e.run, e.step);
    else if (e.type === "cleanup-start") active.set(e.run, `cleanup of ${e.step}`);
    else if (e.type === "run-end") active.delete(e.run);
  });

  // Questions (--debug, --on-error=ask|pause) one at a time, on the terminal, never drawn over.
  const ask = createAsker({
    input: process.stdin,
    write: tty ? tty.raw : (text) => err.write(text),
    note,
    before: () => tty?.pause(),
    after: () => tty?.resume(),
    signal: ctl.signal,
  });
  // Nobody to answer, or interrupted: clean up (for --on-error=ask), or just go on.
  const prompt = (question: string) => ask(question, "c");

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
      hardSignal: hard.signal,
      cache: {
        ...(typeof ctx.values["cache-dir"] === "string"
          ? { cacheDir: resolve(ctx.values["cache-dir"]) }
          : {}),
        ...(ctx.values["no-cache"] === true ? { noCache: true } : {}),
      },
    });
    return result.ok ? EXIT.OK : EXIT.BUILD_FAILED;
  } catch (e) {
    return report(ctx, e, loaded.src);
  } finally {
    finished = true;
    const lines = summary?.lines(logs.files, { color: tty !== undefined && ctx.color }) ?? [];
    if (tty) {
      if (lines.length) tty.log(lines.join("\n"));
      tty.close();
    } else if (plain) {
      plain.close();
      if (lines.length) safeOut.write(`${lines.join("\n")}\n`);
    }
    await logs.close();
    guard.dispose();
  }
}
