// The ProtoBuf:1 codec: the PDK method table under Kong's names, JavaScript values to and from
// each method's messages as Kong's pb_rpc.lua wraps and unwraps them, the RPC envelope, and
// bytes that are not what they claim (a ProtocolError, never anything else).
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  decodePdkArgs,
  decodePdkResult,
  decodeRpcCall,
  decodeRpcReturn,
  encodePdkArgs,
  encodePdkResult,
  encodeRpcCall,
  encodeRpcReturn,
  PDK_METHODS,
  ProtocolError,
} from "../../../../plugin/src/server/protobuf/index.ts";

const argsRoundTrip = (method: string, args: unknown[]): unknown[] =>
  decodePdkArgs(method, encodePdkArgs(method, args));
const resultRoundTrip = (method: string, value: unknown): unknown =>
  decodePdkResult(method, encodePdkResult(method, value));

describe("ProtoBuf:1 PDK method table", () => {
  it("names every rpc of Kong's service as Kong does on the wire, with its input and output messages", () => {
    assert.equal(PDK_METHODS.size, 74);
    assert.deepEqual(PDK_METHODS.get("kong.request.get_headers"), {
      name: "kong.request.get_headers",
      input: "kong_plugin_protocol.Int",
      output: "google.protobuf.Struct",
    });
    assert.deepEqual(PDK_METHODS.get("kong.service.request.set_headers"), {
      name: "kong.service.request.set_headers",
      input: "google.protobuf.Struct",
      output: "google.protobuf.Empty",
    });
    assert.deepEqual(PDK_METHODS.get("kong.response.exit"), {
      name: "kong.response.exit",
      input: "kong_plugin_protocol.ExitArgs",
      output: "google.protobuf.Empty",
    });
    // The MethodName option, and the split before a capital after a digit.
    assert.equal(PDK_METHODS.get("kong.ctx.shared.set")?.input, "kong_plugin_protocol.KV");
    assert.equal(PDK_METHODS.get("kong.ctx.shared.get")?.output, "google.protobuf.Value");
    assert.equal(PDK_METHODS.has("kong.nginx.get_tls1_version_str"), true);
    assert.equal(PDK_METHODS.has("kong.service.response.get_raw_body"), true);
  });
});

describe("ProtoBuf:1 PDK arguments and results", () => {
  it("carries a Struct of header values both ways: strings, lists, and the empty list that removes a header", () => {
    const headers = {
      "X-Authenticated-Userid": "alice",
      "X-Authenticated-Scope": ["photos", "openid"],
      "X-OAuth2-JWT-Nonce": [],
    };
    assert.deepEqual(argsRoundTrip("kong.service.request.set_headers", [headers]), [headers]);
    assert.deepEqual(resultRoundTrip("kong.request.get_headers", { host: "localhost", accept: ["a", "b"] }), {
      host: "localhost",
      accept: ["a", "b"],
    });
  });

  it("keeps a header named __proto__ an own key both ways, the object's prototype untouched", () => {
    const headers: Record<string, unknown> = {};
    Object.defineProperty(headers, "__proto__", { value: "x", enumerable: true, writable: true, configurable: true });
    headers.host = "localhost";
    for (const decoded of [
      resultRoundTrip("kong.request.get_headers", headers),
      argsRoundTrip("kong.service.request.set_headers", [headers])[0],
    ]) {
      assert.deepEqual(Object.keys(decoded as object), ["__proto__", "host"]);
      assert.equal(Object.getPrototypeOf(decoded), Object.prototype);
      assert.equal(Object.getOwnPropertyDescriptor(decoded, "__proto__")?.value, "x");
    }
  });

  it('wraps one argument or a result in { v }, and reads an absent string as "" (proto3 cannot tell nil from it)', () => {
    assert.deepEqual(argsRoundTrip("kong.request.get_headers", [1000]), [1000]);
    assert.deepEqual(argsRoundTrip("kong.request.get_header", ["authorization"]), ["authorization"]);
    assert.deepEqual(argsRoundTrip("kong.service.request.set_raw_body", ["{}"]), ["{}"]);
    assert.equal(resultRoundTrip("kong.request.get_method", "GET"), "GET");
    assert.equal(resultRoundTrip("kong.request.get_port", 8000), 8000);
    assert.equal(resultRoundTrip("kong.ip.is_trusted", true), true);
    assert.equal(resultRoundTrip("kong.request.get_header", undefined), "");
    assert.deepEqual([...encodePdkResult("kong.request.get_header", undefined)], []);
  });

  it("spreads KV, Target, ConsumerSpec and ExitArgs into the PDK function's arguments, and a ListValue into as many", () => {
    assert.deepEqual(argsRoundTrip("kong.service.request.set_header", ["X-A", "1"]), ["X-A", "1"]);
    assert.deepEqual(argsRoundTrip("kong.ctx.shared.set", ["k", { nested: [1, true, null] }]), [
      "k",
      { nested: [1, true, null] },
    ]);
    assert.deepEqual(argsRoundTrip("kong.service.set_target", ["upstream.local", 8080]), ["upstream.local", 8080]);
    assert.deepEqual(argsRoundTrip("kong.client.load_consumer", ["alice", true]), ["alice", true]);
    assert.deepEqual(argsRoundTrip("kong.log.err", ["failed:", 3, false]), ["failed:", 3, false]);
    assert.deepEqual(
      argsRoundTrip("kong.response.exit", [
        401,
        '{"error":"invalid_token"}',
        { "WWW-Authenticate": 'Bearer realm="api"' },
      ]),
      [401, '{"error":"invalid_token"}', { "WWW-Authenticate": 'Bearer realm="api"' }],
    );
    // Without headers, Kong's structpb_struct(nil) is nil.
    assert.deepEqual(argsRoundTrip("kong.response.exit", [204]), [204, "", undefined]);
  });

  it("sends an object body of kong.response.exit as JSON with Kong's JSON content type, unless one is given", () => {
    assert.deepEqual(
      argsRoundTrip("kong.response.exit", [401, { error: "invalid_token" }, { "WWW-Authenticate": "Bearer" }]),
      [
        401,
        '{"error":"invalid_token"}',
        { "WWW-Authenticate": "Bearer", "Content-Type": "application/json; charset=utf-8" },
      ],
    );
    assert.deepEqual(
      argsRoundTrip("kong.response.exit", [400, { error: "x" }, { "content-type": "application/problem+json" }]),
      [400, '{"error":"x"}', { "content-type": "application/problem+json" }],
    );
  });

  it("carries Value results of every kind, and nil as null", () => {
    for (const value of ["text", 1.5, false, null, [1, "a"], { a: { b: [] } }])
      assert.deepEqual(resultRoundTrip("kong.ctx.shared.get", value), value);
    assert.equal(resultRoundTrip("kong.ctx.shared.get", undefined), null);
    assert.equal(resultRoundTrip("kong.service.request.set_headers", undefined), undefined);
  });

  it("refuses what a message cannot carry with a ProtocolError naming it, instead of sending a zero or an empty value", () => {
    assert.throws(() => encodePdkArgs("kong.request.get_headers", ["1000"]), {
      name: "ProtocolError",
      message: "kong.request.get_headers: v: integer expected",
    });
    assert.throws(() => encodePdkArgs("kong.service.request.set_headers", [{ a: 1n }]), {
      name: "ProtocolError",
      message: "a bigint cannot travel in a google.protobuf.Value",
    });
    assert.throws(() => encodePdkArgs("kong.service.request.set_headers", ["a=b"]), {
      name: "ProtocolError",
      message: "a google.protobuf.Struct needs an object, not string",
    });
    const deep: unknown[] = [];
    let inner = deep;
    for (let depth = 0; depth < 40; depth++) inner = inner[0] = [];
    assert.throws(() => encodePdkArgs("kong.ctx.shared.set", ["k", deep]), {
      name: "ProtocolError",
      message: "a value nested deeper than 32",
    });
    assert.throws(() => encodePdkArgs("kong.no.such_method", []), {
      name: "ProtocolError",
      message: "kong.no.such_method is not a PDK method of Kong's ProtoBuf:1 protocol",
    });
    assert.throws(
      () => decodePdkResult("kong.request.get_headers", Buffer.of(0x0a, 0x05, 0x0a)),
      (error: unknown) => error instanceof ProtocolError,
    );
  });
});

describe("ProtoBuf:1 RPC envelope", () => {
  it("carries each command and each result with its sequence", () => {
    const calls = [
      { sequence: 2, cmd_get_plugin_names: {} },
      { sequence: 3, cmd_get_plugin_info: { name: "oauth2-jwt" } },
      { sequence: 4, cmd_start_instance: { name: "oauth2-jwt", config: '{"realm":"api","__seq__":3}' } },
      { sequence: 5, cmd_get_instance_status: { instance_id: 1 } },
      { sequence: 6, cmd_close_instance: { instance_id: 1 } },
      { sequence: 2 ** 40, cmd_handle_event: { instance_id: 7, event_name: "access" } },
    ];
    for (const call of calls) assert.deepEqual(decodeRpcCall(encodeRpcCall(call)), call);
    const returns = [
      { sequence: 2, plugin_names: { names: ["oauth2-jwt"] } },
      {
        sequence: 3,
        plugin_info: {
          name: "oauth2-jwt",
          updated_at: 1796061600,
          loaded_at: 1796061601,
          phases: ["access"],
          version: "0.1.0",
          priority: 1450,
          schema: "{}",
        },
      },
      {
        sequence: 4,
        instance_status: { name: "oauth2-jwt", instance_id: 1, config: { realm: "api" }, started_at: 1796061600 },
      },
      { sequence: 5 },
    ];
    for (const reply of returns) assert.deepEqual(decodeRpcReturn(encodeRpcReturn(reply)), reply);
  });

  it("reads a command this protocol does not define as none, keeping the sequence", () => {
    // sequence 9, then field 40 (length-delimited, empty).
    assert.deepEqual(decodeRpcCall(Buffer.of(0x08, 0x09, 0xc2, 0x02, 0x00)), { sequence: 9 });
    assert.deepEqual(decodeRpcCall(new Uint8Array(0)), { sequence: 0 });
  });

  it("throws only ProtocolError on 5,000 random, truncated and mutated inputs (within 3 s)", () => {
    let state = 0x5eed1234;
    const random = (): number => {
      state ^= state << 13;
      state ^= state >>> 17;
      state ^= state << 5;
      return (state >>> 0) / 0x100000000;
    };
    const valid = encodeRpcCall({
      sequence: 12,
      cmd_start_instance: { name: "oauth2-jwt", config: '{"realm":"api"}' },
    });
    const deadline = Date.now() + 3000;
    let refused = 0;
    for (let round = 0; round < 5000 && Date.now() < deadline; round++) {
      let input: Uint8Array;
      const kind = round % 3;
      if (kind === 0) input = Uint8Array.from({ length: Math.floor(random() * 48) }, () => Math.floor(random() * 256));
      else if (kind === 1) input = valid.subarray(0, Math.floor(random() * valid.length));
      else {
        input = Uint8Array.from(valid);
        input[Math.floor(random() * input.length)] = Math.floor(random() * 256);
      }
      try {
        const call = decodeRpcCall(input);
        assert.equal(typeof call.sequence, "number");
      } catch (error) {
        assert.ok(error instanceof ProtocolError, `round ${round}: ${String(error)}`);
        refused++;
      }
    }
    assert.ok(refused > 0);
  });
});
