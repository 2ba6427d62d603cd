import { describe, expect, it } from "vitest";
import {
  ansibleEnv,
  controlDirFor,
  envList,
  extraVarsDocument,
  galaxyArgs,
  mentions,
  packerVars,
  playbookArgs,
  quote,
  secretValues,
  transferEnv,
} from "./args.js";
import { parseAnsibleVersion } from "./version.js";

describe("playbookArgs", () => {
  const base = {
    playbook: "/b/site.yml",
    inventory: "/t/hosts",
    varsFile: "/t/extra-vars.json",
    privateKeyFile: "/t/id_ansible",
    sshExtraArgs: ["-o IdentitiesOnly=yes"],
    sshCommonArgs: ["-oUserKnownHostsFile=/t/known_hosts", "-oStrictHostKeyChecking=yes"],
    extraArguments: ["-v", "--tags", "web"],
  };

  it("gives Packer's order: variables, ssh args, extra_arguments, the key, then -i inventory playbook", () => {
    expect(playbookArgs(base)).toEqual([
      "-e",
      "@/t/extra-vars.json",
      "--ssh-extra-args",
      "'-o IdentitiesOnly=yes'",
      "--ssh-common-args",
      "-oUserKnownHostsFile=/t/known_hosts -oStrictHostKeyChecking=yes",
      "-v",
      "--tags",
      "web",
      "-e",
      "ansible_ssh_private_key_file=/t/id_ansible",
      "-i",
      "/t/hosts",
      "/b/site.yml",
    ]);
  });

  it("leaves the key out when extra_arguments log in with ansible_password, and ssh args without a key", () => {
    const a = playbookArgs({ ...base, extraArguments: ["-e", "ansible_password=x"] });
    expect(a.join(" ")).not.toContain("ansible_ssh_private_key_file");
    const b = playbookArgs({ ...base, privateKeyFile: undefined, sshCommonArgs: [] });
    expect(b).toEqual(["-e", "@/t/extra-vars.json", "-v", "--tags", "web", "-i", "/t/hosts", "/b/site.yml"]);
  });

  it("quotes each ssh argument so ansible's shell-like split keeps it whole", () => {
    const a = playbookArgs({ ...base, sshExtraArgs: ["-o ProxyCommand=ssh -W %h:%p jump", "-C"] });
    expect(a[a.indexOf("--ssh-extra-args") + 1]).toBe("'-o ProxyCommand=ssh -W %h:%p jump' -C");
    expect(quote("it's")).toBe(`'it'\\''s'`);
    expect(quote("/plain/path-1.2")).toBe("/plain/path-1.2");
  });

  it("finds a variable given in an argument", () => {
    expect(mentions("ansible_password", ["-e", "ansible_password=s"])).toBe(true);
    expect(mentions("ansible_password", ["-e", "a=1 ansible_password=s"])).toBe(true);
    expect(mentions("ansible_password", ["-e", "my_ansible_password_x=s"])).toBe(false);
  });
});

describe("galaxyArgs", () => {
  it("installs roles for a v1 file, roles and collections for a v2 file, with force and paths", () => {
    expect(galaxyArgs({ file: "req.yml", text: "- src: geerlingguy.ntp\n" })).toEqual([
      ["install", "-r", "req.yml"],
    ]);
    expect(
      galaxyArgs({
        file: "req.yml",
        text: "roles:\n  - name: a\ncollections:\n  - name: community.general\n",
        force: true,
        forceWithDeps: true,
        rolesPath: "/r",
        collectionsPath: "/c",
      }),
    ).toEqual([
      ["install", "-r", "req.yml", "-f", "--force-with-deps", "-p", "/r"],
      ["collection", "install", "-r", "req.yml", "-f", "--force-with-deps", "-p", "/c"],
    ]);
    expect(galaxyArgs({ file: "req.yml", text: "collections:\n  - community.general\n" })).toEqual([
      ["collection", "install", "-r", "req.yml"],
    ]);
  });
});

describe("environment", () => {
  it("reads NAME=value lists and names the option of a bad entry", () => {
    expect(envList("ansible", "ansible_env_vars", ["A=1", "B=x=y", "C="])).toEqual({
      A: "1",
      B: "x=y",
      C: "",
    });
    expect(() => envList("ansible", "ansible_env_vars", ["NOVALUE"])).toThrow(
      /\[ansible\] ansible_env_vars: "NOVALUE" is not in the form NAME=value/,
    );
    expect(() => envList("ansible", "ansible_env_vars", ["1X=2"])).toThrow(/"1X"/);
  });

  it("pipes files unless use_sftp, and falls back to scp for an ansible older than 2.12", () => {
    const v = (s: string) => parseAnsibleVersion(s);
    expect(transferEnv(false, v("ansible-playbook [core 2.14.18]"))).toEqual({
      ANSIBLE_SSH_TRANSFER_METHOD: "piped",
    });
    expect(transferEnv(true, v("ansible-playbook [core 2.14.18]"))).toEqual({
      ANSIBLE_SSH_TRANSFER_METHOD: "sftp",
    });
    expect(transferEnv(false, v("ansible-playbook 2.9.6"))).toEqual({ ANSIBLE_SCP_IF_SSH: "True" });
    expect(transferEnv(true, v("ansible-playbook 2.10.8"))).toEqual({ ANSIBLE_SCP_IF_SSH: "False" });
    expect(transferEnv(false, undefined)).toEqual({ ANSIBLE_SSH_TRANSFER_METHOD: "piped" });
  });

  it("keeps ansible's files in the run's folder, and ansible_env_vars win", () => {
    const env = ansibleEnv({
      base: { PATH: "/bin", HOME: "/h", UNSET: undefined },
      tempDir: "/t",
      controlDir: "/t/cp",
      remoteTemp: "/tmp/.kiln-ansible-1",
      transfer: { ANSIBLE_SSH_TRANSFER_METHOD: "piped" },
      user: { ANSIBLE_SSH_TRANSFER_METHOD: "sftp", ANSIBLE_NOCOLOR: "1" },
    });
    expect(env).toMatchObject({
      PATH: "/bin",
      ANSIBLE_LOCAL_TEMP: "/t/tmp",
      ANSIBLE_SSH_CONTROL_PATH_DIR: "/t/cp",
      ANSIBLE_REMOTE_TEMP: "/tmp/.kiln-ansible-1",
      ANSIBLE_SSH_TRANSFER_METHOD: "sftp",
      ANSIBLE_NOCOLOR: "1",
    });
    expect("UNSET" in env).toBe(false);
  });
});

describe("controlDirFor", () => {
  it("keeps ssh's control sockets in the run's folder while the socket path fits, else under /tmp", () => {
    expect(controlDirFor("/tmp/kiln-ansible-AbC123")).toBeUndefined();
    const deep =
      "/work/ci/builds/a-long-project-name/testbed/debian/test/tmp-ansible-pYVom6/tmp/kiln-ansible-CiYt7e";
    expect(controlDirFor(deep)).toBe("/tmp");
    // what ssh makes under the folder: /<10>.<17>; the limit of a socket's path is 107 bytes
    expect(`${"/tmp/kiln-cp-AbC123"}/0123456789.ABCDEFGHIJKLMNOPQ`.length).toBeLessThan(108);
    expect(`${"/tmp/kiln-ansible-AbC123/cp"}/0123456789.ABCDEFGHIJKLMNOPQ`.length).toBeLessThan(108);
  });
});

describe("variables and secrets", () => {
  it("gives Packer's variables, then extra_vars typed, then the become password", () => {
    const packer = packerVars({ source: "web", type: "qemu" }, { PackerHTTPAddr: "10.0.2.2:8080" });
    expect(packer).toEqual({
      packer_build_name: "web",
      packer_builder_type: "qemu",
      packer_http_addr: "10.0.2.2:8080",
    });
    expect(packerVars({ source: "s", type: "null" }, {})).toEqual({
      packer_build_name: "s",
      packer_builder_type: "null",
    });
    const doc = extraVarsDocument(
      packer,
      { port: 8080, users: ["a", "b"], tls: { on: true }, packer_build_name: "x" },
      "pw",
    );
    expect(doc).toEqual({
      packer_build_name: "x",
      packer_builder_type: "qemu",
      packer_http_addr: "10.0.2.2:8080",
      port: 8080,
      users: ["a", "b"],
      tls: { on: true },
      ansible_become_password: "pw",
    });
  });

  it("finds values under password/secret keys in arguments and extra_vars", () => {
    expect(
      secretValues(["-e", "db_password=hunter2 region=eu", "--extra-vars=API_SECRET=s3", "user=bob"], {
        admin_password: "pw1",
        nested: { client_secret: ["a1", { x: "deep1" }], plain: "visible" },
        secrets: { token: "t0k" },
      }).sort(),
    ).toEqual(["a1", "deep1", "hunter2", "pw1", "s3", "t0k"]);
  });
});

describe("parseAnsibleVersion", () => {
  it("reads ansible-core's and older ansible's first line", () => {
    expect(parseAnsibleVersion("ansible-playbook [core 2.14.18]\n  config file = None\n")).toMatchObject({
      major: 2,
      minor: 14,
      patch: 18,
      text: "2.14.18",
    });
    expect(parseAnsibleVersion("ansible-playbook 2.9.6\n")).toMatchObject({
      major: 2,
      minor: 9,
      text: "2.9.6",
    });
    expect(parseAnsibleVersion("ansible-playbook [core 2.17]\n")?.text).toBe("2.17");
    expect(parseAnsibleVersion("something else\n")).toBeUndefined();
  });
});
