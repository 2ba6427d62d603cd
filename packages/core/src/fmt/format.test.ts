import { describe, expect, it } from "vitest";
import { Document, parseDocument } from "yaml";
import { formatDocument } from "./index.js";

/** Formats `source` and checks the invariants every result must satisfy. */
function fmt(source: string): string {
  const doc = parseDocument(source);
  expect(doc.errors).toEqual([]);
  const before = doc.toString();
  const out = formatDocument(doc);
  expect(doc.toString()).toBe(before); // the caller's document is not touched
  const again = parseDocument(out);
  expect(again.errors).toEqual([]);
  expect(again.toJS()).toEqual(doc.toJS());
  expect(formatDocument(again)).toBe(out);
  return out;
}

const lines = (...l: string[]) => `${l.join("\n")}\n`;

describe("key order", () => {
  it("puts top-level sections in canonical order and keeps unknown keys after them, in order", () => {
    const out = fmt(
      lines(
        "zeta: 1",
        "builds:",
        "  - name: b",
        "alpha: 2",
        "sources:",
        "  s:",
        "    type: qemu",
        "kiln: 1",
        "locals:",
        "  l: 1",
        "data:",
        "  d:",
        "    type: http",
        "variables:",
        "  v:",
        "    type: string",
        "plugins:",
        "  qemu: x",
      ),
    );
    const keys = Object.keys(parseDocument(out).toJS() as object);
    expect(keys).toEqual([
      "kiln",
      "plugins",
      "variables",
      "locals",
      "data",
      "sources",
      "builds",
      "zeta",
      "alpha",
    ]);
  });

  it("orders variable fields and validation rules", () => {
    const out = fmt(
      lines(
        "variables:",
        "  password:",
        "    extra: 1",
        "    validation:",
        "      - error_message: too short",
        "        condition: ${{ length(var.password) > 8 }}",
        "    env: PW",
        "    sensitive: true",
        "    default: x",
        "    description: the password",
        "    type: string",
        "  version:",
        "    default: '24.04'",
        "    type: string",
      ),
    );
    expect(out).toBe(
      lines(
        "variables:",
        "  password:",
        "    type: string",
        "    description: the password",
        "    default: x",
        "    sensitive: true",
        "    env: PW",
        "    validation:",
        "      - condition: ${{ length(var.password) > 8 }}",
        "        error_message: too short",
        "    extra: 1",
        "  version:",
        "    type: string",
        "    default: '24.04'",
      ),
    );
  });

  it("puts type first in sources and data sources and leaves the other options as grouped", () => {
    const out = fmt(
      lines(
        "data:",
        "  latest:",
        "    url: https://x",
        "    type: http",
        "sources:",
        "  ubuntu:",
        "    iso_url: https://releases.ubuntu.com/x.iso",
        "    iso_checksum: file:SHA256SUMS",
        "    type: qemu",
        "    ssh_username: ubuntu",
        "    boot_wait: 5s",
        "  alpine:",
        "    zz: 1",
        "    aa: 2",
        "    type: qemu",
      ),
    );
    expect(out).toBe(
      lines(
        "data:",
        "  latest:",
        "    type: http",
        "    url: https://x",
        "",
        "sources:",
        "  ubuntu:",
        "    type: qemu",
        "    iso_url: https://releases.ubuntu.com/x.iso",
        "    iso_checksum: file:SHA256SUMS",
        "    ssh_username: ubuntu",
        "    boot_wait: 5s",
        "  alpine:",
        "    type: qemu",
        "    zz: 1",
        "    aa: 2",
      ),
    );
  });

  it("orders builds, provisioners, the error-cleanup provisioner and post-processor chains", () => {
    const out = fmt(
      lines(
        "builds:",
        "  - extra: true",
        "    post-processors:",
        "      - output: manifest.json",
        "        type: manifest",
        "      - - checksum_types: [sha256]",
        "          type: checksum",
        "        - format: zst",
        "          type: compress",
        "    error-cleanup-provisioner:",
        "      inline: [echo failed]",
        "      type: shell-local",
        "    provisioners:",
        "      - inline: [apt-get update]",
        "        type: shell",
        "      - source: a",
        "        destination: b",
        "        type: file",
        "    sources: [ubuntu]",
        "    description: base image",
        "    name: base",
      ),
    );
    expect(out).toBe(
      lines(
        "builds:",
        "  - name: base",
        "    description: base image",
        "    sources: [ubuntu]",
        "    provisioners:",
        "      - type: shell",
        "        inline: [apt-get update]",
        "      - type: file",
        "        source: a",
        "        destination: b",
        "    error-cleanup-provisioner:",
        "      type: shell-local",
        "      inline: [echo failed]",
        "    post-processors:",
        "      - type: manifest",
        "        output: manifest.json",
        "      - - type: checksum",
        "          checksum_types: [sha256]",
        "        - type: compress",
        "          format: zst",
        "    extra: true",
      ),
    );
  });

  it("keeps the user's order of variable and source names", () => {
    const out = fmt(
      lines("sources:", "  zz:", "    type: a", "  aa:", "    type: b", "  mm:", "    type: c"),
    );
    expect(Object.keys((parseDocument(out).toJS() as { sources: object }).sources)).toEqual([
      "zz",
      "aa",
      "mm",
    ]);
  });
});

describe("comments", () => {
  it("keeps the leading schema comment at the top of the file", () => {
    const out = fmt(
      lines(
        "# yaml-language-server: $schema=https://example.com/kiln.schema.json",
        "sources:",
        "  s:",
        "    type: qemu",
        "kiln: 1",
      ),
    );
    expect(out).toBe(
      lines(
        "# yaml-language-server: $schema=https://example.com/kiln.schema.json",
        "",
        "kiln: 1",
        "",
        "sources:",
        "  s:",
        "    type: qemu",
      ),
    );
  });

  it("keeps a file header separated by a blank line at the top, and a key's own comment with the key", () => {
    const out = fmt(lines("# header", "", "# about sources", "sources: {}", "# about kiln", "kiln: 1"));
    expect(out).toBe(lines("# header", "", "# about kiln", "kiln: 1", "", "# about sources", "sources: {}"));
  });

  it("moves a comment above a key together with the key", () => {
    const out = fmt(
      lines(
        "builds:",
        "  - name: base",
        "",
        "# The sources we build from",
        "sources:",
        "  ubuntu:",
        "    # where the ISO comes from",
        "    iso_url: https://x",
        "    # the builder",
        "    type: qemu # trailing comment",
      ),
    );
    expect(out).toBe(
      lines(
        "# The sources we build from",
        "sources:",
        "  ubuntu:",
        "    # the builder",
        "    type: qemu # trailing comment",
        "    # where the ISO comes from",
        "    iso_url: https://x",
        "",
        "builds:",
        "  - name: base",
      ),
    );
  });

  it("keeps a comment written right after `key:` with the first key when that key moves", () => {
    const out = fmt(lines("variables:", "  v:", "    # the default", "    default: 1", "    type: number"));
    expect(out).toBe(lines("variables:", "  v:", "    type: number", "    # the default", "    default: 1"));
  });

  it("keeps trailing line comments on their values", () => {
    const out = fmt(
      lines("sources:", "  s:", "    cpus: 2   # two", "    type: qemu # builder", "kiln: 1 # version"),
    );
    expect(out).toBe(
      lines("kiln: 1 # version", "", "sources:", "  s:", "    type: qemu # builder", "    cpus: 2 # two"),
    );
  });

  it("moves a comment written above a section after a nested block that ends in a comment", () => {
    const out = fmt(
      lines("sources:", "  s:", "    type: qemu", "    # cpus: 4", "", "# the version", "kiln: 1"),
    );
    expect(out).toBe(
      lines("# the version", "kiln: 1", "", "sources:", "  s:", "    type: qemu", "    # cpus: 4"),
    );
  });

  it("keeps a comment with its key when the key moves after a block that ends in a comment", () => {
    const out = fmt(
      lines(
        "data:",
        "  d:",
        "    type: http",
        "  # end of data",
        "builds: []",
        "# about sources",
        "",
        "sources: {}",
        "locals:",
        "  l: 1",
        "  # end of locals",
      ),
    );
    expect(out).toBe(
      lines(
        "locals:",
        "  l: 1",
        "  # end of locals",
        "",
        "data:",
        "  d:",
        "    type: http",
        "  # end of data",
        "",
        "# about sources",
        "sources: {}",
        "",
        "builds: []",
      ),
    );
  });

  it("keeps comments above build items and a comment at the end of the file", () => {
    const out = fmt(
      lines("builds:", "  # first", "  - name: a", "  # second", "  - name: b", "kiln: 1", "", "# the end"),
    );
    expect(out).toBe(
      lines(
        "kiln: 1",
        "",
        "builds:",
        "  # first",
        "  - name: a",
        "  # second",
        "  - name: b",
        "",
        "# the end",
      ),
    );
  });

  it("removes trailing whitespace from comments", () => {
    const out = fmt(lines("# head   ", "kiln: 1 #   x   ", "#", "sources: {}"));
    expect(out).toBe(lines("# head", "kiln: 1 #   x", "", "#", "sources: {}"));
  });
});

describe("style", () => {
  it("keeps flow collections flow and block collections block", () => {
    const out = fmt(
      lines(
        "variables:",
        "  version: { type: string, default: '24.04' }",
        "  list:",
        "    type: list",
        "    default:",
        "    - a",
        "    - b",
        "builds:",
        "  - sources: [ ubuntu,   debian ]",
        "    name: x",
      ),
    );
    expect(out).toBe(
      lines(
        "variables:",
        "  version: {type: string, default: '24.04'}",
        "  list:",
        "    type: list",
        "    default:",
        "      - a",
        "      - b",
        "",
        "builds:",
        "  - name: x",
        "    sources: [ubuntu, debian]",
      ),
    );
  });

  it("keeps the quoting style of scalars and the source form of numbers, booleans and nulls", () => {
    const src = lines(
      "locals:",
      "  a: plain",
      "  b: 'single'",
      '  c: "double"',
      "  d: 0x1F",
      "  e: 1.50",
      "  f: True",
      "  g: ~",
      "  h:",
      "  i: |",
      "    literal",
      "",
      "    block",
      "  j: >-",
      "    folded text",
      '  k: "a\\tb\\n"',
      "  mode: 0755",
      "  big: 1e3",
      "  plus: +1",
      "  octal: 0o17",
      "  inf: -.inf",
    );
    expect(fmt(src)).toBe(src);
  });

  it("never folds long lines", () => {
    const long = "x".repeat(50);
    const src = lines(
      "locals:",
      `  a: ${Array.from({ length: 10 }, () => long).join(" ")}`,
      `  b: "${long} ${long}\\n${long}"`,
      `  c: '${long} ${long} ${long}'`,
    );
    expect(fmt(src)).toBe(src);
  });

  it("uses 2-space indentation and indents sequences inside maps", () => {
    const out = fmt(
      lines(
        "sources:",
        "    s:",
        "        type: qemu",
        "        boot_command:",
        "        - a",
        "        - b",
      ),
    );
    expect(out).toBe(
      lines("sources:", "  s:", "    type: qemu", "    boot_command:", "      - a", "      - b"),
    );
  });

  it("drops document markers", () => {
    expect(fmt(lines("---", "kiln: 1", "..."))).toBe(lines("kiln: 1"));
  });

  it("puts exactly one blank line between top-level sections and collapses other runs", () => {
    const out = fmt(
      lines(
        "kiln: 1",
        "plugins:",
        "",
        "",
        "  qemu: x",
        "",
        "",
        "",
        "  shell: y",
        "variables:",
        "  a:",
        "    type: string",
        "",
        "  b:",
        "    type: string",
        "",
        "",
        "",
        "builds: []",
        "",
        "",
      ),
    );
    expect(out).toBe(
      lines(
        "kiln: 1",
        "",
        "plugins:",
        "  qemu: x",
        "",
        "  shell: y",
        "",
        "variables:",
        "  a:",
        "    type: string",
        "",
        "  b:",
        "    type: string",
        "",
        "builds: []",
      ),
    );
  });

  it("ends the file with exactly one newline and no trailing whitespace", () => {
    const out = fmt("kiln: 1   \nsources:   \n  s:    \n    type: qemu     ");
    expect(out).toBe(lines("kiln: 1", "", "sources:", "  s:", "    type: qemu"));
  });

  it("writes multi-line plain scalars that would need runs of blank lines double-quoted", () => {
    const out = fmt(lines("a: one", "", "", "  two"));
    expect(out).toBe(lines('a: "one\\n\\ntwo"'));
  });
});

describe("anchors and odd documents", () => {
  it("moves an anchor before its aliases when keys move", () => {
    const out = fmt(lines("defaults: &d", "  type: qemu", "sources:", "  a: *d", "  b: *d"));
    expect(out).toBe(lines("sources:", "  a: &d", "    type: qemu", "  b: *d", "", "defaults: *d"));
  });

  it("keeps aliases pointing at the right definition when an anchor name is reused", () => {
    fmt(lines("x: &a 1", "sources:", "  s: *a", "y: &a 2", "builds:", "  - name: *a", "kiln: *a"));
  });

  it("handles empty and comment-only files", () => {
    expect(formatDocument(parseDocument(""))).toBe("");
    expect(fmt("# only a comment\n\n\n")).toBe("# only a comment\n");
    expect(fmt("# one   \n\n\n\n# two\n")).toBe("# one\n\n# two\n");
  });

  it("formats documents whose root is not a map", () => {
    expect(fmt("- b\n-   a\n")).toBe("- b\n- a\n");
    expect(fmt("just text\n")).toBe("just text\n");
  });

  it("formats documents built in code", () => {
    const doc = new Document({ sources: { s: { cpus: 1, type: "qemu" } }, kiln: 1 });
    expect(formatDocument(doc)).toBe(
      lines("kiln: 1", "", "sources:", "  s:", "    type: qemu", "    cpus: 1"),
    );
  });
});

describe("a full build file", () => {
  it("formats the design example unchanged apart from its canonical form", () => {
    const src = lines(
      "# yaml-language-server: $schema=https://example.com/kiln.schema.json",
      "kiln: 1",
      "plugins:                       # optional: pin packages and versions",
      '  qemu: "@kiln/builder-qemu@^1"',
      "variables:",
      '  version: { type: string, default: "24.04" }',
      "  password: { type: string, sensitive: true, env: UBUNTU_PASSWORD }",
      "sources:",
      "  ubuntu:",
      "    type: qemu",
      "    iso_url: https://releases.ubuntu.com/${{ var.version }}/ubuntu.iso",
      "    boot_command:",
      '      - "<esc><wait>linux /casper/vmlinuz autoinstall ds=nocloud-net;s=http://${{ http.ip }}:${{ http.port }}/ ---<enter>"',
      "    ssh_password: ${{ var.password }}",
      "builds:",
      "  - name: base",
      "    sources: [ubuntu]",
      "    provisioners:",
      "      - type: shell",
      '        inline: ["apt-get update", "apt-get -y upgrade"]',
      "    post-processors:",
      "      - type: manifest",
      "      - type: checksum",
      "        checksum_types: [sha256]",
    );
    const out = fmt(src);
    expect(out).toBe(
      src
        .replace("kiln: 1\n", "\nkiln: 1\n\n")
        .replace("plugins:                       # optional", "plugins:\n  # optional")
        .replace("variables:", "\nvariables:")
        .replace('{ type: string, default: "24.04" }', '{type: string, default: "24.04"}')
        .replace(
          "{ type: string, sensitive: true, env: UBUNTU_PASSWORD }",
          "{type: string, sensitive: true, env: UBUNTU_PASSWORD}",
        )
        .replace("sources:\n  ubuntu", "\nsources:\n  ubuntu")
        .replace("builds:", "\nbuilds:"),
    );
  });
});

describe("Packer-style reuse", () => {
  it("keeps x- anchor keys before the sources that merge them, and per-build variants as they are", () => {
    const out = fmt(
      "kiln: 1\nx-base: &base\n  type: qemu\nbuilds:\n  - sources:\n      - a\n      - { source: a, name: v }\nsources:\n  a:\n    <<: *base\n",
    );
    expect(out.indexOf("x-base: &base")).toBeLessThan(out.indexOf("<<: *base"));
    expect(out).toContain("{source: a, name: v}");
  });
});
