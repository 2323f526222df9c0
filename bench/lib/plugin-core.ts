// Adapter between the benchmark and the plugin's validation core (plugin/src/core/): the same
// `authenticateCached` then `authenticate` the handler calls for every request — bearer extraction, verified-token cache,
// shared key set, signature, claims — with its own caches so runs do not share state. The key set
// is served by an injected fetch from memory: the benchmark measures verification, not HTTP.
import { resolveConfig } from "../../plugin/src/config.js";
import {
  authenticate,
  authenticateCached,
  routeOptions,
  type RouteOptions,
} from "../../plugin/src/core/authenticate.js";
import { JwksCache } from "../../plugin/src/core/jwks-cache.js";
import { TokenCache } from "../../plugin/src/core/token-cache.js";
import { verifyToken } from "../../plugin/src/core/validate.js";
import type { Signer } from "./jwt.js";

/** The sidecar's default signing algorithm (authz-server/src/config.ts), which the fresh-token target is measured against. */
export const PLUGIN_DEFAULT_ALGORITHM = "ES256";

export interface PluginVerifierSetup {
  signer: Signer;
  issuer: string;
  audience: string;
  nowSeconds: number;
  /**
   * Fill the verified-token cache to this many entries first (default 0), as on a gateway that has
   * served many clients: then every fresh token also evicts the least recently used entry.
   */
  prefill?: number;
}

export interface PluginVerifier {
  /** Validates one token through the plugin's core; throws if the core refuses a valid token. */
  verify(token: string): Promise<void>;
}

export async function createPluginVerifier(setup: PluginVerifierSetup): Promise<PluginVerifier> {
  const resolved = resolveConfig({
    issuer: setup.issuer,
    jwks_uri: `${setup.issuer}/jwks.json`,
    audience: [setup.audience],
    scopes_required: ["photos"],
  });
  if (!resolved.ok) throw new Error(`plugin configuration refused: ${resolved.error}`);
  const route: RouteOptions = routeOptions(resolved.config);
  const document = JSON.stringify({ keys: [setup.signer.jwk] });
  const nowMs = setup.nowSeconds * 1000;
  const deps = {
    jwks: new JwksCache({
      now: () => nowMs,
      fetch: () =>
        Promise.resolve(new Response(document, { status: 200, headers: { "content-type": "application/json" } })),
    }),
    // Large enough that the fresh tokens of one run never evict each other: each is new anyway.
    tokens: new TokenCache(),
    now: () => nowMs,
  };
  const prefill = setup.prefill ?? 0;
  if (prefill > 0) {
    // Entries for tokens that will never be presented again, all carrying the verification of one
    // real token (the cache stores what verifyToken returned; their content is never read here).
    const sample = setup.signer.mint({
      iss: setup.issuer,
      sub: "prefill",
      aud: setup.audience,
      exp: setup.nowSeconds + 600,
      iat: setup.nowSeconds,
      jti: "prefill",
      client_id: "prefill",
      scope: "photos",
    });
    const keys = await deps.jwks.getKeys(route.source);
    if (keys === undefined) throw new Error("the plugin core could not load the key set");
    const verified = verifyToken(sample, route.validation.algorithms, keys.keys);
    if (!verified.ok) throw new Error(`the plugin core refused a valid token: ${verified.reason}`);
    for (let i = 0; i < prefill; i++) deps.tokens.set(`${sample}.${i}`, { verified, source: route.sourceKey }, nowMs);
  }
  const verifier: PluginVerifier = {
    async verify(token) {
      // As the handler does: the synchronous cached-token path first, the full check otherwise.
      const authorization = `Bearer ${token}`;
      const verdict =
        authenticateCached(authorization, route, deps) ?? (await authenticate(authorization, route, deps));
      if (!verdict.ok)
        throw new Error(`the plugin core refused a valid token: ${verdict.reason} (${verdict.description})`);
    },
  };
  return verifier;
}
