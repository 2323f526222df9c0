/**
 * What the request paths count, as plain numbers: an increment per event, no label object and no hashing per request.
 * registry.ts turns these into Prometheus metrics when a scrape asks (its `collect()` callbacks). Every label value
 * comes from one of the fixed lists below, so no metric can carry a token, a secret, a user name, a client id or a
 * path, and the number of series is bounded.
 */
import { Histogram } from "prom-client";

/** The grants the token endpoint issues (grants/index.ts). */
export const grantTypes = ["authorization_code", "refresh_token", "client_credentials"] as const;

/** The error codes POST /token answers (RFC 6749 §5.2, RFC 8707 §2, errors.ts); anything else is `other`. */
export const tokenErrorCodes = [
  "invalid_request",
  "invalid_client",
  "invalid_grant",
  "unauthorized_client",
  "unsupported_grant_type",
  "invalid_scope",
  "invalid_target",
  "temporarily_unavailable",
  "server_error",
  "other",
] as const;

/** The router's endpoints (app.ts), by name; a path the router does not serve is `other`. */
export const endpoints = [
  "token",
  "authorize",
  "introspect",
  "revoke",
  "revocations",
  "jwks",
  "metadata",
  "login",
  "consent",
  "consents",
  "password",
  "logout",
  "sign_out_everywhere",
  "healthz",
  "readyz",
  "other",
] as const;

export const statusClasses = ["2xx", "3xx", "4xx", "5xx"] as const;

export const loginOutcomes = ["success", "failure", "throttled"] as const;
export type LoginOutcome = (typeof loginOutcomes)[number];

export const consentActions = ["granted", "withdrawn"] as const;
export type ConsentAction = (typeof consentActions)[number];

/** Request latency buckets (seconds): 1 ms to 5 s; a password check (scrypt) lands near 50–100 ms. */
export const latencyBuckets = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];

const indexOf = (values: readonly string[]): ReadonlyMap<string, number> =>
  new Map(values.map((value, index) => [value, index]));

const grantIndex = indexOf(grantTypes);
const tokenErrorIndex = indexOf(tokenErrorCodes);
const loginIndex = indexOf(loginOutcomes);
const consentIndex = indexOf(consentActions);
const OTHER_ERROR = tokenErrorCodes.length - 1;
const OTHER_ENDPOINT = endpoints.length - 1;

/** The router's paths (app.ts) and the endpoint each is counted as. */
const endpointOfPath: ReadonlyMap<string, number> = new Map(
  (
    [
      ["/token", "token"],
      ["/authorize", "authorize"],
      ["/introspect", "introspect"],
      ["/revoke", "revoke"],
      ["/revocations", "revocations"],
      ["/jwks.json", "jwks"],
      ["/.well-known/oauth-authorization-server", "metadata"],
      ["/login", "login"],
      ["/consent", "consent"],
      ["/consents", "consents"],
      ["/consents/revoke", "consents"],
      ["/password", "password"],
      ["/logout", "logout"],
      ["/sign-out-everywhere", "sign_out_everywhere"],
      ["/livez", "healthz"],
      ["/healthz", "healthz"],
      ["/readyz", "readyz"],
    ] as const
  ).map(([path, endpoint]) => [path, endpoints.indexOf(endpoint)]),
);

/**
 * One server's counters; the server creates it with its services (server.ts), the endpoints increment it. Latency is
 * observed only when a metrics listener will serve it (`observeLatency`): a histogram observation is the one cost
 * per request beyond an increment, and a server without metrics should not pay it.
 */
export class AuthzCounters {
  readonly #observeLatency: boolean;

  constructor({ observeLatency = true }: { observeLatency?: boolean } = {}) {
    this.#observeLatency = observeLatency;
  }

  readonly tokensIssued = new Float64Array(grantTypes.length);
  readonly tokenErrors = new Float64Array(tokenErrorCodes.length);
  readonly logins = new Float64Array(loginOutcomes.length);
  readonly consents = new Float64Array(consentActions.length);
  /** Storage operations answered 503 or 500 (errors.ts). */
  databaseErrors = 0;
  /** Not in any registry until a metrics listener serves it (registry.ts). */
  readonly requestDuration = new Histogram({
    name: "authz_http_request_duration_seconds",
    help: "Time from a request's arrival to its answer, by endpoint and status class",
    labelNames: ["endpoint", "status_class"] as const,
    buckets: latencyBuckets,
    registers: [],
  });
  /** One child per endpoint × status class, made once here: an observation looks up no labels. */
  readonly #durationChildren = endpoints.flatMap((endpoint) =>
    statusClasses.map((statusClass) => this.requestDuration.labels(endpoint, statusClass)),
  );

  tokenIssued(grantType: string): void {
    const index = grantIndex.get(grantType);
    if (index !== undefined) this.#bump(this.tokensIssued, index);
  }

  tokenError(code: string): void {
    this.#bump(this.tokenErrors, tokenErrorIndex.get(code) ?? OTHER_ERROR);
  }

  login(outcome: LoginOutcome): void {
    this.#bump(this.logins, loginIndex.get(outcome) ?? 0);
  }

  consent(action: ConsentAction): void {
    this.#bump(this.consents, consentIndex.get(action) ?? 0);
  }

  databaseError(): void {
    this.databaseErrors += 1;
  }

  /** One answered request: `path` picks the endpoint from the router's fixed list; it is never a label itself. */
  requestServed(path: string, status: number, seconds: number): void {
    if (!this.#observeLatency) return;
    const endpoint = endpointOfPath.get(path) ?? OTHER_ENDPOINT;
    const statusClass = Math.min(Math.max(Math.floor(status / 100) - 2, 0), statusClasses.length - 1);
    this.#durationChildren[endpoint * statusClasses.length + statusClass]?.observe(seconds);
  }

  #bump(counts: Float64Array, index: number): void {
    counts[index] = (counts[index] ?? 0) + 1;
  }
}
