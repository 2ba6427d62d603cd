/**
 * ansible through the chroot communicator: kiln's local endpoint relays ansible's SSH sessions
 * (commands and SFTP, with standard input and raw output) to `chroot <root> /bin/sh -c …`, so a
 * playbook provisions a Debian 12 root (testbed/debian's image, attached as loop devices and
 * mounted as a chroot builder does) with no SSH server running in it. Root and loop devices
 * needed; skips elsewhere, except under CI=true.
 */
import { execFileSync } from "node:child_process";
import { mkdtemp, readFile, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  chrootPipeline,
  chrootSkip,
  expectNothingLeft,
  inImage,
  provisionStep,
  removeTestDir,
  runChrootSteps,
} from "@kiln/sdk/testing";
import { ensureDebianImage } from "@kiln-testbed/debian";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ansible } from "./ansible.js";
import { ansibleSchema } from "./schema.js";
import { ansibleSkip } from "./test-support.js";

const { skip: noAnsible } = ansibleSkip("ansible in a chroot");
const skip = chrootSkip("ansible in a chroot") || noAnsible;

const PLAYBOOK = `- hosts: all
  gather_facts: false
  tasks:
    - name: write a file
      ansible.builtin.copy: { content: "from ansible in {{ where }}\\n", dest: /etc/kiln-ansible, mode: "0640" }
    - name: run a command
      ansible.builtin.command: cat /etc/debian_version
      register: v
    - name: show it
      ansible.builtin.debug: { msg: "debian {{ v.stdout }}" }
`;

describe.skipIf(skip)("ansible in a chroot", () => {
  let dir: string;
  let image: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "kiln-chroot-ansible-"));
    image = join(dir, "debian.raw");
    execFileSync("qemu-img", ["convert", "-O", "raw", (await ensureDebianImage()).disk, image]);
    await writeFile(join(dir, "site.yml"), PLAYBOOK);
  }, 900_000);
  afterAll(() => {
    if (dir) removeTestDir(dir);
  });

  it("runs a playbook inside the chroot over the relayed communicator", async () => {
    const o = { mount_path: join(dir, "mnt") };
    const lines: string[] = [];
    const provision = provisionStep(
      ansible,
      ansibleSchema,
      { playbook_file: "site.yml", user: "root", extra_arguments: ["-e", "where=the-chroot"] },
      "ansible",
    );
    const { error: err } = await runChrootSteps(
      chrootPipeline(image, o, { partitions: "offset", provision: [provision] }),
      { dir, source: "deb", onLine: (l) => lines.push(l) },
    );
    expect(err, lines.join("\n")).toBeUndefined();
    expect(lines.join("\n")).toMatch(/debian 12\.[0-9]+/);
    expectNothingLeft(image, dir);
    // The file is in the image.
    await inImage(image, dir, async (root) => {
      expect(await readFile(join(root, "etc", "kiln-ansible"), "utf8")).toBe("from ansible in the-chroot\n");
    });
  }, 300_000);
});
