// `node --import tsx bench/hostile-write.ts [--quick] [--command FILE]`: the latency of valid
// requests through the real plugin-server process while another connection writes hostile
// bytes, against the same requests with no hostile writer, measured in the same run.
//
// Hostile writers, each reconnecting as soon as the server closes it, for the whole load:
// - "2 MB declaring 2,000,000 items": an array32 header announcing 2,000,000 items, then 2 MB of
//   nils in one write; refused at the 5-byte header (more than the 1 MiB message limit).
// - "1 MB array of 1,000,000 nils": the same within 1 MiB, written 4 KB at a time as fast as the
//   socket takes them; refused at its header (more than 16,384 values).
// - "256 KB map of 8,191 keys": distinct 30-byte keys, the costliest message to decode within
//   both limits, written 4 KB at a time; scanned as it arrives, decoded once, then refused as
//   not a request. Decoding the unfinished message again on every read made such writes cost
//   quadratic time.
//
// The server serves the `trivial` fixture (the protocol floor), so the latency is the protocol's.
// `--command` runs another build of the server (e.g. a checkout of an earlier commit) instead.
import net from "node:net";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { encode } from "@msgpack/msgpack";
import { spawnPluginServer, type PluginServerProcess } from "../kong-standin/src/wire/index.js";
import { readCpuMs } from "./lib/child.js";
import { runHarnessLoad, type HarnessLoadResult } from "./lib/harness-load.js";
import { median } from "./lib/measure.js";
import { describeMachine, fmt, ratio, renderTable, type Table } from "./lib/report.js";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const CONCURRENCY = 4;

interface Hostile {
  label: string;
  /** Writes one hostile message on `socket`; the server closes the connection. */
  write(socket: net.Socket): Promise<void>;
}

const DECLARES_2M = Buffer.concat([Buffer.of(0xdd, 0x00, 0x1e, 0x84, 0x80), Buffer.alloc(2_000_000, 0xc0)]);
const NILS_1M = Buffer.concat([Buffer.of(0xdd, 0x00, 0x0f, 0x42, 0x40), Buffer.alloc(1_000_000, 0xc0)]);
const KEYS_8K = Buffer.from(
  encode(
    Object.fromEntries(Array.from({ length: 8_191 }, (_, i) => [`${"k".repeat(24)}${String(i).padStart(6, "0")}`, 1])),
  ),
);

/** Writes `bytes` 4 KB at a time, each as soon as the socket takes it. */
async function inPieces(socket: net.Socket, bytes: Buffer): Promise<void> {
  for (let offset = 0; offset < bytes.length && !socket.destroyed; offset += 4096) {
    if (!socket.write(bytes.subarray(offset, offset + 4096))) {
      await new Promise<void>((resolve) => {
        socket.once("drain", resolve);
        socket.once("close", resolve);
      });
    }
  }
}

const HOSTILE: Hostile[] = [
  {
    label: "2 MB declaring 2,000,000 items",
    write: (socket) => {
      socket.write(DECLARES_2M);
      return Promise.resolve();
    },
  },
  { label: "1 MB array of 1,000,000 nils, 4 KB writes", write: (socket) => inPieces(socket, NILS_1M) },
  { label: "256 KB map of 8,191 keys, 4 KB writes", write: (socket) => inPieces(socket, KEYS_8K) },
];

/** Runs `hostile` on fresh connections until stopped; returns how many the server closed. */
function startHostile(socketPath: string, hostile: Hostile): { stop: () => Promise<number> } {
  const stopping = new AbortController();
  // Read through a call: stop() aborts while the loop awaits, which narrowing cannot see.
  const stopped = (): boolean => stopping.signal.aborted;
  let closedByServer = 0;
  let current: net.Socket | undefined;
  const loop = (async () => {
    while (!stopped()) {
      const socket = net.createConnection(socketPath);
      current = socket;
      socket.on("error", () => undefined);
      const closed = new Promise<void>((resolve) => socket.once("close", () => resolve()));
      await new Promise<void>((resolve) => {
        socket.once("connect", resolve);
        socket.once("close", resolve);
      });
      await hostile.write(socket);
      await closed;
      if (!stopped()) closedByServer++;
    }
  })();
  return {
    stop: async () => {
      stopping.abort();
      // A server that is still chewing on the last write need not finish it for us.
      current?.destroy();
      await loop;
      return closedByServer;
    },
  };
}

interface Sample {
  load: HarnessLoadResult;
  hostileConnections: number;
  serverCpuMs: number;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { quick: { type: "boolean", default: false }, command: { type: "string" } },
  });
  const quick = values.quick;
  const rounds = quick ? 3 : 7;
  const maxRequests = quick ? 1500 : 5000;
  const maxSeconds = quick ? 1.5 : 3;
  const log = (message: string): void =>
    void process.stderr.write(`[hostile-write ${new Date().toISOString().slice(11, 19)}] ${message}\n`);
  const server: PluginServerProcess = await spawnPluginServer({
    ...(values.command === undefined ? {} : { command: path.resolve(values.command) }),
    pluginsDirectory: path.join(root, "test/fixtures/plugins/trivial"),
    connections: CONCURRENCY,
  });
  try {
    const instance = await server.startInstance("trivial");
    const send = (index: number) =>
      instance.access({
        method: "GET",
        path: "/photos",
        headers: { authorization: "Bearer t", "x-oauth2-jwt-nonce": `n-${index}` },
      });
    const check = (result: Awaited<ReturnType<typeof send>>): string | null =>
      result.outcome === "proceed" ? null : JSON.stringify(result).slice(0, 200);
    const pid = server.pid as number;
    const scenarios: Array<Hostile | undefined> = [undefined, ...HOSTILE];
    const samples = new Map<string, Sample[]>(scenarios.map((scenario) => [scenario?.label ?? "none", []]));
    // Round 0 warms up (JIT, connections) and is not counted; the order rotates each round.
    for (let round = 0; round <= rounds; round++) {
      for (let k = 0; k < scenarios.length; k++) {
        const scenario = scenarios[(round + k) % scenarios.length];
        const label = scenario?.label ?? "none";
        const hostile = scenario === undefined ? undefined : startHostile(server.socketPath, scenario);
        const cpuBefore = readCpuMs(pid);
        const load = await runHarnessLoad({ concurrency: CONCURRENCY, maxRequests, maxSeconds, send, check });
        const serverCpuMs = readCpuMs(pid) - cpuBefore;
        const hostileConnections = (await hostile?.stop()) ?? 0;
        if (round > 0) samples.get(label)?.push({ load, hostileConnections, serverCpuMs });
        const failures =
          load.unexpected > 0 ? `, ${load.unexpected} not answered as expected (first: ${load.firstUnexpected})` : "";
        log(
          `round ${round} ${label}: p50 ${fmt(load.p50Ms)} ms, p99 ${fmt(load.p99Ms)} ms, ${hostileConnections} hostile connections closed${failures}`,
        );
      }
    }
    const of = (label: string, pick: (sample: Sample) => number): number =>
      median((samples.get(label) ?? []).map(pick));
    const baseP50 = of("none", (s) => s.load.p50Ms);
    const baseP99 = of("none", (s) => s.load.p99Ms);
    const table: Table = {
      title: `Valid requests beside a hostile writer (trivial plugin, ${CONCURRENCY} connections; latency in ms)`,
      columns: [
        "hostile writer",
        "req/s",
        "p50 ms",
        "× none",
        "p99 ms",
        "× none",
        "failed",
        "hostile connections closed / s",
        "server CPU ms / s",
      ],
      rows: [...samples.keys()].map((label) => {
        const p50 = of(label, (s) => s.load.p50Ms);
        const p99 = of(label, (s) => s.load.p99Ms);
        return [
          label,
          fmt(of(label, (s) => s.load.requestsPerSecond)),
          fmt(p50),
          ratio(p50, baseP50),
          fmt(p99),
          ratio(p99, baseP99),
          String((samples.get(label) ?? []).reduce((sum, s) => sum + s.load.unexpected, 0)),
          fmt(of(label, (s) => s.hostileConnections / s.load.seconds)),
          fmt(of(label, (s) => s.serverCpuMs / s.load.seconds)),
        ];
      }),
      notes: [
        `Median of ${rounds} interleaved rounds after a warm-up round; each round up to ${maxRequests} requests or ${maxSeconds} s. ` +
          'Every answer was checked: "failed" counts requests, over all rounds, that did not proceed (a timeout of 5 s fails a request open). A hostile writer reconnects as soon as the server closes it, for the whole round. ' +
          '"server CPU ms / s": the server process\'s CPU time (/proc) per second of load, the hostile bytes included.',
      ],
    };
    const machine = describeMachine();
    process.stdout.write(
      `Hostile-write run ${new Date().toISOString()} (${quick ? "quick" : "full"}${values.command === undefined ? "" : `, server ${values.command}`})\n\n` +
        `Machine: ${machine.cpus} × ${machine.cpuModel}, Node.js ${machine.node}, load average at start ${machine.loadAverageAtStart.map((x) => x.toFixed(2)).join(" / ")}\n\n` +
        renderTable(table),
    );
  } finally {
    await server.close();
  }
}

main().catch((error: unknown) => {
  process.stderr.write(
    `hostile-write failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
  );
  process.exitCode = 1;
});
