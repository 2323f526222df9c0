// The stand-in's own process (kong-standin/dist/gateway/main.js, what `npm start` runs): kong.yml
// with the plugin server's default protocol, ProtoBuf:1, and the MsgPack:1 deployment's file with
// `--protocol msgpack` given to the plugin server.
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { KONG_MSGPACK_YML, KONG_YML, ROOT, send, startRecordingUpstream, type Upstream } from "./helpers.ts";

const MAIN = join(ROOT, "kong-standin", "dist", "gateway", "main.js");

interface Started {
  child: ChildProcess;
  /** The line announcing the proxy. */
  banner: string;
  url: string;
}

/** Starts main.js and waits (bounded) for the line that says it proxies. */
function startMain(args: string[]): Promise<Started> {
  const child = spawn(process.execPath, [MAIN, "--port", "0", ...args], { stdio: ["ignore", "pipe", "pipe"] });
  return new Promise((resolve, reject) => {
    let output = "";
    const timer = setTimeout(() => fail(new Error(`no banner within 15 s:\n${output}`)), 15_000);
    const fail = (error: Error): void => {
      clearTimeout(timer);
      child.kill("SIGKILL");
      reject(error);
    };
    child.stdout.setEncoding("utf8").on("data", (text: string) => {
      output += text;
      const banner = output
        .split("\n")
        .find((line) => line.startsWith("kong-standin (local stand-in for Kong) proxying on "));
      const url = banner?.match(/proxying on (http:\/\/localhost:\d+)/)?.[1];
      if (banner !== undefined && url !== undefined) {
        clearTimeout(timer);
        resolve({ child, banner, url });
      }
    });
    child.stderr.setEncoding("utf8").on("data", (text: string) => (output += text));
    child.once("exit", (code) => fail(new Error(`exited with ${code}:\n${output}`)));
  });
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once("exit", resolve));
  child.kill("SIGTERM");
  await exited;
}

describe("kong-standin's main process", () => {
  it("a --protocol the plugin server refuses: one line with the server's complaint, exit 1", async () => {
    const child = spawn(process.execPath, [MAIN, "--port", "0", "--protocol", "bogus"], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stderr = "";
    child.stderr.setEncoding("utf8").on("data", (text: string) => (stderr += text));
    const code = await new Promise((resolve) => child.once("exit", resolve));
    assert.deepEqual(
      { code, stderr },
      {
        code: 1,
        stderr:
          'kong-standin: query command failed: oauth2-jwt-pluginserver: --protocol must be protobuf or msgpack, not "bogus"\n',
      },
    );
  });

  let upstream: Upstream | undefined;
  const children: ChildProcess[] = [];
  after(async () => {
    for (const child of children) await stop(child);
    await upstream?.close();
  });

  for (const { file, args, protocol } of [
    { file: KONG_YML, args: [], protocol: "ProtoBuf:1" },
    { file: KONG_MSGPACK_YML, args: ["--protocol", "msgpack"], protocol: "MsgPack:1" },
  ]) {
    it(`serves ${file.slice(ROOT.length + 1)} with the plugin server speaking ${protocol}`, async () => {
      upstream ??= await startRecordingUpstream();
      const started = await startMain(["--config", file, "--map", `photos:8080=127.0.0.1:${upstream.port}`, ...args]);
      children.push(started.child);
      assert.ok(started.banner.endsWith(`, routes from ${file}, plugin server speaking ${protocol}`), started.banner);
      const refused = await send(started.url, "GET", "/flickr/photos");
      assert.deepEqual(
        { status: refused.status, challenge: refused.headers["www-authenticate"] },
        { status: 401, challenge: 'Bearer realm="api"' },
      );
      assert.equal((await send(started.url, "GET", "/flickr/explore")).status, 200);
      assert.equal(upstream.requests.at(-1)?.url, "/flickr/explore");
      await stop(started.child);
    });
  }
});
