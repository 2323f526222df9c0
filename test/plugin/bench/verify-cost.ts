// Micro-benchmark (not a test): the cost of validating one fresh access token with the plugin's
// core, per algorithm, against its floor — a bare node:crypto.verify of the same signature with
// the same KeyObject — and against jose.jwtVerify; plus the verified-token cache's hit path.
// Bounded: 9 counted rounds of 200 tokens per candidate, interleaved; medians (wall and process
// CPU time) and fastest rounds reported.
//   node --expose-gc --import tsx test/plugin/bench/verify-cost.ts [--json]
import { constants, verify, type KeyObject } from "node:crypto";
import { performance } from "node:perf_hooks";
import * as jose from "jose";
import { authenticate, routeOptions } from "../../../plugin/src/core/authenticate.ts";
import { JwksCache } from "../../../plugin/src/core/jwks-cache.ts";
import { parseJwks } from "../../../plugin/src/core/jwks.ts";
import { TokenCache } from "../../../plugin/src/core/token-cache.ts";
import type { ValidationOptions } from "../../../plugin/src/core/validate.ts";
import { validateAccessToken } from "../helpers/validate.ts";
import type { Algorithm } from "../../../plugin/src/core/algorithms.ts";
import { pluginConfig } from "../helpers/schema.ts";
import { AUDIENCE, generateTestKey, ISSUER, signAccessToken } from "../helpers/tokens.ts";

const ROUNDS = 9;
const BATCH = 200;
const ALGORITHMS: Algorithm[] = ["ES256", "EdDSA", "RS256", "PS256"];
const now = Math.floor(Date.now() / 1000);
const gc = (globalThis as { gc?: () => void }).gc ?? (() => {});

function floorVerify(alg: Algorithm, key: KeyObject, input: Buffer, signature: Buffer): boolean {
  if (alg === "EdDSA") return verify(null, input, key, signature);
  if (alg.startsWith("ES")) return verify(`sha${alg.slice(2)}`, input, { key, dsaEncoding: "ieee-p1363" }, signature);
  if (alg.startsWith("PS")) {
    return verify(
      `sha${alg.slice(2)}`,
      input,
      { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: constants.RSA_PSS_SALTLEN_DIGEST },
      signature,
    );
  }
  return verify(`sha${alg.slice(2)}`, input, key, signature);
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
// On a shared, loaded machine the fastest round is the least disturbed one; both are reported.
const fastest = (xs: number[]) => Math.min(...xs);

const rows: Record<string, unknown>[] = [];
for (const alg of ALGORITHMS) {
  const key = await generateTestKey(alg, `bench-${alg}`);
  const set = parseJwks({ keys: [key.jwk] });
  if ("error" in set) throw new Error(set.error);
  const verificationKey = set.keys.get(key.kid);
  if (verificationKey === undefined) throw new Error(`no key ${key.kid}`);
  const keyObject = verificationKey.keyObject;
  const options: ValidationOptions = {
    issuer: ISSUER,
    audience: [AUDIENCE],
    algorithms: [alg],
    leewaySeconds: 30,
    scopesRequired: ["photos"],
    scopeMatch: "all",
  };
  const rounds: string[][] = [];
  for (let r = 0; r <= ROUNDS; r += 1)
    rounds.push(await Promise.all(Array.from({ length: BATCH }, () => signAccessToken(key, {}, {}, now))));
  const split = rounds.map((tokens) =>
    tokens.map((t) => {
      const last = t.lastIndexOf(".");
      return { input: Buffer.from(t.slice(0, last)), signature: Buffer.from(t.slice(last + 1), "base64url") };
    }),
  );
  const joseKey = await jose.importJWK(key.jwk, alg);
  const joseOptions = {
    issuer: ISSUER,
    audience: AUDIENCE,
    typ: "at+jwt",
    algorithms: [alg],
    currentDate: new Date(now * 1000),
  };

  // The cache path: the whole authenticate() (bearer parsing, cache lookup, claims) for a reused token.
  const config = pluginConfig({
    issuer: ISSUER,
    jwks_uri: "http://127.0.0.1:1/unused",
    audience: [AUDIENCE],
    scopes_required: ["photos"],
    algorithms: [alg],
    upstream_headers: { subject: "a", scope: "b", client_id: "c" },
  });
  const route = routeOptions(config);
  const jwks = new JwksCache({ fetch: () => Promise.resolve(Response.json({ keys: [key.jwk] })), onError: () => {} });
  const deps = { jwks, tokens: new TokenCache(), now: Date.now };
  const reused = `Bearer ${rounds[0][0]}`;
  if (!(await authenticate(reused, route, deps)).ok) throw new Error("cache warm-up refused");

  const candidates: Record<string, (round: number) => Promise<void> | void> = {
    floor: (r) => {
      for (const { input, signature } of split[r])
        if (!floorVerify(alg, keyObject, input, signature)) throw new Error("floor");
    },
    plugin: (r) => {
      for (const t of rounds[r]) if (!validateAccessToken(t, options, set.keys, now).ok) throw new Error("plugin");
    },
    jose: async (r) => {
      for (const t of rounds[r]) await jose.jwtVerify(t, joseKey, joseOptions);
    },
    cached: async () => {
      for (let i = 0; i < BATCH; i += 1) if (!(await authenticate(reused, route, deps)).ok) throw new Error("cached");
    },
  };
  const samples: Record<string, number[]> = Object.fromEntries(Object.keys(candidates).map((n) => [n, []]));
  const cpuSamples: Record<string, number[]> = Object.fromEntries(Object.keys(candidates).map((n) => [n, []]));
  const names = Object.keys(candidates);
  for (let r = 0; r <= ROUNDS; r += 1) {
    for (let k = 0; k < names.length; k += 1) {
      const name = names[(r + k) % names.length];
      gc();
      const start = performance.now();
      const cpuStart = process.cpuUsage();
      await candidates[name](r);
      const cpu = process.cpuUsage(cpuStart);
      if (r > 0) {
        samples[name].push(((performance.now() - start) * 1000) / BATCH);
        // CPU time of the whole process (WebCrypto's thread-pool work included): steadier than
        // wall time when other processes compete for the two cores.
        cpuSamples[name].push((cpu.user + cpu.system) / BATCH);
      }
    }
  }
  const us = Object.fromEntries(Object.entries(samples).map(([n, xs]) => [n, median(xs)]));
  const best = Object.fromEntries(Object.entries(samples).map(([n, xs]) => [n, fastest(xs)]));
  const cpuUs = Object.fromEntries(Object.entries(cpuSamples).map(([n, xs]) => [n, median(xs)]));
  rows.push({
    alg,
    floor_us: +us.floor.toFixed(1),
    plugin_us: +us.plugin.toFixed(1),
    plugin_vs_floor: +(us.plugin / us.floor).toFixed(2),
    jose_us: +us.jose.toFixed(1),
    jose_vs_floor: +(us.jose / us.floor).toFixed(2),
    cached_us: +us.cached.toFixed(2),
    fastest_plugin_vs_floor: +(best.plugin / best.floor).toFixed(2),
    fastest_jose_vs_floor: +(best.jose / best.floor).toFixed(2),
    cpu_floor_us: +cpuUs.floor.toFixed(1),
    cpu_plugin_vs_floor: +(cpuUs.plugin / cpuUs.floor).toFixed(2),
    cpu_jose_vs_floor: +(cpuUs.jose / cpuUs.floor).toFixed(2),
    cpu_cached_us: +cpuUs.cached.toFixed(2),
  });
}
if (process.argv.includes("--json")) console.log(JSON.stringify(rows, null, 2));
else console.table(rows);
