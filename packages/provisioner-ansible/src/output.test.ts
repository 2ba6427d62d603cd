import { execFile } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { PlaybookOutput, resultMessage } from "./output.js";
import { ansibleSkip } from "./test-support.js";

const { skip } = ansibleSkip("playbook output");

function read(text: string, chunk = 7): PlaybookOutput {
  const out = new PlaybookOutput();
  // in small pieces, as a pipe delivers it
  for (let i = 0; i < text.length; i += chunk) out.write("stdout", text.slice(i, i + chunk));
  out.end();
  return out;
}

describe("PlaybookOutput", () => {
  it("names the task, the host and ansible's message of the first failure", () => {
    const out = read(
      [
        "PLAY [all] *****",
        "",
        "TASK [Gathering Facts] *****",
        "ok: [web1]",
        "",
        "TASK [install nginx] *****",
        'fatal: [web1]: FAILED! => {"changed": false, "msg": "No package matching \'ngnx\' is available"}',
        "",
        "RUNNING HANDLER [restart nginx] *****",
        'failed: [web2] (item=a) => {"ansible_loop_var": "item", "item": "a", "msg": "second"}',
        "PLAY RECAP *****",
      ].join("\n"),
    );
    expect(out.summary()).toBe(
      `task "install nginx" failed on web1: No package matching 'ngnx' is available (and 1 more failures)`,
    );
    expect(out.failures[1]).toMatchObject({ task: "restart nginx", host: "web2", message: "second" });
  });

  it("reads unreachable hosts, ERROR! lines and messages that are not JSON", () => {
    expect(
      read(
        'TASK [x] ***\nfatal: [default]: UNREACHABLE! => {"changed": false, "msg": "Failed to connect", "unreachable": true}\n',
      ).summary(),
    ).toBe('task "x" could not reach default: Failed to connect');
    const e = new PlaybookOutput();
    e.write("stderr", "ERROR! the playbook: nope.yml could not be found\n");
    expect(e.summary()).toBe("the playbook: nope.yml could not be found");
    expect(resultMessage('{"msg": "a \\"quoted\\" word", "rc": 1')).toBe('a "quoted" word');
    expect(resultMessage('{"rc": 2, "stderr": "line1\\nline2\\nline3\\nline4", "msg": ""}')).toBe(
      "line1 / line2 / line3",
    );
    expect(read("PLAY RECAP ***\n").summary()).toBeUndefined();
  });

  it.skipIf(skip)("reads what the real ansible-playbook prints for a failing task", async () => {
    const dir = await mkdtemp(join(tmpdir(), "kiln-ansible-output-"));
    try {
      await writeFile(
        join(dir, "p.yml"),
        "- hosts: all\n  gather_facts: false\n  tasks:\n    - name: fine\n      ansible.builtin.debug: { msg: ok }\n    - name: the broken step\n      ansible.builtin.command: /bin/false\n",
      );
      const r = await promisify(execFile)("ansible-playbook", ["-i", "localhost,", "-c", "local", "p.yml"], {
        cwd: dir,
        env: { ...process.env, ANSIBLE_LOCAL_TEMP: join(dir, "tmp") },
      }).then(
        () => ({ stdout: "", code: 0 }),
        (err: { stdout: string; code: number }) => err,
      );
      expect(r.code).toBe(2);
      const out = read(r.stdout, 64);
      expect(out.summary()).toMatch(/^task "the broken step" failed on localhost: non-zero return code$/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
