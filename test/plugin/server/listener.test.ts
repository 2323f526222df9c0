// The plugin server's socket listener against hostile bytes, through the real process: nothing a
// connection sends ends the process or stalls the other connections. Nesting deeper than 64 and
// a message declaring more than 1 MiB or 16,384 values close that connection as soon as the
// header saying so arrives; a large message within the limits costs work linear in its bytes;
// over 16 MiB of incomplete messages held by all connections together, the connection holding
// the most is closed and the others keep their bytes.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { encode } from "@msgpack/msgpack";
import { readCpuMs } from "../../../bench/lib/child.ts";
import { spawnPluginServer, type PluginServerProcess } from "../../../kong-standin/src/wire/index.ts";
import { connectRaw, fixture, MSGPACK, pause, type RawClient, within } from "./helpers.ts";

interface Diagnostics {
  Pid: number;
  Buffered: number;
}

const diagnostics = async (server: PluginServerProcess): Promise<Diagnostics> =>
  (await server.rpc("plugin.Diagnostics", [])) as Diagnostics;

/** Polls until the server holds `bytes` of incomplete messages in all (at most 5 s). */
async function bufferedReaches(server: PluginServerProcess, bytes: number): Promise<void> {
  let buffered = Number.NaN;
  for (const deadline = Date.now() + 5000; Date.now() < deadline;) {
    buffered = (await diagnostics(server)).Buffered;
    if (buffered === bytes) return;
    await pause(20);
  }
  assert.fail(`the server holds ${buffered} bytes, not ${bytes}`);
}

/** A Step for an event that does not exist, `size` bytes long in all. */
function stepOf(size: number, msgid: number): Buffer {
  const around = encode([0, msgid, "plugin.Step", [{ EventId: 999, Data: "x".repeat(70_000) }]]).length - 70_000;
  return Buffer.from(encode([0, msgid, "plugin.Step", [{ EventId: 999, Data: "x".repeat(size - around) }]]));
}

/** `count` nested arrays around one nil, as a hostile peer writes them. */
const nested = (count: number): Buffer => Buffer.concat([Buffer.alloc(count, 0x91), Buffer.of(0xc0)]);

describe("plugin server listener under hostile bytes", () => {
  let server: PluginServerProcess;

  before(async () => {
    server = await spawnPluginServer({ pluginsDirectory: fixture("trivial"), args: [...MSGPACK, "--diagnostics"] });
  });

  after(async () => {
    await server.close();
  });

  /** A request on a connection of its own is answered exactly, within `ms`; returns the latency. */
  async function bystanderAnswered(ms: number): Promise<number> {
    const client = await connectRaw(server.socketPath);
    try {
      const started = performance.now();
      await client.write(encode([0, 1, "plugin.GetPluginInfo", ["trivial"]]));
      assert.deepEqual(await client.replies(1, ms), [[1, 1, null, server.plugins[0]]]);
      return performance.now() - started;
    } finally {
      client.close();
    }
  }

  const logged = (line: string): boolean => server.logs().some((logLine) => logLine.endsWith(line));

  it("closes only a connection that nests arrays 4,000 deep in 4 KB; the process and other connections keep serving", async () => {
    const pid = (await diagnostics(server)).Pid;
    const bystander = await connectRaw(server.socketPath);
    const offender = await connectRaw(server.socketPath);
    await offender.write(nested(4000));
    await within(offender.closed, 5000, "the server kept the connection open");
    assert.ok(logged("[warn] closing connection: arrays and maps nested deeper than 64"), server.logs().join("\n"));

    await bystander.write(encode([0, 7, "plugin.GetPluginInfo", ["trivial"]]));
    assert.deepEqual(await bystander.replies(1), [[1, 7, null, server.plugins[0]]]);
    bystander.close();
    assert.equal((await diagnostics(server)).Pid, pid);
    assert.equal(server.pid, pid);
  });

  it("answers a request nested 64 deep and closes one nested 65 deep", async () => {
    // The request nests 3 (the message, its argument list, the Step's map); Data adds the rest.
    const data = (levels: number): unknown => (levels === 0 ? null : [data(levels - 1)]);
    const answered = await connectRaw(server.socketPath);
    await answered.write(encode([0, 3, "plugin.Step", [{ EventId: 999, Data: data(61) }]]));
    assert.deepEqual(await answered.replies(1), [[1, 3, "event id 999 not found", null]]);
    await answered.write(encode([0, 4, "plugin.Step", [{ EventId: 999, Data: data(62) }]]));
    await within(answered.closed, 5000, "the server kept a connection nesting 65 deep open");
  });

  it("refuses a 2 MB write declaring an array of 2,000,000 items at its 5-byte header, and keeps answering others at once", async () => {
    const header = Buffer.of(0xdd, 0x00, 0x1e, 0x84, 0x80);
    const hostile = await connectRaw(server.socketPath);
    await hostile.write(header);
    // Closed on the header alone: the 2,000,000 bytes it announces are never needed.
    await within(hostile.closed, 5000, "the server waited for the bytes the header announced");
    assert.ok(
      logged("[warn] closing connection: message declares at least 2000005 bytes, more than the limit of 1048576"),
      server.logs().join("\n"),
    );

    // The same 2 MB written whole, as fast as the socket takes it, while another peer is served.
    const whole = await connectRaw(server.socketPath);
    whole.socket.write(Buffer.concat([header, Buffer.alloc(2_000_000, 0xc0)]), () => undefined);
    const latency = await bystanderAnswered(1000);
    await within(whole.closed, 5000, "the server kept the 2 MB writer's connection open");
    assert.ok(latency < 1000, `answered after ${latency.toFixed(0)} ms`);
  });

  it("refuses at its header a 1 MB array of a million nils, more than 16,384 values", async () => {
    const hostile = await connectRaw(server.socketPath);
    await hostile.write(Buffer.of(0xdd, 0x00, 0x0f, 0x42, 0x40));
    await within(hostile.closed, 5000, "the server waited for the values the header announced");
    assert.ok(
      logged("[warn] closing connection: message declares at least 1000001 values, more than the limit of 16384"),
      server.logs().join("\n"),
    );
  });

  it("takes a 256 KB message within the limits, arriving in 4 KB reads, with work linear in its bytes", async () => {
    // A map of 8,191 distinct 30-byte keys, the costliest message to decode within the limits:
    // decoding the unfinished message again on every read cost about a second of CPU; scanning
    // each header once and decoding the whole once, a few milliseconds.
    const map = Object.fromEntries(
      Array.from({ length: 8_191 }, (_, i) => [`${"k".repeat(24)}${String(i).padStart(6, "0")}`, 1]),
    );
    const message = Buffer.from(encode(map));
    const hostile = await connectRaw(server.socketPath);
    const cpuBefore = readCpuMs(server.pid as number);
    // In lockstep, each piece read before the next is sent: a busy server would otherwise read
    // the pieces that piled up in one go, and do less work than a slow sender makes it do.
    let sent = 0;
    for (; sent + 4096 < message.length; sent += 4096) {
      await hostile.write(message.subarray(sent, sent + 4096));
      await bufferedReaches(server, sent + 4096);
    }
    await hostile.write(message.subarray(sent));
    await within(hostile.closed, 10_000, "the server kept the connection open");
    const cpuMs = readCpuMs(server.pid as number) - cpuBefore;
    // Complete, decoded once, and not a request; the log shows the start of it, bounded.
    const shown = `{${Object.keys(map)
      .map((key) => `"${key}":1`)
      .join(",")}`.slice(0, 300);
    assert.ok(
      logged(`[warn] closing connection: not a msgpack-RPC request: ${shown}…`),
      server.logs().slice(-3).join("\n"),
    );
    assert.ok(
      cpuMs < 300,
      `the server spent ${cpuMs} ms of CPU on 256 KB in ${Math.ceil(message.length / 4096)} reads`,
    );
    await bystanderAnswered(1000);
  });

  it("over 16 MiB of incomplete messages held in all, closes the connection holding the most; the others keep their bytes", async () => {
    const holders: Array<{ client: RawClient; request: Buffer; msgid: number }> = [];
    const hold = async (size: number): Promise<RawClient> => {
      const msgid = holders.length + 1;
      const request = stepOf(size + 1, msgid);
      const client = await connectRaw(server.socketPath);
      // All but the last byte: the server holds `size` bytes for this connection.
      await client.write(request.subarray(0, size));
      holders.push({ client, request, msgid });
      return client;
    };
    const largest = await hold(1_040_000);
    await bufferedReaches(server, 1_040_000);
    for (let i = 0; i < 15; i++) await hold(1_000_000);
    await bufferedReaches(server, 16_040_000);
    // 800,000 more take the total past 16,777,216 (to 16,840,000): the largest holder goes, not
    // the connection whose bytes crossed the limit.
    await hold(800_000);
    await within(largest.closed, 5000, "the largest holder was not closed");
    // The total when the limit was crossed depends on where the socket cut the 800,000 bytes.
    const closing = server.logs().find((line) => line.includes("closing connection: holding"));
    const [, total] =
      /\[warn\] closing connection: holding 1040000 bytes of an incomplete message while all connections held (\d+), more than the limit of 16777216$/.exec(
        closing ?? "",
      ) ?? [];
    assert.ok(Number(total) > 16_777_216 && Number(total) <= 16_840_000, closing);
    await bufferedReaches(server, 15_800_000);

    // Every other connection still has its bytes: its last byte completes its request.
    for (const { client, request, msgid } of holders.slice(1)) {
      assert.equal(client.socket.destroyed, false);
      await client.write(request.subarray(request.length - 1));
      assert.deepEqual(await client.replies(1), [[1, msgid, "event id 999 not found", null]]);
      client.close();
    }
    await bufferedReaches(server, 0);
  });
});
