import { describe, expect, it } from "vitest";
import { parseCommandArgs } from "./args.js";
import { commandNamed } from "./commands.js";

const build = commandNamed("build");
if (!build) throw new Error("no build command");
const parse = (...argv: string[]) => parseCommandArgs(build, argv);

describe("the command-line parser", () => {
  it("takes Packer's single-dash flags as the same flags", async () => {
    const packer = await parse(
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
    const kiln = await parse(
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

  it("reads =true and =false on a switch, as Go's flag package does", async () => {
    expect(await parse("-force=true", "f")).toMatchObject({ ok: true, values: { force: true } });
    expect(await parse("--force=false", "f")).toMatchObject({ ok: true, values: { force: false } });
    expect(await parse("--force=yes", "f")).toEqual({
      ok: false,
      error: "--force takes no value (write --force, or --force=false)",
    });
  });

  it("says what is wrong in its own words, with the likely flag", async () => {
    expect(await parse("--forse", "f")).toEqual({
      ok: false,
      error: 'unknown flag "--forse"; did you mean --force?',
    });
    expect(await parse("-on-eror=ask", "f")).toEqual({
      ok: false,
      error: 'unknown flag "-on-eror=ask"; did you mean --on-error?',
    });
    expect(await parse("--frobnicate", "f")).toEqual({ ok: false, error: 'unknown flag "--frobnicate"' });
    expect(await parse("f", "--var")).toEqual({
      ok: false,
      error: "--var needs a value: --var <name=value>",
    });
    expect(await parse("--only=", "f")).toEqual({
      ok: false,
      error: "--only needs a value: --only <glob,…>",
    });
    const color = await parse("-color=false", "f");
    expect(color.ok).toBe(false);
    expect(!color.ok && color.error).toContain("--no-color");
  });

  it("takes a value that starts with a dash after a flag that needs one, and anything after --", async () => {
    expect(await parse("--var", "-x=1", "--", "--force", "f")).toMatchObject({
      ok: true,
      values: { var: ["-x=1"] },
      positionals: ["--force", "f"],
    });
  });

  it("-h and --help ask for help", async () => {
    expect(await parse("-h")).toMatchObject({ ok: true, help: true });
    expect(await parse("f", "--help")).toMatchObject({ ok: true, help: true });
    expect(await parse("-help")).toMatchObject({ ok: true, help: true });
  });
});
