// Our bytes read by Debian's protoc with our definitions of Kong's messages and the
// google.protobuf files protoc ships (the ones Kong loads from its include folder): the set_headers
// argument, kong.response.exit's ExitArgs and an RpcReturn decode to the values the plugin meant,
// under the snake_case names Kong's Lua reads (`string_value`, `list_value`). A Value built with
// other names would travel empty, and Kong would silently set no header.
// Needs Debian's protobuf-compiler and libprotobuf-dev; skipped, saying so, when they are missing.
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import {
  encodePdkArgs,
  encodeRpcCall,
  encodeRpcReturn,
  PLUGIN_SOCKET_PROTO,
} from "../../../../plugin/src/server/protobuf/index.ts";

const INCLUDE = "/usr/include";
const probe = spawnSync("protoc", ["--version"], { encoding: "utf8" });
const missing =
  probe.error !== undefined || probe.status !== 0 || !fs.existsSync(path.join(INCLUDE, "google/protobuf/struct.proto"))
    ? "needs protoc and the google/protobuf/*.proto files (Debian's protobuf-compiler and libprotobuf-dev)"
    : false;

describe("ProtoBuf:1 bytes as protoc decodes them", { skip: missing }, () => {
  let directory: string;
  const decode = (messageType: string, bytes: Uint8Array): string =>
    execFileSync("protoc", [`--decode=${messageType}`, "-I", directory, "-I", INCLUDE, "pluginsocket.proto"], {
      input: bytes,
      encoding: "utf8",
    });

  before(() => {
    directory = fs.mkdtempSync(path.join(os.tmpdir(), "pluginsocket-"));
    fs.writeFileSync(path.join(directory, "pluginsocket.proto"), PLUGIN_SOCKET_PROTO);
  });
  after(() => fs.rmSync(directory, { recursive: true, force: true }));

  it("set_headers: a string, a list of strings, and an empty list (which removes the header)", () => {
    const bytes = encodePdkArgs("kong.service.request.set_headers", [
      { "X-Authenticated-Userid": "alice", "X-Authenticated-Scope": ["photos", "openid"], "X-OAuth2-JWT-Nonce": [] },
    ]);
    assert.equal(
      decode("google.protobuf.Struct", bytes),
      // protoc prints a map's entries sorted by key.
      `fields {
  key: "X-Authenticated-Scope"
  value {
    list_value {
      values {
        string_value: "photos"
      }
      values {
        string_value: "openid"
      }
    }
  }
}
fields {
  key: "X-Authenticated-Userid"
  value {
    string_value: "alice"
  }
}
fields {
  key: "X-OAuth2-JWT-Nonce"
  value {
    list_value {
    }
  }
}
`,
    );
  });

  it("kong.response.exit: status, body bytes and a Struct of headers", () => {
    const bytes = encodePdkArgs("kong.response.exit", [
      401,
      '{"error":"invalid_token"}',
      { "WWW-Authenticate": 'Bearer realm="photos", error="invalid_token"', "Cache-Control": "no-store" },
    ]);
    assert.equal(
      decode("kong_plugin_protocol.ExitArgs", bytes),
      `status: 401
body: "{\\"error\\":\\"invalid_token\\"}"
headers {
  fields {
    key: "Cache-Control"
    value {
      string_value: "no-store"
    }
  }
  fields {
    key: "WWW-Authenticate"
    value {
      string_value: "Bearer realm=\\"photos\\", error=\\"invalid_token\\""
    }
  }
}
`,
    );
  });

  it("an RpcReturn for a started instance, its configuration as a Value of every kind", () => {
    const bytes = encodeRpcReturn({
      sequence: 2,
      instance_status: {
        name: "oauth2-jwt",
        instance_id: 1,
        config: { realm: "photos", hide_credentials: false, leeway: 30, audience: ["a"], note: null },
        started_at: 1796061600,
      },
    });
    const text = decode("kong_plugin_protocol.RpcReturn", bytes);
    assert.match(
      text,
      /^sequence: 2\ninstance_status \{\n {2}name: "oauth2-jwt"\n {2}instance_id: 1\n {2}config \{\n {4}struct_value \{\n/,
    );
    for (const expected of [
      /key: "realm"\n\s+value \{\n\s+string_value: "photos"\n/,
      /key: "hide_credentials"\n\s+value \{\n\s+bool_value: false\n/,
      /key: "leeway"\n\s+value \{\n\s+number_value: 30\n/,
      /key: "audience"\n\s+value \{\n\s+list_value \{\n\s+values \{\n\s+string_value: "a"\n/,
      /key: "note"\n\s+value \{\n\s+null_value: NULL_VALUE\n/,
      /started_at: 1796061600\n\}\n$/,
    ]) {
      assert.match(text, expected);
    }
  });

  it("an RpcCall as Kong sends it for an event", () => {
    assert.equal(
      decode(
        "kong_plugin_protocol.RpcCall",
        encodeRpcCall({ sequence: 3, cmd_handle_event: { instance_id: 1, event_name: "access" } }),
      ),
      `sequence: 3
cmd_handle_event {
  instance_id: 1
  event_name: "access"
}
`,
    );
  });
});
