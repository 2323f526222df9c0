// The plugin server's log helpers are total: whatever a peer sent or a plugin threw is shown in
// a bounded line, and rendering it never throws (a throw there would end the process).
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { createLogger, errorText, preview } from "../../../plugin/src/server/logger.ts";

/** An object every conversion to a string throws on, as a hostile plugin could throw. */
function unprintable(): object {
  const value = Object.create(null) as Record<string, unknown>;
  Object.defineProperty(value, "toString", {
    value: () => {
      throw new Error("no");
    },
  });
  return value;
}

describe("plugin server log helpers", () => {
  it("previews a decoded request as JSON", () => {
    const request = [
      0,
      7,
      "plugin.Step",
      [{ EventId: 3, Data: { authorization: ["Bearer t"] }, Bin: Uint8Array.of(1, 2, 3) }],
    ];
    assert.equal(
      preview(request),
      '[0,7,"plugin.Step",[{"EventId":3,"Data":{"authorization":["Bearer t"]},"Bin":<3 bytes>}]]',
    );
  });

  it("previews a value nested 100,000 deep, where JSON.stringify and String overflow the stack", () => {
    let deep: unknown = null;
    for (let i = 0; i < 100_000; i++) deep = [deep];
    assert.throws(() => String(deep), RangeError);
    assert.equal(preview(deep), "[[[[[[[[[…]]]]]]]]]");
  });

  it("shows at most 300 characters of a large value, without rendering all of it", () => {
    const large = Array.from({ length: 1_000_000 }, () => null);
    const shown = preview(large);
    assert.equal(shown, `${`[${"null,".repeat(61)}`.slice(0, 300)}…`);
    assert.equal(preview("x".repeat(10_000)), `"${"x".repeat(299)}…`);
  });

  it("previews keys, bigints, undefined and values with a throwing getter", () => {
    const getter = {};
    Object.defineProperty(getter, "bad", {
      enumerable: true,
      get() {
        throw new Error("no");
      },
    });
    assert.equal(preview({ 'a"b': 1n, u: undefined }), '{"a\\"b":1,"u":undefined}');
    assert.equal(preview([1, getter]), '[1,{"bad":<unprintable>');
  });

  it("renders any thrown value as error text, an unprintable one too", () => {
    assert.equal(errorText(new Error("boom")), "boom");
    assert.equal(errorText("plain"), "plain");
    assert.equal(errorText(42), "42");
    assert.equal(errorText(unprintable()), "<unprintable object>");
    const error = new Error("with stack");
    assert.match(errorText(error, { stack: true }), /^Error: with stack\n {4}at /);
    const lying = new Error("x");
    Object.defineProperty(lying, "message", {
      get() {
        throw new Error("no");
      },
    });
    assert.equal(errorText(lying), "<unprintable object>");
  });

  it("writes nothing and throws nothing once its output is gone", () => {
    const logger = createLogger("debug", () => {
      throw new Error("EPIPE");
    });
    assert.doesNotThrow(() => logger.warn("closing connection"));
  });
});
