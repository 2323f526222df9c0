// Section 1: the cost of verifying one access token, per algorithm, against its floor (the bare
// node:crypto.verify of the same signature) and against jose.jwtVerify, the library most Node
// resource servers would use. Fresh tokens are never seen twice by a candidate, so the plugin's
// verified-token cache cannot help them; the repeated-token row measures that cache.
import * as jose from "jose";
import { ALGORITHMS, type Algorithm, createSigner, freshClaims, splitToken } from "../lib/jwt.js";
import { compareInterleaved, type Candidate } from "../lib/measure.js";
import type { BenchOptions } from "../lib/options.js";
import { fmt, ratio, type SectionResult, type TargetCheck } from "../lib/report.js";
import { createPluginVerifier, PLUGIN_DEFAULT_ALGORITHM } from "../lib/plugin-core.js";

const ISSUER = "http://localhost:9000";
const AUDIENCE = "http://localhost:8000/flickr";
/** The fresh-token target: at most 1.5× the raw verify cost of the default algorithm. */
const FRESH_TARGET_RATIO = 1.5;
/** The verified-token cache's default bound (plugin/src/core/token-cache.ts). */
const CACHE_ENTRIES = 10_000;

interface AlgorithmFigures {
  alg: Algorithm;
  floorNs: number;
  joseNs: number;
  pluginFreshNs: number | null;
  pluginFreshFullNs: number | null;
  pluginRepeatedNs: number | null;
  pluginError: string | null;
}

export async function benchVerification(options: BenchOptions): Promise<SectionResult> {
  const rounds = options.quick ? 3 : 9;
  const batch = options.quick ? 100 : 300;
  const nowSeconds = Math.floor(Date.now() / 1000);
  const results: AlgorithmFigures[] = [];
  const skipped: string[] = [];

  for (const alg of ALGORITHMS) {
    options.log(`verification: ${alg}, minting ${(rounds + 1) * batch} tokens`);
    const signer = createSigner(alg);
    // One distinct slice of fresh tokens per round: each candidate sees each token once.
    const tokens: string[][] = [];
    for (let r = 0; r <= rounds; r++) {
      const slice: string[] = [];
      for (let i = 0; i < batch; i++) slice.push(signer.mint(freshClaims(ISSUER, AUDIENCE, nowSeconds)));
      tokens.push(slice);
    }
    const split = tokens.map((slice) => slice.map(splitToken));
    const joseKey = await jose.importJWK(signer.jwk, alg);
    const joseOptions: jose.JWTVerifyOptions = {
      issuer: ISSUER,
      audience: AUDIENCE,
      typ: "at+jwt",
      algorithms: [alg],
      currentDate: new Date(nowSeconds * 1000),
    };

    const candidates: Candidate[] = [
      {
        name: "floor",
        batch: (round) => {
          for (const { data, signature } of split[round] as { data: Buffer; signature: Buffer }[]) {
            if (!signer.verifyRaw(data, signature)) throw new Error(`${alg}: the floor rejected a valid signature`);
          }
          return batch;
        },
      },
      {
        name: "jose",
        batch: async (round) => {
          for (const token of tokens[round]) await jose.jwtVerify(token, joseKey, joseOptions);
          return batch;
        },
      },
    ];

    const pluginErrors: string[] = [];
    let repeatedToken: string | null = null;
    const plugin = await createPluginVerifier({ signer, issuer: ISSUER, audience: AUDIENCE, nowSeconds }).catch(
      (error: unknown) => {
        pluginErrors.push(error instanceof Error ? error.message : String(error));
        return null;
      },
    );
    // The same, on a cache already full (10,000 entries, the plugin's default bound).
    const pluginFull = plugin
      ? await createPluginVerifier({
          signer,
          issuer: ISSUER,
          audience: AUDIENCE,
          nowSeconds,
          prefill: CACHE_ENTRIES,
        }).catch((error: unknown) => {
          pluginErrors.push(error instanceof Error ? error.message : String(error));
          return null;
        })
      : null;
    if (plugin && pluginFull) {
      repeatedToken = signer.mint(freshClaims(ISSUER, AUDIENCE, nowSeconds));
      await plugin.verify(repeatedToken); // first sight fills the verified-token cache
      candidates.push(
        {
          name: "pluginFresh",
          batch: async (round) => {
            for (const token of tokens[round]) await plugin.verify(token);
            return batch;
          },
        },
        {
          name: "pluginFreshFull",
          batch: async (round) => {
            for (const token of tokens[round]) await pluginFull.verify(token);
            return batch;
          },
        },
        {
          name: "pluginRepeated",
          batch: async () => {
            for (let i = 0; i < batch; i++) await plugin.verify(repeatedToken as string);
            return batch;
          },
        },
      );
    } else {
      skipped.push(`plugin core for ${alg}: ${pluginErrors.join("; ") || "unavailable"}`);
    }
    const medians = await compareInterleaved(candidates, rounds);
    results.push({
      alg,
      floorNs: medians.get("floor") as number,
      joseNs: medians.get("jose") as number,
      pluginFreshNs: medians.get("pluginFresh") ?? null,
      pluginFreshFullNs: medians.get("pluginFreshFull") ?? null,
      pluginRepeatedNs: medians.get("pluginRepeated") ?? null,
      pluginError: pluginErrors.length > 0 ? pluginErrors.join("; ") : null,
    });
  }

  const us = (ns: number | null): string => fmt(ns === null ? null : ns / 1000);
  const rows = results.map((r) => [
    r.alg,
    us(r.floorNs),
    us(r.pluginFreshNs),
    ratio(r.pluginFreshNs, r.floorNs),
    us(r.pluginFreshFullNs),
    ratio(r.pluginFreshFullNs, r.floorNs),
    us(r.joseNs),
    ratio(r.joseNs, r.floorNs),
    us(r.pluginRepeatedNs),
    ratio(r.pluginRepeatedNs, r.floorNs),
  ]);

  const targets: TargetCheck[] = [];
  const def = results.find((r) => r.alg === PLUGIN_DEFAULT_ALGORITHM);
  if (def && def.pluginFreshNs !== null) {
    const x = def.pluginFreshNs / def.floorNs;
    targets.push({
      target: `Fresh-token verification at most ${FRESH_TARGET_RATIO}× raw node:crypto.verify of the default algorithm (${PLUGIN_DEFAULT_ALGORITHM})`,
      measured: `${x.toFixed(2)}× (${us(def.pluginFreshNs)} µs vs ${us(def.floorNs)} µs)`,
      met: x <= FRESH_TARGET_RATIO,
    });
    if (def.pluginFreshFullNs !== null) {
      const y = def.pluginFreshFullNs / def.floorNs;
      targets.push({
        target: `The same on a gateway whose verified-token cache is full (${CACHE_ENTRIES.toLocaleString("en-US")} entries; each fresh token evicts one)`,
        measured: `${y.toFixed(2)}× (${us(def.pluginFreshFullNs)} µs vs ${us(def.floorNs)} µs)`,
        met: y <= FRESH_TARGET_RATIO,
      });
    }
  } else {
    targets.push({
      target: `Fresh-token verification at most ${FRESH_TARGET_RATIO}× raw node:crypto.verify of the default algorithm`,
      measured: `plugin core not measured: ${def?.pluginError ?? "unavailable"}`,
      met: null,
    });
  }

  return {
    id: "verification",
    title: "1. Verification core (CPU µs per token, median of interleaved rounds)",
    tables: [
      {
        title: "Per-token verification cost",
        columns: [
          "alg",
          "crypto.verify (floor)",
          "plugin, fresh",
          "× floor",
          "fresh, full cache",
          "× floor",
          "jose.jwtVerify",
          "× floor",
          "plugin, repeated",
          "× floor",
        ],
        rows,
        notes: [
          `${rounds} rounds × ${batch} tokens per candidate and algorithm, after a warm-up round; RSA keys 2048 bits. The floor verifies pre-split, pre-decoded signatures; the plugin (its \`authenticateCached\` then \`authenticate\`, as the handler calls them: bearer extraction, verified-token cache, key set, signature, claims, scope) and jose take the token and check typ, alg, kid, signature, iss, aud, exp, iat. "full cache": the plugin's verified-token cache holds ${CACHE_ENTRIES.toLocaleString("en-US")} entries before the run, so each fresh token also evicts one (a busy gateway's steady state).`,
        ],
      },
    ],
    figures: { rounds, batch, algorithms: results },
    targets,
    skipped,
  };
}
