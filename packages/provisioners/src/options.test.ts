/** Every option the provisioners declare is read somewhere: by their own code or by the SDK's. */
import { join } from "node:path";
import { ensureDist, sdkDistDir, unreadOptions } from "@kiln/sdk/testing";
import { describe, expect, it } from "vitest";
import { breakpointSchema, fileSchema, shellLocalSchema, shellSchema } from "./schema.js";
import { wslPath } from "./shell-local.js";

const PKG_DIR = join(import.meta.dirname, "..");
const dirs = () => [join(PKG_DIR, "dist"), sdkDistDir()];

describe("the provisioners' options", () => {
  const schemas = {
    shell: shellSchema,
    file: fileSchema,
    "shell-local": shellLocalSchema,
    breakpoint: breakpointSchema,
  };

  it.each(Object.entries(schemas))(
    "of %s are all read (none accepted, documented and ignored)",
    (_type, schema) => {
      ensureDist(PKG_DIR);
      expect(unreadOptions(schema, { dirs: dirs() })).toEqual([]);
    },
  );

  it("the check sees an option nobody reads", () => {
    ensureDist(PKG_DIR);
    const schema = { properties: { ...shellSchema.properties, kiln_never_reads_this: {} } };
    expect(unreadOptions(schema, { dirs: dirs() })).toEqual(["kiln_never_reads_this"]);
  });

  it("carry their simple defaults in the schema", () => {
    expect(shellSchema.properties.remote_folder).toMatchObject({
      default: "/tmp",
      description: expect.stringMatching(/Default: \/tmp\.$/),
    });
    expect(shellSchema.properties.start_retry_timeout.default).toBe("5m");
    expect(shellSchema.properties.inline_shebang.default).toBe("/bin/sh -e");
    expect(shellSchema.properties.valid_exit_codes.default).toEqual([0]);
    expect(shellLocalSchema.properties.valid_exit_codes.default).toEqual([0]);
    expect(fileSchema.properties.direction.default).toBe("upload");
    // Platform-dependent defaults are computed, not declared.
    expect(shellLocalSchema.properties.inline_shebang).not.toHaveProperty("default");
    expect(shellLocalSchema.properties.env_var_format).not.toHaveProperty("default");
  });
});

describe("use_linux_pathing", () => {
  it("gives Windows paths as WSL sees them", () => {
    expect(wslPath("C:\\Users\\me\\script.sh")).toBe("/mnt/c/Users/me/script.sh");
    expect(wslPath("d:/build/kiln-shell-local-x/script.sh")).toBe(
      "/mnt/d/build/kiln-shell-local-x/script.sh",
    );
    expect(wslPath("relative\\a.sh")).toBe("relative/a.sh");
  });
});
