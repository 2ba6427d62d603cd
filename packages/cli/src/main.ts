/**
 * The `kiln` command. Kept small so it starts fast: each command's module (and with it core,
 * ajv and yaml) is imported only when that command runs.
 */
import { parseCommandArgs } from "./args.js";
import { COMMANDS, commandNamed } from "./commands.js";
import { type DebugLog, EXIT, NO_DEBUG_LOG, wantsDebugLog } from "./context.js";
import { commandHelp, globalHelp, usageLine } from "./help.js";

export { type CommandContext, EXIT } from "./context.js";

/** Flags written before the command (`kiln -machine-readable build f`, Packer's order) move after it. */
function commandFirst(argv: string[]): string[] {
  const first = argv[0];
  if (first === undefined || !first.startsWith("-") || ["-h", "--help", "-v", "--version"].includes(first))
    return argv;
  const i = argv.findIndex((a) => a === "help" || commandNamed(a) !== undefined);
  if (i < 0) return argv;
  return [argv[i] as string, ...argv.slice(0, i), ...argv.slice(i + 1)];
}

async function unknownCommand(name: string, stderr: NodeJS.WritableStream): Promise<number> {
  const { suggestion } = await import("./suggest.js");
  const close = suggestion(
    name,
    COMMANDS.map((c) => c.name),
  );
  stderr.write(
    `kiln: unknown command "${name}"${close ? `; did you mean "${close}"?` : ""}\nRun \`kiln help\` for the list of commands.\n`,
  );
  return EXIT.INVALID;
}

export async function main(
  argv: string[],
  io: { stdout?: NodeJS.WritableStream; stderr?: NodeJS.WritableStream; env?: NodeJS.ProcessEnv } = {},
): Promise<number> {
  const stdout = io.stdout ?? process.stdout;
  const stderr = io.stderr ?? process.stderr;
  const env = io.env ?? process.env;
  const [name, ...rest] = commandFirst(argv);
  if (name === undefined || name === "--help" || name === "-h") {
    stdout.write(globalHelp());
    return name === undefined ? EXIT.INVALID : EXIT.OK;
  }
  if (name === "help") {
    const [about] = rest;
    if (about === undefined) {
      stdout.write(globalHelp());
      return EXIT.OK;
    }
    const spec = commandNamed(about);
    if (!spec) return unknownCommand(about, stderr);
    stdout.write(commandHelp(spec));
    return EXIT.OK;
  }
  if (name === "--version" || name === "-v") return main(["version"], io);
  const spec = commandNamed(name);
  if (!spec) return unknownCommand(name, stderr);
  const parsed = await parseCommandArgs(spec, rest);
  if (!parsed.ok) {
    stderr.write(
      `kiln ${name}: ${parsed.error}\nUsage: ${usageLine(spec)}\nRun \`kiln ${name} --help\` for every flag.\n`,
    );
    return EXIT.INVALID;
  }
  if (parsed.help) {
    stdout.write(commandHelp(spec));
    return EXIT.OK;
  }
  const noColor = parsed.values["no-color"] === true || "NO_COLOR" in env;
  const color = !noColor && (stderr as NodeJS.WriteStream).isTTY === true;
  // The debug log's code is loaded only when it is asked for.
  let debug: DebugLog = NO_DEBUG_LOG;
  if (wantsDebugLog(env)) {
    const { loggableArgs, loggableUrl, openDebugLog } = await import("./debug-log.js");
    debug = openDebugLog(env, stderr);
    debug.write(
      `kiln ${name} ${loggableArgs(rest).join(" ")} (node ${process.version}, ${process.platform}-${process.arch}, cwd ${process.cwd()})`,
    );
    for (const k of ["HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "no_proxy"]) {
      const v = env[k];
      if (v) debug.write(`${k}=${k.toLowerCase().startsWith("no_") ? v : loggableUrl(v)}`);
    }
    const named = Object.keys(env).filter((k) => /^(KILN_VAR|PKR_VAR)_/.test(k));
    if (named.length) debug.write(`variables from the environment: ${named.join(", ")} (values not logged)`);
  }
  const t0 = Date.now();
  try {
    const mod = await spec.load();
    const code = await mod.run({
      values: parsed.values,
      positionals: parsed.positionals,
      stdout,
      stderr,
      color,
      debug,
      usage: usageLine(spec),
    });
    debug.write(`kiln ${name} exited ${code} after ${Date.now() - t0} ms`);
    return code;
  } catch (err) {
    debug.write(`internal error: ${(err as Error)?.stack ?? String(err)}`);
    throw err;
  } finally {
    debug.close();
  }
}
