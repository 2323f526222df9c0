// The plugin's token check as the benchmark (bench/, engineer F) needs it: the whole
// authenticate() path — bearer parsing, verified-token cache, shared key-set cache, signature,
// claims — with the key set served from memory and the clock frozen at `nowSeconds`.
// Structurally matches bench/lib/plugin-core.ts's PluginVerifierSetup / PluginVerifier.
import { randomBytes } from "node:crypto";
import { authenticate, routeOptions } from "../../../plugin/src/core/authenticate.ts";
import { JwksCache } from "../../../plugin/src/core/jwks-cache.ts";
import { TokenCache } from "../../../plugin/src/core/token-cache.ts";
import { verifyToken, type VerifiedToken } from "../../../plugin/src/core/validate.ts";
import { SUPPORTED_ALGORITHMS, type Algorithm } from "../../../plugin/src/schema.ts";

export interface VerifierSetup {
  signer: { alg: string; jwk: object; mint?: unknown };
  issuer: string;
  audience: string;
  nowSeconds: number;
  /** Entries to put in the verified-token cache first (a cache already full, e.g. 10,000). */
  prefill?: number;
  /** A token signed by `signer`, whose length and verification the prefilled entries copy (optional). */
  sampleToken?: string;
}

export interface Verifier {
  /** Resolves when the plugin accepts the token; rejects with the refusal otherwise. */
  verify(token: string): Promise<void>;
}

export async function createPluginVerifier(setup: VerifierSetup): Promise<Verifier> {
  const alg = setup.signer.alg as Algorithm;
  if (!SUPPORTED_ALGORITHMS.includes(alg)) throw new Error(`unsupported algorithm ${setup.signer.alg}`);
  const jwksUri = "http://jwks.invalid/jwks.json";
  const route = routeOptions({
    issuer: setup.issuer, jwks_uri: jwksUri, audience: [setup.audience], scopes_required: [], scope_match: "all",
    algorithms: [alg], leeway_seconds: 30, upstream_headers: { subject: "X-Authenticated-Userid", scope: "X-Authenticated-Scope", client_id: "X-Authenticated-Client-Id" },
    hide_credentials: false, run_on_preflight: true, realm: "api", jwks_cache_seconds: 300, jwks_min_refresh_seconds: 10,
  });
  const now = () => setup.nowSeconds * 1000;
  const jwks = new JwksCache({ now, fetch: async () => Response.json({ keys: [setup.signer.jwk] }), onError: () => {} });
  const tokens = new TokenCache();
  const keys = await jwks.getKeys(route.source);
  if (keys === undefined || keys.keys.size !== 1) throw new Error("the signer's JWK was not usable");
  if ((setup.prefill ?? 0) > 0) {
    // Entries that are never hit, keyed by distinct strings of a real token's length, so the
    // cache's Map holds as many entries as a busy gateway's.
    let verified: VerifiedToken;
    if (setup.sampleToken !== undefined) {
      const result = verifyToken(setup.sampleToken, [alg], keys.keys);
      if (!result.ok) throw new Error(`sampleToken refused: ${result.description}`);
      verified = result;
    } else {
      const key = [...keys.keys.values()][0]!;
      verified = { ok: true, alg, kid: key.kid, key, claims: { exp: setup.nowSeconds + 3600 } };
    }
    const length = setup.sampleToken?.length ?? 700;
    for (let i = 0; i < setup.prefill!; i += 1) {
      tokens.set(randomBytes(Math.ceil(length * 0.75)).toString("base64url"), { verified, source: route.sourceKey }, now());
    }
  }
  const deps = { jwks, tokens, now };
  return {
    async verify(token: string): Promise<void> {
      const verdict = await authenticate(`Bearer ${token}`, route, deps);
      if (!verdict.ok) throw new Error(`refused (${verdict.status}): ${verdict.description}`);
    },
  };
}
