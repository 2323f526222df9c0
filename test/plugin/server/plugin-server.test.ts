// PluginServer's RPC methods in-process, with an injected clock: event bookkeeping and expiry
// decided by time, not by sleeping.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { createLogger } from "../../../plugin/src/server/logger.ts";
import { loadPlugins } from "../../../plugin/src/server/loader.ts";
import { PluginServer } from "../../../plugin/src/server/plugin-server.ts";
import { fixture } from "./helpers.ts";

interface Reply {
  EventId: number;
  Data: unknown;
}

function setUp(directory: string, options: { instanceIdleMs: number; eventIdleMs: number }) {
  const lines: string[] = [];
  const logger = createLogger("info", (line) => lines.push(line));
  let now = 1_000_000;
  const server = new PluginServer(loadPlugins(fixture(directory), logger), logger, { ...options, now: () => now });
  const call = async (method: string, ...args: unknown[]): Promise<unknown> => {
    const handler = server.method(method);
    assert.ok(handler, `no method ${method}`);
    return handler(...args);
  };
  return { server, call, lines, advance: (ms: number) => (now += ms) };
}

describe("PluginServer (in-process, injected clock)", () => {
  it('forgets an event on "ret" and on kong.response.exit, and keeps one in progress', async () => {
    const { server, call } = setUp("trivial", { instanceIdleMs: 0, eventIdleMs: 60_000 });
    const { Id } = (await call("StartInstance", { Name: "trivial", Config: "{}" })) as { Id: number };

    const allowed = (await call("HandleEvent", { InstanceId: Id, EventName: "access" })) as Reply;
    assert.deepEqual(allowed.Data, { Method: "kong.request.get_headers", Args: [1000] });
    assert.equal(server.stats.events, 1);
    const set = (await call("StepMultiMap", {
      EventId: allowed.EventId,
      Data: { authorization: ["Bearer t"] },
    })) as Reply;
    assert.equal((set.Data as { Method: string }).Method, "kong.service.request.set_headers");
    assert.deepEqual(await call("Step", { EventId: allowed.EventId }), { Data: "ret", EventId: allowed.EventId });
    assert.equal(server.stats.events, 0);

    const refused = (await call("HandleEvent", { InstanceId: Id, EventName: "access" })) as Reply;
    const exit = (await call("StepMultiMap", { EventId: refused.EventId, Data: {} })) as Reply;
    assert.equal((exit.Data as { Method: string }).Method, "kong.response.exit");
    assert.equal(server.stats.events, 0);
    await assert.rejects(call("Step", { EventId: refused.EventId }), {
      name: "RpcError",
      message: `event id ${refused.EventId} not found`,
    });
  });

  it("drops events without a Step for longer than eventIdleMs", async () => {
    const { server, call, advance } = setUp("trivial", { instanceIdleMs: 0, eventIdleMs: 60_000 });
    const { Id } = (await call("StartInstance", { Name: "trivial", Config: "{}" })) as { Id: number };
    await call("HandleEvent", { InstanceId: Id, EventName: "access" });
    advance(60_000);
    assert.deepEqual(server.sweep(), { events: 0, instances: 0 });
    advance(1);
    assert.deepEqual(server.sweep(), { events: 1, instances: 0 });
    assert.equal(server.stats.events, 0);
  });

  it("expires instances unused for longer than instanceIdleMs, never when it is 0", async () => {
    const expiring = setUp("trivial", { instanceIdleMs: 3_600_000, eventIdleMs: 60_000 });
    const { Id } = (await expiring.call("StartInstance", { Name: "trivial", Config: "{}" })) as { Id: number };
    expiring.advance(3_000_000);
    const event = (await expiring.call("HandleEvent", { InstanceId: Id, EventName: "access" })) as Reply;
    await expiring.call("StepMultiMap", { EventId: event.EventId, Data: {} });
    expiring.advance(3_600_000);
    assert.deepEqual(expiring.server.sweep(), { events: 0, instances: 0 });
    expiring.advance(1);
    assert.deepEqual(expiring.server.sweep(), { events: 0, instances: 1 });
    await assert.rejects(expiring.call("HandleEvent", { InstanceId: Id, EventName: "access" }), {
      message: `no plugin instance #${Id}`,
    });
    assert.ok(
      expiring.lines.some((line) => line.includes(`[info] instance #${Id} of trivial expired after 3600000 ms idle`)),
    );

    const keeping = setUp("trivial", { instanceIdleMs: 0, eventIdleMs: 60_000 });
    await keeping.call("StartInstance", { Name: "trivial", Config: "{}" });
    keeping.advance(365 * 24 * 3_600_000);
    assert.deepEqual(keeping.server.sweep(), { events: 0, instances: 0 });
  });

  it("answers a throwing phase with an RPC error and forgets its event", async () => {
    const { server, call, lines } = setUp("throws", { instanceIdleMs: 0, eventIdleMs: 60_000 });
    const { Id } = (await call("StartInstance", { Name: "throws", Config: "{}" })) as { Id: number };
    const event = (await call("HandleEvent", { InstanceId: Id, EventName: "access" })) as Reply;
    await assert.rejects(call("StepMultiMap", { EventId: event.EventId, Data: {} }), {
      name: "RpcError",
      message: "unhandled exception in throws.access: fixture failure",
    });
    assert.equal(server.stats.events, 0);
    assert.ok(
      lines.some((line) => line.includes("[warn] unhandled exception in throws.access: Error: fixture failure")),
    );
  });

  it("checks StartInstance and Step arguments", async () => {
    const { call } = setUp("trivial", { instanceIdleMs: 0, eventIdleMs: 60_000 });
    await assert.rejects(call("StartInstance", { Name: "nope", Config: "{}" }), { message: "nope not initialized" });
    await assert.rejects(call("StartInstance", { Name: "trivial", Config: "{" }), {
      message: /^StartInstance: Config is not JSON/,
    });
    await assert.rejects(call("StartInstance", { Name: "trivial" }), {
      message: "StartInstance expects {Name: string, Config: JSON string}",
    });
    await assert.rejects(call("Step", { Data: 1 }), { message: "Step expects {EventId, Data}" });
    await assert.rejects(call("HandleEvent", { InstanceId: "0", EventName: "access" }), {
      message: "no plugin instance #0",
    });
  });
});
