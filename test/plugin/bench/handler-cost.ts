// Micro-benchmark (not a test): the process CPU time of one access phase of the real plugin module
// (plugin/src/plugins/oauth2-jwt.ts, `Plugin.access`) for a repeated, cached, valid ES256 token,
// against the trivial fixture plugin (test/fixtures/plugins/trivial/, the same PDK calls without
// validation) — the part of the benchmark's "× trivial" figure (bench/RESULTS.md) that the plugin's own code decides. The
// PDK is a minimal in-process fake: get_headers returns a fresh copy of a realistic 11-header
// table, each value an array as Kong's StepMultiMap answer gives it (kong-pdk decodes a new table
// per request), set_headers records its argument. The key set
// comes from a key server on 127.0.0.1:0, fetched once before the counted rounds.
// Bounded: ROUNDS interleaved rounds of BATCH calls per candidate; medians reported.
//   node --expose-gc --import tsx test/plugin/bench/handler-cost.ts [--rounds N] [--batch N]
//   node --cpu-prof --cpu-prof-dir=/tmp/prof --import tsx test/plugin/bench/handler-cost.ts
import { createRequire } from "node:module";
import { parseArgs } from "node:util";
import { Plugin } from "../../../plugin/src/plugins/oauth2-jwt.ts";
import { JwksServer } from "../helpers/jwks-server.ts";
import { AUDIENCE, generateTestKey, ISSUER, signAccessToken } from "../helpers/tokens.ts";

const { values: args } = parseArgs({
  options: { rounds: { type: "string", default: "15" }, batch: { type: "string", default: "20000" } },
});
const ROUNDS = Number(args.rounds);
const BATCH = Number(args.batch);
const gc = (globalThis as { gc?: () => void }).gc ?? (() => {});

interface FakePdk {
  request: { getHeaders(max?: number): Promise<unknown>; getMethod(): Promise<unknown> };
  service: { request: { setHeaders(headers: Record<string, string | string[]>): Promise<unknown> } };
  response: { exit(status: number, body?: unknown, headers?: Record<string, string>): Promise<unknown> };
}
interface AccessPlugin {
  access(kong: FakePdk): Promise<void>;
}

function fakePdk(template: Readonly<Record<string, string[]>>): {
  kong: FakePdk;
  last: () => unknown;
  exits: () => number;
} {
  let last: unknown;
  let exits = 0;
  const kong: FakePdk = {
    request: {
      getHeaders: () => {
        const copy: Record<string, string[]> = {};
        for (const name in template) copy[name] = [...template[name]];
        return Promise.resolve(copy);
      },
      getMethod: () => Promise.resolve("GET"),
    },
    service: { request: { setHeaders: (headers) => ((last = headers), Promise.resolve(null)) } },
    response: { exit: () => ((exits += 1), Promise.resolve(undefined)) },
  };
  return { kong, last: () => last, exits: () => exits };
}

const median = (values: number[]): number => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];

async function main(): Promise<void> {
  const key = await generateTestKey("ES256", "bench-key");
  const server = await new JwksServer([key.jwk]).start();
  try {
    const nowSeconds = Math.floor(Date.now() / 1000);
    const token = await signAccessToken(key, { iat: nowSeconds - 5, exp: nowSeconds + 3600, scope: "photos openid" });
    const headers: Record<string, string> = {
      host: "localhost:8000",
      "user-agent": "canon-printing/1.0 (node)",
      accept: "application/json",
      "accept-encoding": "gzip, deflate",
      "accept-language": "en-GB,en;q=0.9",
      connection: "keep-alive",
      "x-forwarded-for": "127.0.0.1",
      "x-forwarded-proto": "http",
      "x-request-id": "0f3c2b1a9d8e7f6a5b4c3d2e1f0a9b8c",
      authorization: `Bearer ${token}`,
      "x-oauth2-jwt-nonce": "7d1f4bb0c2a94e8f9a3d6e5c4b2a1f09",
    };
    const multiMap = Object.fromEntries(Object.entries(headers).map(([name, value]) => [name, [value]]));
    const require = createRequire(import.meta.url);
    const trivialModule = require("../../fixtures/plugins/trivial/trivial.js") as {
      Plugin: new (config: unknown) => AccessPlugin;
    };
    const candidates: { name: string; plugin: AccessPlugin; pdk: ReturnType<typeof fakePdk> }[] = [
      { name: "trivial", plugin: new trivialModule.Plugin({}), pdk: fakePdk(multiMap) },
      {
        name: "oauth2-jwt",
        plugin: new Plugin({
          issuer: ISSUER,
          jwks_uri: server.jwksUri,
          audience: [AUDIENCE],
          scopes_required: ["photos"],
        }),
        pdk: fakePdk(multiMap),
      },
    ];
    // Warm up (the first call fetches the key set and verifies the signature once), and check
    // that both candidates let the request through with the verdict echoed.
    for (const { name, plugin, pdk } of candidates) {
      for (let i = 0; i < 2000; i += 1) await plugin.access(pdk.kong);
      const set = pdk.last() as Record<string, unknown> | undefined;
      const verdict = Object.entries(set ?? {}).find(([n]) => n.toLowerCase() === "x-oauth2-jwt-verdict")?.[1];
      if (pdk.exits() !== 0 || verdict !== headers["x-oauth2-jwt-nonce"]) {
        throw new Error(`${name} did not allow the request: ${JSON.stringify(set)}`);
      }
    }
    const perCall = new Map<string, number[]>(candidates.map((c) => [c.name, []]));
    const ratios: number[] = [];
    for (let round = 0; round < ROUNDS; round += 1) {
      const roundCost = new Map<string, number>();
      // Alternate the order so that neither candidate always runs right after a collection.
      const order = round % 2 === 0 ? candidates : [...candidates].reverse();
      for (const { name, plugin, pdk } of order) {
        gc();
        const start = process.cpuUsage();
        for (let i = 0; i < BATCH; i += 1) await plugin.access(pdk.kong);
        const used = process.cpuUsage(start);
        const micros = (used.user + used.system) / BATCH;
        perCall.get(name)?.push(micros);
        roundCost.set(name, micros);
      }
      ratios.push((roundCost.get("oauth2-jwt") ?? Number.NaN) / (roundCost.get("trivial") ?? Number.NaN));
    }
    const trivial = median(perCall.get("trivial") ?? []);
    const plugin = median(perCall.get("oauth2-jwt") ?? []);
    console.log(`rounds ${ROUNDS} × ${BATCH} calls, process CPU per call (median):`);
    console.log(`  trivial     ${trivial.toFixed(3)} µs`);
    console.log(`  oauth2-jwt  ${plugin.toFixed(3)} µs  (+${(plugin - trivial).toFixed(3)} µs)`);
    console.log(
      `  ratio oauth2-jwt / trivial: median ${median(ratios).toFixed(2)}×, rounds ${Math.min(...ratios).toFixed(2)}–${Math.max(...ratios).toFixed(2)}×`,
    );
  } finally {
    await server.stop();
  }
}

await main();
