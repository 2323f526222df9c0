// Bytes as Kong's own MessagePack library writes and reads them (lua-MessagePack under LuaJIT,
// the module Kong's mp_rpc.lua uses): a session Kong would send is understood by our server, and
// our replies decode in Kong to what mp_rpc.lua expects — no error slot, Data "ret", and `[]`
// (remove the nonce header) arriving as an empty Lua table.
// Needs Debian's `luajit` and `lua-messagepack`; skipped, saying so, when they are missing.
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import net from "node:net";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { MessageReader, spawnPluginServer, type PluginServerProcess } from "../../../kong-standin/src/wire/index.ts";
import { fixture, MSGPACK, within } from "./helpers.ts";

const CODEC = fileURLToPath(new URL("./kong-codec.lua", import.meta.url));
const probe = spawnSync("luajit", ["-e", 'require "MessagePack"'], { encoding: "utf8" });
const missing =
  probe.error !== undefined || probe.status !== 0
    ? "needs luajit and Debian's lua-messagepack (Kong's MessagePack module)"
    : false;

/** Sends `bytes` in one write and returns the raw reply bytes once `count` replies arrived. */
async function exchange(socketPath: string, bytes: Buffer, count: number): Promise<Buffer> {
  const socket = net.createConnection(socketPath);
  const reader = new MessageReader();
  const chunks: Buffer[] = [];
  let decoded = 0;
  try {
    await within(
      new Promise<void>((resolve, reject) => {
        socket.on("error", reject);
        socket.on("data", (chunk: Buffer) => {
          chunks.push(chunk);
          decoded += reader.push(chunk).length;
          if (decoded >= count) resolve();
        });
        socket.once("connect", () => socket.write(bytes));
      }),
      5000,
      `fewer than ${count} replies`,
    );
  } finally {
    socket.destroy();
  }
  return Buffer.concat(chunks);
}

describe("plugin server with Kong's MessagePack library", { skip: missing }, () => {
  let server: PluginServerProcess;

  before(async () => {
    server = await spawnPluginServer({ pluginsDirectory: fixture("trivial"), args: MSGPACK });
  });

  after(async () => {
    await server.close();
  });

  it("answers a Kong-encoded session, and Kong decodes the answers as mp_rpc.lua expects", async () => {
    const instance = await server.startInstance("trivial");
    const session = execFileSync("luajit", [CODEC, "encode", String(instance.id), "0"]);
    const replies = await exchange(server.socketPath, session, 3);
    const inKong = execFileSync("luajit", [CODEC, "decode"], { input: replies, encoding: "utf8" })
      .trimEnd()
      .split("\n");
    assert.deepEqual(inKong, [
      '{1=1,2=1,4={Data={Args={1=1000},Method="kong.request.get_headers"},EventId=0}}',
      '{1=1,2=2,4={Data={Args={1={X-Authenticated-Client-Id="trivial-client",X-Authenticated-Scope="photos",X-Authenticated-Userid="trivial-user",x-oauth2-jwt-nonce={},x-oauth2-jwt-verdict="lua-nonce"}},Method="kong.service.request.set_headers"},EventId=0}}',
      '{1=1,2=3,4={Data="ret",EventId=0}}',
    ]);
  });
});
