import { describe, expect, it } from "vitest";
import { inventoryText, localInventoryText, renderTemplate } from "./inventory.js";

const base = { hostAlias: "default", host: "127.0.0.1", port: 40022, user: "builder" };

describe("inventoryText", () => {
  it("writes Packer's default host line", () => {
    expect(inventoryText(base)).toBe(
      "default ansible_host=127.0.0.1 ansible_user=builder ansible_port=40022\n",
    );
  });

  it("repeats the host line in each group, then the empty groups", () => {
    expect(inventoryText({ ...base, hostAlias: "web1", groups: ["web", "eu"], emptyGroups: ["db"] })).toBe(
      [
        "web1 ansible_host=127.0.0.1 ansible_user=builder ansible_port=40022",
        "[web]",
        "web1 ansible_host=127.0.0.1 ansible_user=builder ansible_port=40022",
        "[eu]",
        "web1 ansible_host=127.0.0.1 ansible_user=builder ansible_port=40022",
        "[db]",
        "",
      ].join("\n"),
    );
  });

  it("renders inventory_file_template with build variables, and ends it with a newline", () => {
    const text = inventoryText({
      ...base,
      template:
        "{{ .HostAlias }} ansible_host={{.Host}} ansible_port={{ .Port }} vm_id={{ .ID }} ansible_python_interpreter=/usr/bin/python3",
      vars: { ID: "vm-42", Host: "10.0.0.9" },
    });
    // the connection's Host wins over build.Host (the proxy's address)
    expect(text).toBe(
      "default ansible_host=127.0.0.1 ansible_port=40022 vm_id=vm-42 ansible_python_interpreter=/usr/bin/python3\n",
    );
  });

  it("rejects an unknown field and a group name ansible would misread", () => {
    expect(() => inventoryText({ ...base, template: "{{ .Nope }}" })).toThrow(
      /\[ansible\] inventory_file_template: unknown field \{\{ \.Nope \}\}/,
    );
    expect(() => inventoryText({ ...base, groups: ["web servers"] })).toThrow(/groups: "web servers"/);
    expect(() => inventoryText({ ...base, emptyGroups: ["[x]"] })).toThrow(/empty_groups/);
    expect(renderTemplate("o", "{{ .A }}-{{ .B }}", { A: 1, B: true })).toBe("1-true");
  });
});

describe("localInventoryText", () => {
  it("is 127.0.0.1, in each of inventory_groups", () => {
    expect(localInventoryText(undefined)).toBe("127.0.0.1\n");
    expect(localInventoryText(["web", "db"])).toBe("[web]\n127.0.0.1\n[db]\n127.0.0.1\n");
    expect(() => localInventoryText(["a b"])).toThrow(/\[ansible-local\] inventory_groups/);
  });
});
