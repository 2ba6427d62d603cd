// biome-ignore-all lint/suspicious/noTemplateCurlyInString: `${…}` and `${{ … }}` in plain strings are what is translated.
/** HCL expressions and Packer placeholders → kiln values and `${{ }}` expressions. */
import { describe, expect, it } from "vitest";
import { toData } from "../emit/model.js";
import type { Attribute } from "../hcl/ast.js";
import { readHclFile } from "../hcl/read.js";
import type { Position } from "../report.js";
import { type ExprEnv, ExprTranslator, Unsupported } from "./expr.js";
import { translateGoTemplate } from "./gotemplate.js";
import { goLayoutToFormatdate, strftimeToFormatdate } from "./timefmt.js";

const notes: string[] = [];
const env: ExprEnv = {
  reference: (root, attrs) => {
    if (root === "data") return { text: `data.${attrs[1]}`, used: 2 };
    if (root === "packer") return { text: "kiln.version", used: 1 };
    if (root === "local" && attrs[0] === "gone") throw new Unsupported("local.gone is not imported");
    return undefined;
  },
  field: (name) => ({ HTTPIP: "http.ip", HTTPPort: "http.port", Name: "var.vm" })[name],
  note: (m) => notes.push(m),
  external: (fn, args) => `var.${fn}_${args.join("_").replace(/\W+/g, "_")}`,
};
const t = new ExprTranslator(env);

async function hcl(src: string) {
  const body = await readHclFile(`x = ${src}\n`, "t.pkr.hcl");
  return (body.items[0] as Attribute).expr;
}
const value = async (src: string) => toData(t.value(await hcl(src)));
const expr = async (src: string) => t.expr(await hcl(src));

describe("values", () => {
  it("literals, lists and maps stay YAML values", async () => {
    expect(await value('{ a = 1, "b c" = [true, null, -2.5], d = "x" }')).toEqual({
      a: 1,
      "b c": [true, null, -2.5],
      d: "x",
    });
  });

  it("templates become strings with ${{ }}; one interpolation keeps its type", async () => {
    expect(await value('"ubuntu-${var.version}.iso"')).toBe("ubuntu-${{ var.version }}.iso");
    expect(await value('"${var.cpus}"')).toBe("${{ var.cpus }}");
    expect(await value("var.cpus * 2")).toBe("${{ var.cpus * 2 }}");
  });

  it("a literal ${{ in text is escaped; Packer's $${ is a plain ${", async () => {
    expect(await value('"a $${x} $${{y}} b"')).toBe("a ${x} $${{y}} b");
  });

  it("Packer placeholders in any string: {{ .HTTPIP }}, {{ .Name }}; component templates kept", async () => {
    expect(await value('"s=http://{{ .HTTPIP }}:{{.HTTPPort}}/ {{ .Name }}"')).toBe(
      "s=http://${{ http.ip }}:${{ http.port }}/ ${{ var.vm }}",
    );
    expect(await value('"sudo sh {{ .Path }} {{.Vars}}"')).toBe("sudo sh {{ .Path }} {{.Vars}}");
    expect(await value("\"awk '{{print $1}}'\"")).toBe("awk '{{print $1}}'");
  });
});

describe("expressions", () => {
  it("strings inside expressions: format() with %% for a %", async () => {
    expect(await expr('join(",", ["50% ${var.a}", "b"])')).toBe('join(",", [format("50%% %s", var.a), "b"])');
  });

  it("splats, legacy indexes, for expressions, conditionals, precedence", async () => {
    expect(await expr("var.disks[*].size")).toBe("[for item in var.disks: item.size]");
    expect(await expr("var.disks.0.size")).toBe("var.disks[0].size");
    expect(await expr("[for i, s in var.l : upper(s) if i > 0]")).toBe(
      "[for i, s in var.l: upper(s) if i > 0]",
    );
    expect(await expr("{ for s in var.l : s => length(s)... }")).toBe("{for s in var.l: s => length(s)...}");
    expect(await expr("(a + b) * c")).toBe("(a + b) * c");
    expect(await expr("a ? b : c ? d : e")).toBe("a ? b : c ? d : e");
  });

  it("template directives: if → ?:, for → join of a for expression", async () => {
    expect(await value('"%{ if var.gui }desktop%{ else }server%{ endif }"')).toBe(
      '${{ var.gui ? "desktop" : "server" }}',
    );
    expect(await value('"%{ for p in var.pkgs }- ${p}\n%{ endfor }"')).toBe(
      '${{ join("", [for p in var.pkgs: format("- %s\\n", p)]) }}',
    );
  });

  it("maps with computed keys: merge() of the fixed part and zipmap() of the others", async () => {
    expect(await expr("{ a = 1, (var.k) = 2 }")).toBe("merge({a = 1}, zipmap([var.k], [2]))");
  });

  it("renamed references: data sources, packer.version", async () => {
    expect(await expr("data.amazon-ami.base.id")).toBe("data.base.id");
    expect(await expr('"${packer.version}"')).toBe("kiln.version");
  });

  it("functions kiln spells otherwise: legacy_isotime, convert, textencodebase64; secret stores become variables", async () => {
    expect(await expr('legacy_isotime("2006-01-02 15:04")')).toBe(
      'formatdate("YYYY-MM-DD hh:mm", timestamp())',
    );
    expect(await expr("convert(var.n, string)")).toBe("tostring(var.n)");
    expect(await expr('textencodebase64(var.s, "UTF-8")')).toBe("base64encode(var.s)");
    expect(await expr('vault("secret/p", "pw")')).toBe("var.vault_secret_p_pw");
    expect(await expr('file("~/.ssh/id.pub")')).toBe('file(pathexpand("~/.ssh/id.pub"))');
    expect(await expr("file(var.key)")).toBe("file(pathexpand(var.key))");
    expect(await expr('file("${path.root}/x")')).toBe('file(format("%s/x", path.root))');
  });

  it("what kiln lacks throws Unsupported; try() and can() fall back as Packer's do when it fails", async () => {
    await expect(expr("rsadecrypt(var.x, var.k)")).rejects.toThrow(Unsupported);
    await expect(expr("concat(var.lists...)")).rejects.toThrow(/argument expansion/);
    expect(await expr('try(local.gone, "fallback")')).toBe('"fallback"');
    expect(await expr("can(local.gone)")).toBe("false");
    expect(await expr('try(var.a, "b")')).toBe('try(var.a, "b")');
    expect(notes.some((n) => n.startsWith("try(): local.gone is not imported"))).toBe(true);
  });
});

describe("Go templates (legacy JSON and placeholders)", () => {
  const go = (text: string) =>
    translateGoTemplate(text, {
      field: (n) => (n === "HTTPIP" ? "http.ip" : undefined),
      note: () => {},
    });

  it("user, env, uuid, isotime, timestamp, build_name, template_dir", () => {
    expect(
      go(
        '{{user `v`}}-{{ env `HOME` }}-{{uuid}}-{{isotime}}-{{ isotime "2006" }}-{{ build_name }}-{{template_dir}}',
      ),
    ).toEqual([
      { t: "expr", expr: "var.v" },
      { t: "text", text: "-" },
      { t: "expr", expr: 'env("HOME")' },
      { t: "text", text: "-" },
      { t: "expr", expr: "uuidv4()" },
      { t: "text", text: "-" },
      { t: "expr", expr: "timestamp()" },
      { t: "text", text: "-" },
      { t: "expr", expr: 'formatdate("YYYY", timestamp())' },
      { t: "text", text: "-" },
      { t: "expr", expr: "source.name" },
      { t: "text", text: "-" },
      { t: "expr", expr: "path.root" },
    ]);
    expect(go("{{timestamp}}")).toEqual([{ t: "expr", expr: 'formatdate("YYYYMMDDhhmmss", timestamp())' }]);
  });

  it("pipes and nested calls; trim markers", () => {
    expect(go('{{ user "name" | upper }}')).toEqual([{ t: "expr", expr: "upper(var.name)" }]);
    expect(go('{{ split (user "v") "." 0 }}')).toEqual([{ t: "expr", expr: 'split(".", var.v)[0]' }]);
    expect(go('{{ replace_all "-" "_" (user "n") }}')).toEqual([
      { t: "expr", expr: 'replace(var.n, "-", "_")' },
    ]);
    expect(go("a  {{- .HTTPIP -}}  b")).toEqual([
      { t: "text", text: "a" },
      { t: "expr", expr: "http.ip" },
      { t: "text", text: "b" },
    ]);
  });

  it("braces that are not Packer's stay text; Packer functions kiln lacks are refused", () => {
    expect(go("docker ps --format '{{.Names}}' {{ range . }}")).toEqual([
      { t: "text", text: "docker ps --format '{{.Names}}' {{ range . }}" },
    ]);
    expect(() => go("{{ vault `secret/x` `k` }}")).toThrow(/no kiln equivalent/);
  });

  it("date layouts", () => {
    expect(goLayoutToFormatdate("2006-01-02T15:04:05Z07:00")).toBe("YYYY-MM-DD'T'hh:mm:ssZ");
    expect(goLayoutToFormatdate("Jan 2, 2006 at 3:04pm (MST)")).toBe("MMM D, YYYY 'at' H:mmaa (ZZZ)");
    expect(goLayoutToFormatdate("15:04:05.000")).toBeUndefined();
    expect(strftimeToFormatdate("%Y%m%d-%H%M%S %%")).toBe("YYYYMMDD-hhmmss %");
  });
});

export type { Position };
