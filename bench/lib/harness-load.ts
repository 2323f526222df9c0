// Closed-loop load through the Kong wire harness: `concurrency` requests in flight at once (Kong
// keeps one request in flight per pooled connection, so this is the number of connections busy),
// bounded by a request count and a wall-clock limit.
import { performance } from "node:perf_hooks";
import { readCpuMs } from "./child.js";
import { percentile } from "./measure.js";

export interface HarnessAccess {
  outcome: string;
  roundTrips: number;
}

export interface HarnessLoadResult {
  requests: number;
  seconds: number;
  requestsPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  /** Mean RPCs per request, HandleEvent included. */
  roundTripsPerRequest: number;
  /** How many requests ended in an outcome other than the expected one. */
  unexpected: number;
  firstUnexpected: string | null;
  /** CPU time the server process spent per request (µs), when its pid was given. */
  serverCpuUsPerRequest: number;
}

export async function runHarnessLoad<R extends HarnessAccess>(options: {
  concurrency: number;
  maxRequests: number;
  maxSeconds: number;
  send: (index: number) => Promise<R>;
  /** Returns null when the result is the one this load expects, else a description. */
  check: (result: R) => string | null;
  /** The server's process id, to charge its CPU time to the requests. */
  serverPid?: number;
}): Promise<HarnessLoadResult> {
  const cpuBefore = options.serverPid === undefined ? Number.NaN : readCpuMs(options.serverPid);
  const latencies = new Float64Array(options.maxRequests);
  let issued = 0;
  let completed = 0;
  let roundTrips = 0;
  let answered = 0;
  let unexpected = 0;
  let firstUnexpected: string | null = null;
  const start = performance.now();
  const deadline = start + options.maxSeconds * 1000;
  const worker = async (): Promise<void> => {
    while (issued < options.maxRequests && performance.now() < deadline) {
      const index = issued++;
      const t0 = performance.now();
      let problem: string | null;
      try {
        const result = await options.send(index);
        roundTrips += result.roundTrips;
        answered++;
        problem = options.check(result);
      } catch (error) {
        problem = `threw: ${error instanceof Error ? error.message : String(error)}`;
      }
      latencies[completed++] = performance.now() - t0;
      if (problem !== null) {
        unexpected++;
        firstUnexpected ??= problem;
        // A server that broke answers instantly with errors; stop rather than spin on them.
        if (unexpected > 100) return;
      }
    }
  };
  await Promise.all(Array.from({ length: options.concurrency }, () => worker()));
  const seconds = (performance.now() - start) / 1000;
  const cpuAfter = options.serverPid === undefined ? Number.NaN : readCpuMs(options.serverPid);
  const sorted = latencies.subarray(0, completed).sort();
  return {
    requests: completed,
    seconds,
    requestsPerSecond: completed / seconds,
    p50Ms: percentile(sorted, 50),
    p99Ms: percentile(sorted, 99),
    roundTripsPerRequest: answered > 0 ? roundTrips / answered : Number.NaN,
    unexpected,
    firstUnexpected,
    serverCpuUsPerRequest: completed > 0 ? ((cpuAfter - cpuBefore) * 1000) / completed : Number.NaN,
  };
}
