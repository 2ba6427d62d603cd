import { mkdir, mkdtemp, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  insideRoot,
  MAX_LINKS,
  type PathLookup,
  type PathNode,
  resolveInRoot,
  resolveInRootWith,
} from "./paths.js";

/** A lookup over a described tree: paths under /r, links given with their targets. */
function tree(entries: Record<string, PathNode>): PathLookup {
  return async (p) => entries[p];
}

const dir: PathNode = { kind: "dir" };
const file: PathNode = { kind: "file" };
const link = (target: string): PathNode => ({ kind: "link", target });

describe("resolveInRootWith (the rules)", () => {
  const t = tree({
    "/r/etc": dir,
    "/r/etc/hosts": file,
    "/r/etc/resolv.conf": link("../run/systemd/resolve/stub-resolv.conf"),
    "/r/run": dir,
    "/r/etc/localtime": link("/usr/share/zoneinfo/UTC"),
    "/r/bin": link("usr/bin"),
    "/r/usr": dir,
    "/r/usr/bin": dir,
    "/r/evil": link("/../../etc/shadow"),
    "/r/sneaky": link("../../../etc/passwd"),
    "/r/loop": link("/loop"),
    "/r/a": link("b"),
    "/r/b": link("c/../etc"),
    "/r/c": dir,
    "/r/hostabs": link("/etc/hosts"),
  });

  it("keeps plain paths under the root and takes relative ones from /", async () => {
    expect(await resolveInRootWith("/r", "/etc/hosts", t)).toBe("/r/etc/hosts");
    expect(await resolveInRootWith("/r", "etc/hosts", t)).toBe("/r/etc/hosts");
    expect(await resolveInRootWith("/r/", "//etc//./hosts", t)).toBe("/r/etc/hosts");
    expect(await resolveInRootWith("/r", "/", t)).toBe("/r");
  });

  it("follows an absolute link from the root, not from this machine's /", async () => {
    expect(await resolveInRootWith("/r", "/etc/localtime", t)).toBe("/r/usr/share/zoneinfo/UTC");
    expect(await resolveInRootWith("/r", "/hostabs", t)).toBe("/r/etc/hosts");
  });

  it("follows a relative link from its folder, also in the middle of a path", async () => {
    expect(await resolveInRootWith("/r", "/etc/resolv.conf", t)).toBe(
      "/r/run/systemd/resolve/stub-resolv.conf",
    );
    expect(await resolveInRootWith("/r", "/bin/sh", t)).toBe("/r/usr/bin/sh");
    expect(await resolveInRootWith("/r", "/a/hosts", t)).toBe("/r/etc/hosts");
  });

  it("leaves a final link alone when asked", async () => {
    expect(await resolveInRootWith("/r", "/etc/resolv.conf", t, { followFinal: false })).toBe(
      "/r/etc/resolv.conf",
    );
    // …but still follows links before it
    expect(await resolveInRootWith("/r", "/bin/sh", t, { followFinal: false })).toBe("/r/usr/bin/sh");
  });

  it("goes up through .. inside the root, after following links", async () => {
    expect(await resolveInRootWith("/r", "/usr/bin/../../etc/hosts", t)).toBe("/r/etc/hosts");
    // /bin is usr/bin, so /bin/.. is /usr, as the kernel sees it (not /)
    expect(await resolveInRootWith("/r", "/bin/../bin", t)).toBe("/r/usr/bin");
  });

  it("refuses a path that climbs above the root", async () => {
    await expect(resolveInRootWith("/r", "/../etc/passwd", t)).rejects.toThrow(/leaves the chroot/);
    await expect(resolveInRootWith("/r", "/etc/../../x", t)).rejects.toThrow(/leaves the chroot/);
    await expect(resolveInRootWith("/r", "..", t)).rejects.toMatchObject({ code: "KILN_CHROOT_PATH" });
  });

  it("refuses a link whose target climbs above the root", async () => {
    await expect(resolveInRootWith("/r", "/sneaky", t)).rejects.toThrow(
      /symbolic link \/sneaky in the chroot points outside it/,
    );
    await expect(resolveInRootWith("/r", "/evil", t)).rejects.toThrow(/\/evil .*points outside/);
  });

  it("stops at a loop of links", async () => {
    await expect(resolveInRootWith("/r", "/loop/x", t)).rejects.toThrow(new RegExp(`more than ${MAX_LINKS}`));
  });

  it("keeps components that do not exist as they are", async () => {
    expect(await resolveInRootWith("/r", "/new/dir/file", t)).toBe("/r/new/dir/file");
    expect(await resolveInRootWith("/r", "/bin/new", t)).toBe("/r/usr/bin/new");
  });

  it("refuses NUL bytes and a relative root", async () => {
    await expect(resolveInRootWith("/r", "/etc/\0x", t)).rejects.toThrow(/NUL/);
    await expect(resolveInRootWith("r", "/etc", t)).rejects.toThrow(/not an absolute path/);
  });

  it("names host paths as the chroot sees them", () => {
    expect(insideRoot("/r", "/r/etc/hosts")).toBe("/etc/hosts");
    expect(insideRoot("/r/", "/r")).toBe("/");
    expect(insideRoot("/r", "/rx/y")).toBe("/rx/y");
  });
});

describe("resolveInRoot (a real tree with hostile links)", () => {
  let base: string;
  let root: string;
  beforeAll(async () => {
    base = await mkdtemp(join(tmpdir(), "kiln-paths-"));
    root = join(base, "root");
    await mkdir(join(root, "etc"), { recursive: true });
    await mkdir(join(root, "usr", "bin"), { recursive: true });
    await writeFile(join(base, "secret"), "host file");
    await symlink("usr/bin", join(root, "bin"));
    await symlink("/etc", join(root, "etc-abs")); // this machine's /etc, if followed from outside
    await symlink("../secret", join(root, "up")); // ../secret is the host's file seen from outside
    await symlink("/usr/bin", join(root, "usr", "bin", "self"));
  });
  afterAll(async () => {
    await rm(base, { recursive: true, force: true });
  });

  it("resolves an absolute link to the root's folder, not this machine's", async () => {
    expect(await resolveInRoot(root, "/etc-abs/passwd")).toBe(join(root, "etc", "passwd"));
  });

  it("refuses a link that reaches a file beside the root", async () => {
    await expect(resolveInRoot(root, "/up")).rejects.toThrow(/points outside/);
  });

  it("follows links inside the root", async () => {
    expect(await resolveInRoot(root, "/bin/self/self/sh")).toBe(join(root, "usr", "bin", "sh"));
  });
});
