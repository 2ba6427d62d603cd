import crypto from "node:crypto";
import { Readable } from "node:stream";
import { describe, expect, test } from "vitest";
import { boundaryOf, type FileSink, readMultipart } from "./multipart.js";

function body(boundary: string, file: Buffer): Buffer {
  return Buffer.concat([
    Buffer.from(`preamble\r\n--${boundary}\r\nContent-Disposition: form-data; name="content"\r\n\r\niso\r\n`),
    Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="filename"; filename="a.iso"\r\n`),
    Buffer.from("Content-Type: application/octet-stream\r\n\r\n"),
    file,
    Buffer.from(`\r\n--${boundary}--\r\n`),
  ]);
}

function sink(into: Buffer[]): FileSink {
  return {
    write: async (c) => {
      into.push(Buffer.from(c));
    },
    end: async () => {},
  };
}

describe("multipart reader", () => {
  test("boundary from the content type", () => {
    expect(boundaryOf('multipart/form-data; boundary="abc def"')).toBe("abc def");
    expect(boundaryOf("multipart/form-data; boundary=----x1")).toBe("----x1");
  });

  test.each([1, 7, 64, 65536])("chunks of %i bytes, file data containing near-boundaries", async (size) => {
    const boundary = "----kilnBoundary";
    // data that contains CRLF, "--" and a truncated boundary must come through unchanged
    const file = Buffer.concat([
      crypto.randomBytes(3000),
      Buffer.from(`\r\n--${boundary.slice(0, 10)}\r\n--`),
      crypto.randomBytes(2000),
    ]);
    const all = body(boundary, file);
    const chunks: Buffer[] = [];
    for (let i = 0; i < all.length; i += size) chunks.push(all.subarray(i, i + size));
    const got: Buffer[] = [];
    const r = await readMultipart(Readable.from(chunks), boundary, () => sink(got));
    expect(r.fields).toEqual({ content: "iso" });
    expect(r.file).toEqual({ field: "filename", filename: "a.iso", bytes: file.length });
    expect(Buffer.concat(got).equals(file)).toBe(true);
  });

  test("a truncated body is an error", async () => {
    const all = body("b", Buffer.from("data"));
    await expect(
      readMultipart(Readable.from([all.subarray(0, all.length - 8)]), "b", () => sink([])),
    ).rejects.toThrow(/unexpected end/);
  });
});
