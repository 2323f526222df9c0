// The base64url and JSON decoding of compact-JWS segments: canonical spellings only.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { decodeBase64Url, decodeJsonObject } from "../../../plugin/src/core/jws-verify.ts";

describe("decodeBase64Url", () => {
  it("decodes canonical base64url and refuses every other spelling of the same bytes", () => {
    assert.deepEqual(decodeBase64Url("AQID-_8"), Buffer.from([1, 2, 3, 0xfb, 0xff]));
    assert.deepEqual(decodeBase64Url(""), Buffer.alloc(0));
    for (const variant of [
      "AQID+/8", // standard alphabet
      "AQID-_8=", // padding
      "AQID -_8", // whitespace
      "AQID\n-_8",
      "AQID-_9", // unused low bits set: same bytes, second spelling
      "AQID-_8.", // stray character
      "A", // impossible length
      "AQID-_8%",
    ]) {
      assert.equal(decodeBase64Url(variant), undefined, JSON.stringify(variant));
    }
  });
});

describe("decodeJsonObject", () => {
  const b64 = (text: string | Buffer) => Buffer.from(text).toString("base64url");
  it("accepts a JSON object and nothing else", () => {
    assert.deepEqual(decodeJsonObject(b64('{"a":1,"b":[true]}')), { a: 1, b: [true] });
    for (const text of ["[]", "null", "1", '"s"', "", "{", '{"a":1}x', "\ufeff{}"]) {
      assert.equal(decodeJsonObject(b64(text)), undefined, JSON.stringify(text));
    }
    assert.equal(
      decodeJsonObject(b64(Buffer.from([0x7b, 0x22, 0xc3, 0x28, 0x22, 0x3a, 0x31, 0x7d]))),
      undefined,
      "invalid UTF-8",
    );
    assert.deepEqual(decodeJsonObject(b64('{"é":"✓"}')), { é: "✓" });
  });
});
