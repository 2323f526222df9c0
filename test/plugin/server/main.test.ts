// The command line Kong runs: the query command prints only JSON on stdout, flags as
// kong-js-pluginserver's, no dependence on the environment or the working directory.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import fs from "node:fs";
import net, { type AddressInfo } from "node:net";
import os from "node:os";
import path from "node:path";
import { describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { decode } from "@msgpack/msgpack";
import { fixture } from "./helpers.ts";

const BIN = fileURLToPath(new URL("../../../plugin/bin/oauth2-jwt-pluginserver.js", import.meta.url));
const PLUGINS = fileURLToPath(new URL("../../../plugin/dist/plugins", import.meta.url));

interface Run {
  code: number | null;
  stdout: Buffer;
  stderr: string;
}

/** Runs the bin as Kong's worker would: cleared environment, a foreign working directory. */
function run(args: string[]): Promise<Run> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [BIN, ...args],
      { env: {}, cwd: os.tmpdir(), encoding: "buffer", timeout: 30_000 },
      (error, stdout, stderr) => {
        resolve({
          code: error === null ? 0 : typeof error.code === "number" ? error.code : null,
          stdout,
          stderr: stderr.toString("utf8"),
        });
      },
    );
  });
}

describe("oauth2-jwt-pluginserver command line", () => {
  const noisyInfo = {
    Name: "noisy",
    Version: "0.1.0",
    Phases: ["access"],
    Priority: 10,
    Schema: {
      name: "noisy",
      fields: [{ config: { type: "record", fields: [{ level: { type: "integer", default: 1 } }] } }],
    },
  };

  it("--dump-all-plugins names ProtoBuf:1 with the plugin infos, the object Kong's process.lua reads its protocol from", async () => {
    const { code, stdout } = await run(["--plugins-directory", fixture("noisy"), "--dump-all-plugins"]);
    assert.equal(code, 0);
    assert.deepEqual(JSON.parse(stdout.toString("utf8")), { Protocol: "ProtoBuf:1", Plugins: [noisyInfo] });
  });

  it("--protocol msgpack --dump-all-plugins prints the bare array Kong reads as MsgPack:1", async () => {
    const { code, stdout } = await run([
      "--protocol",
      "msgpack",
      "--plugins-directory",
      fixture("noisy"),
      "--dump-all-plugins",
    ]);
    assert.equal(code, 0);
    assert.deepEqual(JSON.parse(stdout.toString("utf8")), [noisyInfo]);
  });

  it("--dump-all-plugins prints only JSON on stdout although a plugin prints while loading", async () => {
    const { code, stdout, stderr } = await run([
      "--protocol",
      "msgpack",
      "--plugins-directory",
      fixture("noisy"),
      "--dump-all-plugins",
    ]);
    assert.equal(code, 0);
    assert.deepEqual(JSON.parse(stdout.toString("utf8")), [noisyInfo]);
    // What the plugin printed, and the broken file's load error, went to stderr.
    assert.match(stderr, /noisy: console\.log while loading/);
    assert.match(stderr, /noisy: process\.stdout\.write while loading/);
    assert.match(stderr, /\[warn\] error loading plugin from .*broken\.js: Error: broken fixture cannot load/);
  });

  it("accepts kong-js-pluginserver's single-dash long flags", async () => {
    const { code, stdout } = await run(["-plugins-directory", fixture("reject"), "-dump-all-plugins"]);
    assert.equal(code, 0);
    const dump = JSON.parse(stdout.toString("utf8")) as { Plugins: Array<{ Name: string }> };
    assert.deepEqual(
      dump.Plugins.map((info) => info.Name),
      ["reject-401"],
    );
  });

  it("--dump-plugin-info prints one plugin's info as MessagePack", async () => {
    const { code, stdout } = await run(["-d", fixture("trivial"), "--dump-plugin-info", "trivial"]);
    assert.equal(code, 0);
    assert.deepEqual(decode(stdout), {
      Name: "trivial",
      Version: "0.1.0",
      Phases: ["access"],
      Priority: 1450,
      Schema: { name: "trivial", fields: [{ config: { type: "record", fields: [] } }] },
    });
  });

  it("defaults the plugins directory to the built plugin next to itself, whatever the working directory", async () => {
    assert.ok(fs.existsSync(PLUGINS), `build the plugin first: ${PLUGINS} is missing`);
    const { code, stdout } = await run(["--dump-all-plugins"]);
    assert.equal(code, 0);
    const dump = JSON.parse(stdout.toString("utf8")) as { Plugins: Array<{ Name: string; Phases: string[] }> };
    assert.deepEqual(
      dump.Plugins.map(({ Name, Phases }) => ({ Name, Phases })),
      [{ Name: "oauth2-jwt", Phases: ["access"] }],
    );
  });

  it("--version prints the package version", async () => {
    const manifest = JSON.parse(
      fs.readFileSync(fileURLToPath(new URL("../../../plugin/package.json", import.meta.url)), "utf8"),
    ) as { version: string };
    const { code, stdout } = await run(["--version"]);
    assert.equal(code, 0);
    assert.equal(stdout.toString("utf8"), `${manifest.version}\n`);
  });

  it("refuses an unknown flag and a missing plugins directory with exit status 2 and nothing on stdout", async () => {
    const refused = [
      ["--no-such-flag"],
      ["-d", path.join(os.tmpdir(), "no-such-plugins-directory")],
      // 0 would drop every event in flight at the next sweep, not only those Kong abandoned.
      ["--event-idle-ttl", "0"],
      ["--instance-idle-ttl", "-1"],
      ["--protocol", "grpc"],
      ["--metrics-port", "http"],
      ["--metrics-port", "65536"],
      ["--metrics-port", "-1"],
      ["--metrics-host", "0.0.0.0"],
      ["--metrics-optional"],
    ];
    for (const args of refused) {
      const { code, stdout, stderr } = await run(args);
      assert.equal(code, 2, args.join(" "));
      assert.equal(stdout.length, 0);
      assert.match(stderr, /^oauth2-jwt-pluginserver: /);
    }
  });

  it("says in one line that the metrics port is in use and exits 1, before Kong's socket exists", async () => {
    const taken = net.createServer();
    await new Promise<void>((resolve) => taken.listen(0, "127.0.0.1", resolve));
    const port = (taken.address() as AddressInfo).port;
    const prefix = fs.mkdtempSync(path.join(os.tmpdir(), "kong-prefix-"));
    try {
      const { code, stdout, stderr } = await run(["-p", prefix, "--metrics-port", String(port)]);
      assert.equal(code, 1);
      assert.equal(stdout.length, 0);
      assert.equal(stderr, `oauth2-jwt-pluginserver: --metrics-port ${port} on 127.0.0.1 is in use\n`);
      assert.deepEqual(fs.readdirSync(prefix), []);
    } finally {
      fs.rmSync(prefix, { recursive: true, force: true });
      await new Promise<void>((resolve) => taken.close(() => resolve()));
    }
  });
});
