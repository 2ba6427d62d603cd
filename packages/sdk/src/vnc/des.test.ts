import { describe, expect, it } from "vitest";
import { desEncryptBlock, vncAuthKey, vncAuthResponse } from "./des.js";

const hex = (s: string) => Buffer.from(s, "hex");

describe("DES (single block)", () => {
  // Classic known-answer vectors (FIPS 81 / the textbook example / NBS tests), checked against
  // `openssl enc -des-ecb -provider legacy -nopad`.
  it.each([
    ["133457799bbcdff1", "0123456789abcdef", "85e813540f0ab405"],
    ["0123456789abcdef", "4e6f772069732074", "3fa40e8a984d4815"], // "Now is t"
    ["0000000000000000", "0000000000000000", "8ca64de9c1b123a7"],
    ["ffffffffffffffff", "ffffffffffffffff", "7359b2163e4edc58"],
    ["3000000000000000", "1000000000000001", "958e6e627a05557b"],
    ["0101010101010101", "95f8a5e5dd31d900", "8000000000000000"], // variable-plaintext KAT, round 1
    ["8001010101010101", "0000000000000000", "95a8d72813daa94d"], // variable-key KAT, round 1
  ])("key %s, plaintext %s → %s", (key, plain, cipher) => {
    expect(desEncryptBlock(hex(key), hex(plain)).toString("hex")).toBe(cipher);
  });

  it("ignores the key's parity bits", () => {
    expect(desEncryptBlock(hex("0000000000000000"), hex("0000000000000000"))).toEqual(
      desEncryptBlock(hex("0101010101010101"), hex("0000000000000000")),
    );
  });

  it("rejects wrong sizes", () => {
    expect(() => desEncryptBlock(Buffer.alloc(7), Buffer.alloc(8))).toThrow(RangeError);
    expect(() => desEncryptBlock(Buffer.alloc(8), Buffer.alloc(9))).toThrow(RangeError);
  });
});

describe("VNC Authentication", () => {
  it("makes the DES key from the password with every byte bit-reversed, cut or zero-padded to 8", () => {
    expect(vncAuthKey("password").toString("hex")).toBe("0e86ceceeef64e26");
    expect(vncAuthKey("ab").toString("hex")).toBe("8646000000000000");
    expect(vncAuthKey("Kiln-VNC!longer").toString("hex")).toBe("d2963676b46a72c2");
    expect(vncAuthKey("")).toEqual(Buffer.alloc(8));
  });

  // The responses were computed with `openssl enc -des-ecb -provider legacy -K <vncAuthKey> -nopad`.
  it.each([
    ["password", "000102030405060708090a0b0c0d0e0f", "b866924125c8eebb9debc1db61c538e2"],
    ["password", "8f2e1cb74a3d69f00112233445566778", "03d040837699e39eb801122a60eb43ff"],
    ["ab", "000102030405060708090a0b0c0d0e0f", "fe01155de95da3e28adf6cc730f06f08"],
    ["ab", "8f2e1cb74a3d69f00112233445566778", "93c76087533acba67507aa94e224bf6c"],
    ["Kiln-VNC!longer", "000102030405060708090a0b0c0d0e0f", "5d3561ae92115088b7d9b7ff5e801acc"],
    ["Kiln-VNC!", "8f2e1cb74a3d69f00112233445566778", "74db9bc42f78aaa73919aa91ed30bc5c"],
  ])("password %j, challenge %s → %s", (pw, challenge, response) => {
    expect(vncAuthResponse(pw, hex(challenge)).toString("hex")).toBe(response);
  });

  it("takes the password as bytes too", () => {
    expect(vncAuthResponse(Buffer.from("ab"), hex("000102030405060708090a0b0c0d0e0f"))).toEqual(
      vncAuthResponse("ab", hex("000102030405060708090a0b0c0d0e0f")),
    );
  });

  it("needs a 16-byte challenge", () => {
    expect(() => vncAuthResponse("x", Buffer.alloc(8))).toThrow(RangeError);
  });
});
