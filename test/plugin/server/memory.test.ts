// 100,000 refused requests through the real server process (started with --expose-gc): resident
// memory, read after a forced full garbage collection, grows by less than 20 MB, and no event is
// left behind. kong-pdk 0.6.0 kept every refused request's event (about 490 MB per 20,000).
// Over ProtoBuf:1 each refusal also costs a connection (Kong drops it when exit ends the
// request): 20,000 of them leave no connection or event behind either.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { readRssMB } from "../../../bench/lib/child.ts";
import {
  spawnPluginServer,
  type PluginInstance,
  type PluginServerProcess,
} from "../../../kong-standin/src/wire/index.ts";
import { fixture, MSGPACK, pause } from "./helpers.ts";

/** Preloaded into the server: SIGUSR2 runs a full garbage collection (no RPC needed). */
const GC_ON_SIGNAL = fileURLToPath(new URL("../../../bench/lib/gc-on-signal.cjs", import.meta.url));

interface Diagnostics {
  Pid: number;
  GcForced: boolean;
  Rss: number;
  HeapTotal: number;
  HeapUsed: number;
  Events: number;
  Instances: number;
  TypeScriptLoaded: boolean;
}

// TEST_LONG=1: the long drill, ten times as many.
const REQUESTS = process.env.TEST_LONG === "1" ? 1_000_000 : 100_000;
// V8 grows its young generation (up to two 16 MB semi-spaces) with the allocation rate, at a
// moment of its choosing; that growth is not retained memory. The server runs with the nursery
// fixed at that size (--min-semi-space-size=16) and a warm-up touches its pages, so the
// baseline is the steady state and RSS growth after it measures what requests leave behind.
const WARM_UP = 5_000;
const CONCURRENCY = 16;
const MB = 1024 * 1024;

async function refuse(instance: PluginInstance, count: number): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < count) {
      next++;
      const result = await instance.access({
        method: "GET",
        path: "/flickr/photos",
        headers: { authorization: `Bearer bad-${next}` },
      });
      if (result.outcome !== "exit" || result.status !== 401 || result.roundTrips !== 2) {
        assert.fail(`request ${next}: ${JSON.stringify(result)}`);
      }
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
}

describe("plugin server memory under refused requests", () => {
  let server: PluginServerProcess;
  let instance: PluginInstance;

  before(async () => {
    server = await spawnPluginServer({
      pluginsDirectory: fixture("reject"),
      nodeArgs: ["--expose-gc", "--min-semi-space-size=16"],
      args: [...MSGPACK, "--diagnostics"],
      connections: 4,
    });
    instance = await server.startInstance("reject-401");
  });

  after(async () => {
    await server.close();
  });

  it(
    `stays flat over ${REQUESTS.toLocaleString("en")} refusals`,
    { timeout: REQUESTS > 100_000 ? 1_800_000 : 240_000 },
    async () => {
      await refuse(instance, WARM_UP);
      const before = (await server.rpc("plugin.Diagnostics", [])) as Diagnostics;
      assert.equal(before.GcForced, true);
      assert.equal(before.Events, 0);

      const started = process.hrtime.bigint();
      await refuse(instance, REQUESTS);
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;

      const afterRun = (await server.rpc("plugin.Diagnostics", [])) as Diagnostics;
      const growth = afterRun.Rss - before.Rss;
      console.log(
        `# ${REQUESTS} refusals in ${seconds.toFixed(1)} s (${Math.round(REQUESTS / seconds)}/s through the harness); ` +
          `RSS after GC ${(before.Rss / MB).toFixed(1)} → ${(afterRun.Rss / MB).toFixed(1)} MB (${(growth / MB).toFixed(1)} MB), ` +
          `heap ${(before.HeapUsed / MB).toFixed(1)} → ${(afterRun.HeapUsed / MB).toFixed(1)} MB`,
      );
      assert.equal(afterRun.Pid, before.Pid);
      assert.equal(afterRun.Events, 0);
      assert.equal(afterRun.Instances, 1);
      assert.ok(growth < 20 * MB, `RSS grew by ${(growth / MB).toFixed(1)} MB`);
      assert.ok(
        afterRun.HeapUsed - before.HeapUsed < 5 * MB,
        `live heap grew by ${((afterRun.HeapUsed - before.HeapUsed) / MB).toFixed(1)} MB`,
      );
      assert.equal(afterRun.TypeScriptLoaded, false);
    },
  );
});

describe("plugin server memory under refused requests over ProtoBuf:1", () => {
  const requests = 20_000;
  let server: PluginServerProcess;
  let instance: PluginInstance;

  before(async () => {
    server = await spawnPluginServer({
      pluginsDirectory: fixture("reject"),
      nodeArgs: ["--expose-gc", "--min-semi-space-size=16", "--require", GC_ON_SIGNAL],
      connections: 4,
    });
    assert.equal(server.protocol, "ProtoBuf:1");
    instance = await server.startInstance("reject-401");
  });

  after(async () => {
    await server.close();
  });

  /** Resident MB after a forced full garbage collection. */
  async function rssAfterGc(): Promise<number> {
    const pid = server.pid as number;
    process.kill(pid, "SIGUSR2");
    await pause(300);
    return readRssMB(pid);
  }

  it(
    `stays flat over ${requests.toLocaleString("en")} refusals, each on a connection of its own`,
    { timeout: 240_000 },
    async () => {
      await refuse(instance, WARM_UP);
      const before = await rssAfterGc();
      const started = process.hrtime.bigint();
      await refuse(instance, requests);
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      const after = await rssAfterGc();
      console.log(
        `# ${requests} refusals over ProtoBuf:1 in ${seconds.toFixed(1)} s; RSS after GC ${before.toFixed(1)} → ${after.toFixed(1)} MB`,
      );
      assert.ok(Number.isFinite(before) && Number.isFinite(after));
      assert.ok(after - before < 20, `RSS grew by ${(after - before).toFixed(1)} MB`);
      // Still one instance, the same process: the next request is served as the first was.
      const result = await instance.access({ method: "GET", path: "/flickr/photos", headers: {} });
      assert.equal(result.outcome, "exit");
    },
  );
});
