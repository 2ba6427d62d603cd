import { describe, expect, it } from "vitest";
import { parseCommandArgs } from "./args.js";
import { commandNamed } from "./commands.js";

const build = commandNamed("build");
if (!build) throw new Error("no build command");
const parse = (...argv: string[]) => parseCommandArgs(build, argv);

describe("the command-line parser", () => {
  it("takes Packer's single-dash flags as the same flags", () => {
    const packer = parse(
      "-var",
      "a=1",
      "-var=b=2",
      "-var-file",
      "v.yaml",
      "-only=x.*,y.*",
      "-except",
      "z",
      "-force",
      "-on-error=ask",
      "-parallel-builds=2",
      "-machine-readable",
      "-timestamp-ui",
      "-debug",
      "f.yaml",
    );
    const kiln = parse(
      "--var",
      "a=1",
      "--var=b=2",
      "--var-file",
      "v.yaml",
      "--only=x.*,y.*",
      "--except",
      "z",
      "--force",
      "--on-error=ask",
      "--parallel-builds=2",
      "--machine-readable",
      "--timestamp-ui",
      "--debug",
      "f.yaml",
    );
    expect(packer).toEqual(kiln);
    expect(packer).toMatchObject({
      ok: true,
      positionals: ["f.yaml"],
      values: {
        var: ["a=1", "b=2"],
        "var-file": ["v.yaml"],
        only: ["x.*,y.*"],
        except: ["z"],
        force: true,
        "on-error": "ask",
        "parallel-builds": "2",
        "machine-readable": true,
        "timestamp-ui": true,
        debug: true,
      },
    });
  });

  it("reads =true and =false on a switch, as Go's flag package does", () => {
    expect(parse("-force=true", "f")).toMatchObject({ ok: true, values: { force: true } });
    expect(parse("--force=false", "f")).toMatchObject({ ok: true, values: { force: false } });
    expect(parse("--force=yes", "f")).toEqual({
      ok: false,
      error: "--force takes no value (write --force, or --force=false)",
    });
  });

  it("says what is wrong in its own words, with the likely flag", () => {
    expect(parse("--forse", "f")).toEqual({ ok: false, error: 'unknown flag "--forse"; did you mean --force?' });
    expect(parse("-on-eror=ask", "f")).toEqual({
      ok: false,
      error: 'unknown flag "-on-eror=ask"; did you mean --on-error?',
    });
    expect(parse("--frobnicate", "f")).toEqual({ ok: false, error: 'unknown flag "--frobnicate"' });
    expect(parse("f", "--var")).toEqual({ ok: false, error: "--var needs a value: --var <name=value>" });
    expect(parse("--only=", "f")).toEqual({ ok: false, error: "--only needs a value: --only <glob,…>" });
    const color = parse("-color=false", "f");
    expect(color.ok).toBe(false);
    expect(!color.ok && color.error).toContain("--no-color");
  });

  it("takes a value that starts with a dash after a flag that needs one, and anything after --", () => {
    expect(parse("--var", "-x=1", "--", "--force", "f")).toMatchObject({
      ok: true,
      values: { var: ["-x=1"] },
      positionals: ["--force", "f"],
    });
  });

  it("-h and --help ask for help", () => {
    expect(parse("-h")).toMatchObject({ ok: true, help: true });
    expect(parse("f", "--help")).toMatchObject({ ok: true, help: true });
    expect(parse("-help")).toMatchObject({ ok: true, help: true });
  });
});
