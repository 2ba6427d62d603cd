import { applyDefaults, compileSchema, createRunContext, Deferred } from "@kiln/core";
import { describe, expect, it } from "vitest";
import { options } from "../options/schema.js";
import {
  CHROOT_OPTIONS,
  chrootOptionProblems,
  DEFAULT_CHROOT_MOUNTS,
  DEFAULT_MOUNT_PATH,
} from "./options.js";
import { commandWrapper, placeholderProblem, renderWith } from "./placeholders.js";

function context() {
  const ui = { say() {}, message() {}, error() {}, output() {}, progress() {}, fork: () => ui };
  return createRunContext({
    run: { name: "b.t.s", build: "b", source: "s", type: "t", runUuid: "u" },
    ui,
    baseDir: "/tmp",
  }).ctx;
}

describe("renderWith", () => {
  it("evaluates a build-time marker with the fields as build.*, for that evaluation only", () => {
    const ctx = context();
    const v = Deferred.parse("/mnt/${{ build.Device }}-${{ build.BuildName }}");
    expect(renderWith(ctx, "mount_path", v, { Device: "xvdf" })).toBe("/mnt/xvdf-b");
    expect(ctx.buildVars.Device).toBeUndefined();
  });

  it("puts back a build value the field shadowed", () => {
    const ctx = context();
    ctx.buildVars.Device = "/dev/loop9";
    expect(renderWith(ctx, "x", Deferred.parse("${{ build.Device }}"), { Device: "loop9" })).toBe("loop9");
    expect(ctx.buildVars.Device).toBe("/dev/loop9");
  });

  it("uses the fallback template when the option is unset, a plain string as it is", () => {
    const ctx = context();
    expect(renderWith(ctx, "mount_path", undefined, { Device: "xvdf" }, DEFAULT_MOUNT_PATH)).toBe(
      "/mnt/kiln-chroot-volumes/xvdf",
    );
    expect(renderWith(ctx, "mount_path", "/mnt/fixed", { Device: "xvdf" })).toBe("/mnt/fixed");
  });

  it("refuses Packer's {{ .Field }} syntax with the kiln spelling", () => {
    const ctx = context();
    expect(() => renderWith(ctx, "mount_path", "/mnt/{{.Device}}", { Device: "x" })).toThrow(
      "mount_path: {{.Device}} is Packer's template syntax; in kiln write ${{ build.Device }}",
    );
    expect(placeholderProblem("post_mount_commands[0]", "cp a {{ .Nope }}", ["Device", "MountPath"])).toBe(
      "post_mount_commands[0]: {{ .Nope }} is Packer's template syntax; in kiln write ${{ build.Nope }} (and only build.Device, build.MountPath are known here)",
    );
    // a kiln expression is not mistaken for it
    expect(placeholderProblem("x", "${{ build.Device }}", ["Device"])).toBeUndefined();
  });

  it("names the option when the expression fails", () => {
    const ctx = context();
    expect(() =>
      renderWith(ctx, "mount_path", Deferred.parse("${{ build.MountPath }}"), { Device: "x" }),
    ).toThrow(/^mount_path: /);
  });
});

describe("commandWrapper", () => {
  it("wraps each command, and leaves it as it is when unset", () => {
    const ctx = context();
    const wrap = commandWrapper(ctx, Deferred.parse("sudo -E ${{ build.Command }}"));
    expect(wrap("mount /dev/x /mnt")).toBe("sudo -E mount /dev/x /mnt");
    expect(wrap("umount /mnt")).toBe("sudo -E umount /mnt");
    expect(ctx.buildVars.Command).toBeUndefined();
    expect(commandWrapper(ctx, undefined)("ls")).toBe("ls");
  });

  it("refuses a wrapper that would drop the command", () => {
    const ctx = context();
    expect(() => commandWrapper(ctx, "sudo")).toThrow(/does not use \$\{\{ build.Command \}\}/);
    expect(() => commandWrapper(ctx, Deferred.parse("sudo ${{ build.ID }}"))).toThrow(/does not use/);
    expect(() => commandWrapper(ctx, "sudo {{.Command}}")).toThrow(/in kiln write \$\{\{ build.Command \}\}/);
  });
});

describe("chrootOptionProblems", () => {
  it("collects every problem, with the option's path", () => {
    expect(
      chrootOptionProblems({
        mount_path: "/mnt/{{.Device}}",
        pre_mount_commands: ["ok", "mkfs.ext4 {{ .Device }}"],
        chroot_mounts: [["proc", "proc", "proc"]],
        copy_files: ["etc/resolv.conf"],
      }),
    ).toEqual([
      "mount_path: {{.Device}} is Packer's template syntax; in kiln write ${{ build.Device }}",
      "pre_mount_commands[1]: {{ .Device }} is Packer's template syntax; in kiln write ${{ build.Device }}",
      "chroot_mounts[0]: the folder proc must be absolute (a path in the chroot, such as /proc)",
      "copy_files[0]: etc/resolv.conf must be an absolute path (the same path is used in the chroot)",
    ]);
    expect(chrootOptionProblems({ mount_path: Deferred.parse("/m/${{ build.Device }}") })).toEqual([]);
  });
});

describe("CHROOT_OPTIONS", () => {
  const schema = options({ ...CHROOT_OPTIONS });
  it("has Packer's defaults and refuses malformed mounts and partitions", () => {
    expect(applyDefaults(schema, {})).toEqual({ chroot_mounts: DEFAULT_CHROOT_MOUNTS, mount_partition: "1" });
    const check = compileSchema(schema as never);
    expect(check({ chroot_mounts: [["proc", "proc", "/proc"]], mount_partition: "2" })).toBe(true);
    expect(check({ chroot_mounts: [["proc", "proc"]] })).toBe(false);
    expect(check({ mount_partition: "first" })).toBe(false);
    expect(check({ copy_files: [] })).toBe(true);
  });
});
