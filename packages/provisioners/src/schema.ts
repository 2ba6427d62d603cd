import {
  bool,
  duration,
  LOCAL_SHELL_OPTIONS,
  type OptionsOf,
  oneOf,
  options,
  POSIX_SHEBANG,
  required,
  str,
  strList,
  withDefault,
  withScriptSources,
} from "@kiln/sdk";

// The script options shell shares with shell-local, as the SDK declares them for local shells.
const { inline, script, scripts, environment_vars, env, valid_exit_codes } = LOCAL_SHELL_OPTIONS;

export const shellSchema = withScriptSources(
  options({
    inline,
    inline_shebang: withDefault(str("Interpreter line for inline commands."), POSIX_SHEBANG),
    script,
    scripts,
    environment_vars,
    env,
    env_var_format: str(
      "How each variable is written into {{.Vars}}, a printf format with two %s. Default: %s='%s' followed by a space (export %s='%s' and a newline with use_env_var_file).",
    ),
    execute_command: str(
      "How a script is run; {{.Vars}}, {{.Path}} and {{.EnvVarFile}} are replaced as in Packer. Default: chmod +x {{.Path}}; {{.Vars}} {{.Path}} (with use_env_var_file: chmod +x {{.Path}}; . {{.EnvVarFile}} && {{.Path}}).",
    ),
    valid_exit_codes,
    remote_folder: withDefault(str("Folder on the machine scripts are uploaded to."), "/tmp"),
    remote_file: str("File name of the uploaded script. Default: script_<random number>.sh."),
    remote_path: str("Full path of the uploaded script. Default: <remote_folder>/<remote_file>."),
    skip_clean: bool("Leave the uploaded scripts on the machine."),
    expect_disconnect: bool("A script may drop the connection (a reboot) without failing the build."),
    start_retry_timeout: withDefault(
      duration("Keep retrying to start the script for this long (e.g. after a reboot)."),
      "5m",
    ),
    pause_after: withDefault(duration("Wait this long after the scripts ran."), "0s"),
    use_env_var_file: bool("Pass environment_vars through a file instead of the command line."),
    binary: bool("Upload scripts as they are, without line-ending conversion."),
  }),
  { command: false, scriptWithScripts: true },
);
export type ShellOptions = OptionsOf<typeof shellSchema>;

export const fileSchema = options({
  source: str("Local file or folder to upload (or remote path, with direction: download)."),
  sources: strList("Several sources."),
  content: str("Write this text to destination instead of a source file."),
  destination: required(str("Where to put it; a path ending in / is a folder.")),
  direction: withDefault(oneOf(["upload", "download"], "Which way to copy."), "upload"),
  generated: bool("The source is created by an earlier step; do not check it exists at validation."),
});
export type FileOptions = OptionsOf<typeof fileSchema>;

export const shellLocalSchema = withScriptSources(
  options({
    ...LOCAL_SHELL_OPTIONS,
    use_linux_pathing: bool(
      "Windows only: give the scripts' paths in the form the Windows Subsystem for Linux sees them (/mnt/c/...), to run them with WSL's bash.",
    ),
  }),
  { command: true, scriptWithScripts: true },
);
export type ShellLocalOptions = OptionsOf<typeof shellLocalSchema>;

export const breakpointSchema = options({
  disable: bool("Skip this breakpoint."),
  note: str("Shown while paused."),
});
export type BreakpointOptions = OptionsOf<typeof breakpointSchema>;
