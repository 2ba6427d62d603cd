import { bool, duration, oneOf, options, required, str, strList, strMap, Type } from "@kiln/sdk";

/** Options shared by shell and shell-local. */
export const SCRIPT_OPTIONS = {
  inline: strList("Commands to run, one after another, as one script."),
  inline_shebang: str("Interpreter line for inline commands. Default: /bin/sh -e."),
  script: str("Path of a local script to run."),
  scripts: strList("Paths of local scripts to run in order."),
  environment_vars: strList("NAME=value pairs set for the scripts."),
  env: strMap("Environment variables as a map."),
  env_var_format: str(
    "How each variable is written into {{.Vars}}, a printf format with two %s. Default: %s='%s' (followed by a space).",
  ),
  execute_command: str("How a script is run; {{.Vars}} and {{.Path}} are replaced as in Packer."),
  valid_exit_codes: Type.Optional(
    Type.Array(Type.Integer(), { description: "Exit codes that count as success. Default: [0]." }),
  ),
};

export const shellSchema = options({
  ...SCRIPT_OPTIONS,
  remote_folder: str("Folder on the machine scripts are uploaded to. Default: /tmp."),
  remote_file: str("File name of the uploaded script."),
  remote_path: str("Full path of the uploaded script."),
  skip_clean: bool("Leave the uploaded scripts on the machine."),
  expect_disconnect: bool("A script may drop the connection (a reboot) without failing the build."),
  start_retry_timeout: duration(
    "Keep retrying to start the script for this long (e.g. after a reboot). Default: 5m.",
  ),
  pause_after: duration("Wait this long after the scripts ran."),
  use_env_var_file: bool("Pass environment_vars through a file instead of the command line."),
  binary: bool("Upload scripts as they are, without line-ending conversion."),
});

export const fileSchema = options({
  source: str("Local file or folder to upload (or remote path, with direction: download)."),
  sources: strList("Several sources."),
  content: str("Write this text to destination instead of a source file."),
  destination: required(str("Where to put it; a path ending in / is a folder.")),
  direction: oneOf(["upload", "download"], "Default: upload."),
  generated: bool("The source is created by an earlier step; do not check it exists at validation."),
});

export const shellLocalSchema = options({
  ...SCRIPT_OPTIONS,
  execute_command: Type.Optional(
    Type.Union([Type.String(), Type.Array(Type.String())], {
      description:
        'How a script is run: a list of arguments (default ["/bin/sh", "-c", "{{.Vars}} {{.Script}}"]) or one string run with /bin/sh -c; {{.Vars}} and {{.Script}} are replaced as in Packer.',
    }),
  ),
  command: str("One command to run on the machine running kiln."),
  only_on: strList("Run only on these operating systems (linux, darwin, windows)."),
  use_linux_pathing: bool("Windows only: pass paths in Linux form (WSL)."),
});

export const breakpointSchema = options({
  disable: bool("Skip this breakpoint."),
  note: str("Shown while paused."),
});
