// The Kong configuration schema of `oauth2-jwt` and the TypeScript type of the configuration
// Kong hands the plugin (defaults filled, validated against this schema).
//
// Kong checks `Schema` with its metaschema (kong/db/schema/metaschema.lua): every entry is a
// single-key object; arrays need `elements`, records need `fields`; `description` is 10–500
// characters; `match` is a Lua pattern (not a regular expression); a `default` must itself pass
// the field's own rules. test/plugin/schema.test.ts checks all of that, the patterns with luajit.

import { SUPPORTED_ALGORITHMS, type Algorithm } from "./core/algorithms.js";
import type { RouteConfig } from "./core/authenticate.js";
import { SCOPE_TOKEN_RANGES } from "./core/scope.js";

/** One Kong schema field definition (the subset of attributes this schema uses). */
export interface SchemaField {
  readonly type: "string" | "number" | "integer" | "boolean" | "array" | "set" | "map" | "record";
  readonly description?: string;
  readonly required?: boolean;
  readonly default?: unknown;
  readonly one_of?: readonly (string | number)[];
  readonly between?: readonly [number, number];
  readonly len_min?: number;
  readonly len_max?: number;
  readonly match?: string;
  /** The value may be a Kong vault reference ({vault://…}), resolved by Kong before the plugin sees it. */
  readonly referenceable?: boolean;
  /** Kong encrypts the value at rest (keyring) where it is configured to. */
  readonly encrypted?: boolean;
  readonly elements?: SchemaField;
  readonly fields?: readonly SchemaEntry[];
}

/** `{ name: definition }`, exactly one key (Kong's `fields` array shape). */
export type SchemaEntry = Readonly<Record<string, SchemaField>>;

const DEFAULT_ALGORITHMS: readonly Algorithm[] = ["PS256", "RS256", "ES256", "EdDSA"];

export const DEFAULT_UPSTREAM_HEADERS = {
  subject: "X-Authenticated-Userid",
  scope: "X-Authenticated-Scope",
  client_id: "X-Authenticated-Client-Id",
} as const;

// Lua patterns (Kong's `match`). Lua has no alternation; classes use %-escapes.
/** An http(s) URL: RFC 8414 §2 wants https; plain http is accepted for loopback development. */
const URL_PATTERN = "^https?://[^%s]+$";
/** RFC 9110 §5.1 field-name = token = 1*tchar. */
const HEADER_NAME_PATTERN = "^[%w!#$%%&'*+%-.^_`|~]+$";
/** A Lua character class holding exactly these code point ranges (printable ASCII only). */
function luaCharacterClass(ranges: readonly (readonly [number, number])[]): string {
  // Inside a Lua set `%x` is the literal x for any punctuation x, but an escaped character cannot
  // start or end a range (lstrlib.c, matchbracketclass): a range whose ends need escaping gives
  // them up as single characters.
  const needsEscape = (code: number) => "%]^-".includes(String.fromCharCode(code));
  const single = (code: number) => (needsEscape(code) ? "%" : "") + String.fromCharCode(code);
  const range = ([low, high]: readonly [number, number]): string => {
    if (low === high) return single(low);
    if (needsEscape(low)) return single(low) + range([low + 1, high]);
    if (needsEscape(high)) return range([low, high - 1]) + single(high);
    return `${String.fromCharCode(low)}-${String.fromCharCode(high)}`;
  };
  return `[${ranges.map(range).join("")}]`;
}

/** RFC 6749 §3.3 scope-token, from the core's one statement of its grammar (plugin/src/core/scope.ts). */
export const SCOPE_TOKEN_PATTERN = `^${luaCharacterClass(SCOPE_TOKEN_RANGES)}+$`;
/** A realm is sent inside a quoted-string (RFC 6750 §3): no quote, backslash or control character. */
const REALM_PATTERN = '^[^"\\%c]+$';
/**
 * A JWT claim name this plugin reads (RFC 7519 §4): letters, digits, `_`, `-`, `.` and `:`, which
 * covers the registered names and collision-resistant ones such as URIs' last segments. It also
 * keeps the name safe inside the fixed error_description that names it (RFC 6750 §3).
 */
export const CLAIM_NAME_PATTERN = "^[%w_%-%.:]+$";

const claimName = (description: string, defaultName?: string): SchemaField => ({
  type: "string",
  required: defaultName !== undefined,
  ...(defaultName === undefined ? {} : { default: defaultName }),
  len_min: 1,
  len_max: 64,
  match: CLAIM_NAME_PATTERN,
  description,
});

const headerName = (description: string, defaultName: string): SchemaField => ({
  type: "string",
  required: true,
  default: defaultName,
  len_min: 1,
  len_max: 256,
  match: HEADER_NAME_PATTERN,
  description,
});

export const Schema: readonly SchemaEntry[] = [
  {
    issuer: {
      type: "string",
      required: true,
      match: URL_PATTERN,
      len_max: 2048,
      description:
        "The authorization server's issuer identifier (RFC 8414). A token's `iss` claim must equal it exactly (RFC 9068 §4).",
    },
  },
  {
    jwks_uri: {
      type: "string",
      required: false,
      match: URL_PATTERN,
      len_max: 2048,
      description:
        "URL of the JSON Web Key Set that holds the token signing keys. When unset, it is discovered from the `jwks_uri` of the issuer's RFC 8414 metadata at /.well-known/oauth-authorization-server.",
    },
  },
  {
    audience: {
      type: "array",
      required: true,
      len_min: 1,
      elements: { type: "string", len_min: 1, len_max: 2048 },
      description:
        "Identifiers of this API (RFC 8707 resource indicators). The token's `aud` claim must contain at least one of them (RFC 9068 §4).",
    },
  },
  {
    scopes_required: {
      type: "array",
      required: true,
      default: [],
      elements: { type: "string", match: SCOPE_TOKEN_PATTERN, len_max: 256 },
      description:
        "Scopes the token must carry to reach this route, matched according to scope_match. Empty means any valid token is enough.",
    },
  },
  {
    scope_match: {
      type: "string",
      required: true,
      default: "all",
      one_of: ["all", "any"],
      description: "`all`: the token must carry every scope in scopes_required; `any`: at least one of them.",
    },
  },
  {
    algorithms: {
      type: "array",
      required: true,
      default: DEFAULT_ALGORITHMS,
      len_min: 1,
      elements: { type: "string", one_of: SUPPORTED_ALGORITHMS },
      description:
        "Allow-list of JWS algorithms (asymmetric only). The header's `alg` must be listed and equal the `alg` of the JWKS key its `kid` names (RFC 8725 §3.1).",
    },
  },
  {
    leeway_seconds: {
      type: "integer",
      required: true,
      default: 30,
      between: [0, 300],
      description:
        "Clock skew tolerated when checking `exp`, `nbf` and `iat`, in seconds. A revoked token stays usable for its remaining lifetime plus this leeway.",
    },
  },
  {
    upstream_headers: {
      type: "record",
      required: true,
      default: DEFAULT_UPSTREAM_HEADERS,
      fields: [
        {
          subject: headerName(
            "Header carrying the token's `sub` to the upstream. Any client-sent header of that name, in any spelling, is removed.",
            DEFAULT_UPSTREAM_HEADERS.subject,
          ),
        },
        {
          scope: headerName(
            "Header carrying the token's granted scopes (space-separated) to the upstream. Client-sent copies are removed.",
            DEFAULT_UPSTREAM_HEADERS.scope,
          ),
        },
        {
          client_id: headerName(
            "Header carrying the token's `client_id` to the upstream. Client-sent copies are removed.",
            DEFAULT_UPSTREAM_HEADERS.client_id,
          ),
        },
      ],
      description:
        "Names of the headers that forward the caller's identity upstream; each is stripped from the client's request, whatever the verdict.",
    },
  },
  {
    hide_credentials: {
      type: "boolean",
      required: true,
      default: false,
      description: "Remove the Authorization header before proxying, so the upstream never sees the token.",
    },
  },
  {
    run_on_preflight: {
      type: "boolean",
      required: true,
      default: true,
      description:
        "As in Kong's own auth plugins: when false, a CORS preflight (OPTIONS with Access-Control-Request-Method) passes without a token.",
    },
  },
  {
    realm: {
      type: "string",
      required: true,
      default: "api",
      len_max: 256,
      match: REALM_PATTERN,
      description: "The realm named in the WWW-Authenticate challenge of every refusal (RFC 6750 §3).",
    },
  },
  {
    jwks_cache_seconds: {
      type: "integer",
      required: true,
      default: 300,
      between: [1, 86400],
      description:
        "Longest time fetched keys count as fresh: the key set response's own Cache-Control max-age, less its Age, applies when shorter; no-store, no-cache or an unreadable max-age count as one jwks_min_refresh_seconds. Keys are refreshed in the background before then, and kept past it while the key server is unreachable.",
    },
  },
  {
    jwks_min_refresh_seconds: {
      type: "integer",
      required: true,
      default: 10,
      between: [1, 3600],
      description:
        "Cooldown between key set fetches caused by tokens naming an unknown `kid`, so a flood of random kids cannot become a flood of fetches. It counts from the last fetch, whoever caused it: a key published during such a flood is fetched within one cooldown.",
    },
  },
  {
    revocation_feed_url: {
      type: "string",
      required: false,
      match: URL_PATTERN,
      len_max: 2048,
      description:
        "URL of the authorization server's revocation feed. When unset, it is discovered from the `revocation_feed_endpoint` of the issuer's RFC 8414 metadata, as jwks_uri is.",
    },
  },
  {
    revocation_client_id: {
      type: "string",
      required: false,
      len_min: 1,
      len_max: 255,
      referenceable: true,
      description:
        "Client ID of a client registered as a resource server, presented to the revocation feed with HTTP Basic. The feed is on when this is set: revoked tokens are refused within about revocation_poll_seconds. May be a Kong vault reference.",
    },
  },
  {
    revocation_client_secret: {
      type: "string",
      required: false,
      len_min: 1,
      len_max: 1024,
      referenceable: true,
      encrypted: true,
      description:
        "Secret of revocation_client_id. May be a Kong vault reference (e.g. {vault://env/revocation-secret}), so the secret stays out of declarative files.",
    },
  },
  {
    revocation_poll_seconds: {
      type: "number",
      required: true,
      default: 2,
      between: [0.1, 60],
      description:
        "Seconds between two polls of the revocation feed. One poller per issuer, feed URL and credential serves every route of the process; the shortest interval among them applies.",
    },
  },
  {
    revocation_max_stale_seconds: {
      type: "number",
      required: true,
      default: 30,
      between: [1, 86400],
      description:
        "How old the revocation set may grow, counted from the start of the last good poll, before revocation_stale_action applies. At least revocation_poll_seconds.",
    },
  },
  {
    revocation_stale_action: {
      type: "string",
      required: true,
      default: "accept",
      one_of: ["accept", "refuse"],
      description:
        "When the revocation set is older than revocation_max_stale_seconds, or not fetched yet since a start: `accept` keeps enforcing the last known set and lets other tokens through; `refuse` answers 503.",
    },
  },
  {
    authenticate_credential: {
      type: "boolean",
      required: true,
      default: false,
      description:
        "On every allowed request, tell Kong the authenticated credential (kong.client.authenticate), identified by credential_claim, so plugins such as rate-limiting with limit_by = credential count per credential.",
    },
  },
  {
    credential_claim: claimName(
      "The claim whose value identifies the credential given to Kong and sent as X-Credential-Identifier: `client_id` counts per client, `sub` per user.",
      "client_id",
    ),
  },
  {
    consumer_claim: claimName(
      "A claim whose value names a Kong consumer (see consumer_by). When set, an allowed request is authenticated as that consumer and a token naming none is refused 401 invalid_token (or passes as anonymous).",
    ),
  },
  {
    consumer_by: {
      type: "string",
      required: true,
      default: "username",
      one_of: ["username", "id"],
      description:
        "How consumer_claim names a consumer: by its `username` or its `id`. Kong's PDK looks consumers up by id or username only, never by custom_id.",
    },
  },
  {
    anonymous: {
      type: "string",
      required: false,
      len_min: 1,
      len_max: 255,
      description:
        "A consumer id or username, as in Kong's own authentication plugins: a request without a token, or with a token refused 400 or 401, proceeds as this consumer with X-Anonymous-Consumer: true. A token lacking the route's scope is still refused 403.",
    },
  },
  {
    consumer_cache_seconds: {
      type: "integer",
      required: true,
      default: 60,
      between: [1, 3600],
      description:
        "Lifetime of a cached consumer lookup. A lookup that found no consumer is cached for at most 5 s, since Kong's plugin server reports a database error the same way.",
    },
  },
];

/** A top-level field's definition, where defaults and bounds are read (plugin/src/config.ts). */
export function schemaField(name: string): SchemaField {
  for (const entry of Schema) {
    if (Object.hasOwn(entry, name)) return entry[name];
  }
  throw new Error(`the oauth2-jwt schema has no field ${name}`);
}

export type UpstreamHeaders = Record<keyof typeof DEFAULT_UPSTREAM_HEADERS, string>;

/** The configuration as Kong passes it to `new Plugin(config)` (defaults filled in). */
export interface PluginConfig extends RouteConfig {
  readonly revocation_feed_url: string | null;
  readonly revocation_client_id: string | null;
  readonly revocation_client_secret: string | null;
  readonly revocation_poll_seconds: number;
  readonly revocation_max_stale_seconds: number;
  readonly revocation_stale_action: "accept" | "refuse";
  readonly upstream_headers: UpstreamHeaders;
  readonly hide_credentials: boolean;
  readonly run_on_preflight: boolean;
  readonly realm: string;
  readonly authenticate_credential: boolean;
  readonly credential_claim: string;
  readonly consumer_claim: string | null;
  readonly consumer_by: "username" | "id";
  readonly anonymous: string | null;
  readonly consumer_cache_seconds: number;
}
