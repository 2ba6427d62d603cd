import { spawnSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { isKilnError } from "@kiln/core";
import { generateTemporaryKeyPair, SSHCommunicator } from "@kiln/sdk";
import { localCommunicator } from "@kiln/sdk/conformance";
import { type Sshd, startSshd, stopAllSshd } from "@kiln/sdk/testing";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { shellSchema } from "./schema.js";
import { shell } from "./shell.js";
import { noMachine, provisionContext, type RawOptions, sshdSkip } from "./test-support.js";

async function rejection(p: Promise<unknown>): Promise<Error & { code?: string; hint?: string }> {
  try {
    await p;
  } catch (err) {
    return err as Error;
  }
  throw new Error("expected a rejection");
}

describe("shell options", () => {
  const run = (options: RawOptions<typeof shellSchema>) =>
    shell.provision(provisionContext(shellSchema, options, noMachine()));

  it("needs something to run, and only one of inline or scripts", async () => {
    expect((await rejection(run({}))).message).toBe(
      "[shell] nothing to run: set one of inline, script or scripts",
    );
    expect((await rejection(run({ inline: ["true"], scripts: ["a.sh"] }))).message).toMatch(
      /^\[shell\] set only one of inline, script or scripts/,
    );
  });

  it("rejects variables that are not NAME=value or whose name is not a shell identifier", async () => {
    expect((await rejection(run({ inline: ["true"], environment_vars: ["NOVALUE"] }))).message).toMatch(
      /^\[shell\] environment_vars: "NOVALUE" is not in the form NAME=value/,
    );
    expect((await rejection(run({ inline: ["true"], environment_vars: ["A;rm -rf /=x"] }))).message).toMatch(
      /is not a valid variable name/,
    );
    expect((await rejection(run({ inline: ["true"], env: { "1X": "y" } }))).message).toMatch(
      /^\[shell\] env: "1X" is not a valid variable name/,
    );
  });

  it("names a missing script file relative to the build file's folder", async () => {
    const e = await rejection(
      shell.provision(
        provisionContext(shellSchema, { script: "nope.sh" }, noMachine(), { baseDir: "/nonexistent-dir" }),
      ),
    );
    expect(e.message).toBe("[shell] script nope.sh cannot be read (/nonexistent-dir/nope.sh): no such file");
    expect(isKilnError(e, "KILN_PROVISIONER_OPTIONS")).toBe(true);
  });

  it("rejects unknown template fields in execute_command", async () => {
    const e = await rejection(run({ inline: ["true"], execute_command: "{{.Nope}} {{.Path}}" }));
    expect(e.message).toMatch(/^\[shell\] execute_command: unknown field \{\{\.Nope\}\}/);
  });
});

describe("shell clean-up when interrupted", () => {
  it("removes the uploaded script even when the interrupt comes as it is being removed", async () => {
    const root = await mkdtemp(join(tmpdir(), "kiln-shell-rm-"));
    const remotePath = join(root, "script.sh");
    const ctl = new AbortController();
    const comm = localCommunicator({
      root,
      // Ctrl-C arrives just as the rm of the uploaded script starts.
      onCall: (c) => {
        if (c.op === "exec" && c.target.startsWith("rm ")) ctl.abort(new Error("interrupted"));
      },
    });
    try {
      const ctx = provisionContext(shellSchema, { inline: ["true"], remote_path: remotePath }, comm, {
        signal: ctl.signal,
      });
      // Whether it then reports the interrupt or the finished script, the script must be gone.
      await shell.provision(ctx).catch(() => {});
      const rms = comm.calls.filter((c) => c.op === "exec" && c.target.startsWith("rm "));
      expect(rms.map((c) => c.started)).toEqual([false, true]);
      expect(existsSync(remotePath)).toBe(false);
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });
});

const { skip, reason } = sshdSkip("shell provisioner");

describe.skipIf(skip)(
  `shell provisioner against a real OpenSSH server${skip ? ` (skipped: ${reason})` : ""}`,
  () => {
    let sshd: Sshd;
    let key: ReturnType<typeof generateTemporaryKeyPair>;
    let local: string;
    const comms: SSHCommunicator[] = [];

    const started = Date.now() - 1000;

    beforeAll(async () => {
      key = generateTemporaryKeyPair();
      sshd = await startSshd({ authorizedKeys: [key.publicKey] });
      local = await mkdtemp(join(tmpdir(), "kiln-shell-test-"));
    });
    afterEach(async () => {
      await Promise.all(comms.splice(0).map((c) => c.close()));
    });
    afterAll(async () => {
      await Promise.all(comms.splice(0).map((c) => c.close()));
      // Nothing left behind in /tmp by this suite's user (the tests that use the default remote_folder).
      const left = sshd
        ? readdirSync("/tmp").filter((f) => {
            if (!/^(script|varfile)_\d+\.sh(\.pid)?$/.test(f)) return false;
            const st = statSync(join("/tmp", f), { throwIfNoEntry: false });
            return st !== undefined && st.uid === sshd.user.uid && st.mtimeMs >= started;
          })
        : [];
      await stopAllSshd();
      expect(left).toEqual([]);
      if (local) await rm(local, { recursive: true, force: true });
    });

    async function connected(): Promise<SSHCommunicator> {
      const c = new SSHCommunicator({
        ssh_host: sshd.host,
        ssh_port: sshd.port,
        ssh_username: sshd.user.username,
        ssh_private_key: key.privateKey,
        ssh_timeout: "20s",
        retry: { initialMs: 100, maxMs: 500 },
      });
      comms.push(c);
      await c.connect();
      return c;
    }

    const home = () => sshd.user.home;

    it("runs inline commands as one script with /bin/sh -e, streaming the output", async () => {
      const ctx = provisionContext(
        shellSchema,
        { inline: ["cd /", "echo in $(pwd)", "echo oops >&2", "echo done"] },
        await connected(),
      );
      await shell.provision(ctx);
      expect(ctx.ui.out("stdout")).toBe("in /\ndone\n");
      expect(ctx.ui.out("stderr")).toBe("oops\n");
      expect(ctx.ui.lines()).toContain("Provisioning with shell script: inline script");

      const failing = provisionContext(
        shellSchema,
        { inline: ["echo first", "false", "echo never"] },
        await connected(),
      );
      const e = await rejection(shell.provision(failing));
      expect(e.message).toBe("[shell] script inline script exited with code 1");
      expect(isKilnError(e, "KILN_SCRIPT_EXIT_CODE")).toBe(true);
      expect(failing.ui.out()).toBe("first\n");
    });

    it("honours inline_shebang", async () => {
      const ctx = provisionContext(
        shellSchema,
        { inline_shebang: "/bin/sh", inline: ["false", "echo went on"] },
        await connected(),
      );
      await shell.provision(ctx);
      expect(ctx.ui.out()).toBe("went on\n");
    });

    it("runs script and scripts in order, relative to the build file's folder, with CRLF made LF", async () => {
      await writeFile(join(local, "one.sh"), "#!/bin/sh\r\necho one\r\n");
      await writeFile(join(local, "two.sh"), "#!/bin/sh\necho two $0\n");
      const ctx = provisionContext(
        shellSchema,
        { script: "one.sh", scripts: ["two.sh"], remote_folder: home(), remote_file: "s.sh" },
        await connected(),
        {
          baseDir: local,
        },
      );
      await shell.provision(ctx);
      expect(ctx.ui.out()).toBe(`one\ntwo ${home()}/s.sh\n`);
      expect(ctx.ui.lines().filter((l) => l.startsWith("Provisioning"))).toEqual([
        "Provisioning with shell script: one.sh",
        "Provisioning with shell script: two.sh",
      ]);
      expect(existsSync(join(home(), "s.sh"))).toBe(false); // cleaned up
    });

    it("sets environment_vars, env and Packer's variables, quoted safely", async () => {
      const tricky = `it's "quoted" $HOME \`id\` ; rm -rf / & | * \\ end`;
      const ctx = provisionContext(
        shellSchema,
        {
          environment_vars: [`TRICKY=${tricky}`, "EMPTY=", "EQ=a=b", "OVER=from-list"],
          env: { OVER: "from-map", MAPPED: "m" },
          inline: [
            'printf "%s|" "$TRICKY" "$EMPTY" "$EQ" "$OVER" "$MAPPED" "$PACKER_BUILD_NAME" "$PACKER_BUILDER_TYPE" "$PACKER_HTTP_ADDR"',
          ],
        },
        await connected(),
        { buildVars: { PackerHTTPAddr: "10.0.2.2:8123", PackerHTTPIP: "10.0.2.2", PackerHTTPPort: 8123 } },
      );
      await shell.provision(ctx);
      expect(ctx.ui.out()).toBe(`${tricky}||a=b|from-map|m|host|null|10.0.2.2:8123|`);
    });

    it("passes variables through a file with use_env_var_file, and removes it", async () => {
      const ctx = provisionContext(
        shellSchema,
        {
          use_env_var_file: true,
          environment_vars: ["SECRETISH=a'b c"],
          remote_folder: home(),
          inline: ['echo "$SECRETISH"', "ls"],
        },
        await connected(),
      );
      await shell.provision(ctx);
      expect(ctx.ui.out()).toMatch(/^a'b c\n/);
      expect(ctx.ui.out()).toMatch(/varfile_\d+\.sh/); // it existed while the script ran
      expect(readdirSync(home()).filter((f) => f.startsWith("varfile_") || f.startsWith("script_"))).toEqual(
        [],
      );
    });

    it("accepts valid_exit_codes and fails clearly on others", async () => {
      const ok = provisionContext(
        shellSchema,
        { inline: ["echo x", "exit 3"], valid_exit_codes: [0, 3] },
        await connected(),
      );
      await shell.provision(ok);
      const secret = "s3cr3t-T0ken-value";
      const bad = provisionContext(
        shellSchema,
        { inline: ["exit 3"], valid_exit_codes: [0, 2], environment_vars: [`TOKEN=${secret}`] },
        await connected(),
      );
      const e = await rejection(shell.provision(bad));
      expect(e.message).toBe("[shell] script inline script exited with code 3");
      expect(e.hint).toContain("valid_exit_codes is [0, 2]");
      expect(JSON.stringify([e.message, e.hint, bad.ui.events])).not.toContain(secret);
    });

    it("replaces {{.Vars}} and {{ .Path }} in execute_command", async () => {
      const ctx = provisionContext(
        shellSchema,
        {
          environment_vars: ["WHO=kiln"],
          execute_command: "chmod +x {{ .Path }}; {{ .Vars }} /bin/sh -c '. {{.Path}}' && echo ran {{.Path}}",
          remote_path: `${home()}/exec.sh`,
          inline: ['echo "hello $WHO"'],
        },
        await connected(),
      );
      await shell.provision(ctx);
      expect(ctx.ui.out()).toBe(`hello kiln\nran ${home()}/exec.sh\n`);
    });

    it("removes the uploaded script, also when it fails, unless skip_clean", async () => {
      const path = `${home()}/cleanme.sh`;
      await rejection(
        shell.provision(
          provisionContext(shellSchema, { inline: ["exit 9"], remote_path: path }, await connected()),
        ),
      );
      expect(existsSync(path)).toBe(false);
      await shell.provision(
        provisionContext(
          shellSchema,
          { inline: ["echo kept"], remote_path: path, skip_clean: true },
          await connected(),
        ),
      );
      expect(readFileSync(path, "utf8")).toBe("#!/bin/sh -e\necho kept\n");
      await rm(path);
    });

    it("survives a script that reboots the machine with expect_disconnect, reconnects and goes on", async () => {
      await writeFile(join(local, "reboot.sh"), "#!/bin/sh\necho going down\nsleep 30\necho never\n");
      await writeFile(
        join(local, "after.sh"),
        `#!/bin/sh\necho after reboot\ntouch ${home()}/after-reboot\n`,
      );
      const comm = await connected();
      const ctx = provisionContext(
        shellSchema,
        {
          scripts: ["reboot.sh", "after.sh"],
          expect_disconnect: true,
          remote_path: `${home()}/reboot.sh`,
          start_retry_timeout: "30s",
        },
        comm,
        { baseDir: local },
      );
      const pid = sshd.pid;
      const running = shell.provision(ctx);
      await ctx.ui.waitForOutput("going down");
      await sshd.restart({ downMs: 1000 });
      await running;
      expect(sshd.pid).not.toBe(pid);
      expect(ctx.ui.out()).toBe("going down\nafter reboot\n");
      expect(ctx.ui.lines().some((l) => /dropped the connection \(expect_disconnect\)/.test(l))).toBe(true);
      expect(existsSync(`${home()}/after-reboot`)).toBe(true);
      expect(existsSync(`${home()}/reboot.sh`)).toBe(false);
    });

    it("fails clearly when the connection drops without expect_disconnect", async () => {
      const comm = await connected();
      const ctx = provisionContext(shellSchema, { inline: ["echo going down", "sleep 30"] }, comm);
      const running = rejection(shell.provision(ctx));
      await ctx.ui.waitForOutput("going down");
      await sshd.restart({ downMs: 200 });
      const e = await running;
      expect(e.message).toBe("[shell] the connection was lost while inline script was running");
      expect(e.hint).toContain("expect_disconnect");
    });

    it("retries starting the script while the machine is unreachable, within start_retry_timeout", async () => {
      const comm = await connected();
      await sshd.kill();
      const until = Date.now() + 5000;
      while (comm.connected && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
      const ctx = provisionContext(shellSchema, { inline: ["echo back"], start_retry_timeout: "30s" }, comm);
      const running = shell.provision(ctx);
      setTimeout(() => void sshd.start(), 1500);
      await running;
      expect(ctx.ui.out()).toBe("back\n");
      expect(ctx.ui.lines().some((l) => /^starting inline script failed, retrying/.test(l))).toBe(true);
    });

    it("stops the script when the run is aborted and leaves nothing behind", async () => {
      const ctl = new AbortController();
      const path = `${home()}/aborted.sh`;
      const ctx = provisionContext(
        shellSchema,
        { inline: ["echo started", "sleep 30", "echo never"], remote_path: path },
        await connected(),
        {
          signal: ctl.signal,
        },
      );
      const running = rejection(shell.provision(ctx));
      await ctx.ui.waitForOutput("started");
      const t0 = Date.now();
      ctl.abort(new Error("interrupted by test"));
      const e = await running;
      expect(e.message).toBe("interrupted by test");
      expect(Date.now() - t0).toBeLessThan(5000);
      expect(ctx.ui.out()).toBe("started\n");
      const until = Date.now() + 5000;
      while (existsSync(path) && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
      expect(existsSync(path)).toBe(false);
    });

    it("ends the remote script and what it started when the run is aborted, also what the session's signal does not reach", async () => {
      // Unique command lines to look for: sleeps with a fraction no other process uses. The
      // second runs in a process group of its own, which the SSH "signal" request (a killpg of
      // the session's group, and nothing at all for root logins) does not reach.
      const tag = `${String(process.pid).padStart(6, "0")}${Date.now() % 1000}`;
      const same = `sleep 600.${tag}1`;
      const own = `sleep 600.${tag}2`;
      const running = (cmd: string) =>
        spawnSync("pgrep", ["-f", `^${cmd.replace(".", "\\.")}$`]).status === 0;
      const ctl = new AbortController();
      const path = `${home()}/group.sh`;
      const ownGroup = `python3 -c 'import os; os.setpgid(0, 0); os.execvp("sleep", "${own}".split())' &`;
      const ctx = provisionContext(
        shellSchema,
        { inline: [ownGroup, `${same} &`, "echo started", same, "echo never"], remote_path: path },
        await connected(),
        { signal: ctl.signal },
      );
      const pending = rejection(shell.provision(ctx));
      await ctx.ui.waitForOutput("started");
      const until = Date.now() + 10_000;
      while (!(running(same) && running(own)) && Date.now() < until)
        await new Promise((r) => setTimeout(r, 50));
      expect([running(same), running(own)]).toEqual([true, true]);
      ctl.abort(new Error("interrupted by test"));
      expect((await pending).message).toBe("interrupted by test");
      // ended before provision() returned: no waiting here
      expect([running(same), running(own)]).toEqual([false, false]);
      expect(existsSync(path)).toBe(false);
      expect(existsSync(`${path}.pid`)).toBe(false);
    });

    it("waits pause_after once the scripts ran", async () => {
      const ctx = provisionContext(
        shellSchema,
        { inline: ["true"], pause_after: "700ms" },
        await connected(),
      );
      const t0 = Date.now();
      await shell.provision(ctx);
      expect(Date.now() - t0).toBeGreaterThanOrEqual(700);
    });
  },
);
