import { collectDefaultMetrics, Counter, Gauge, Registry } from "prom-client";
import type { Clock } from "../clock.js";
import type { KeyRing } from "../keys/keyring.js";
import type { Storage } from "../storage/types.js";
import { type AuthzCounters, consentActions, grantTypes, loginOutcomes, tokenErrorCodes } from "./counters.js";
import { revocationCounts, revocationKinds } from "./revocations.js";

/** What the collectors read at scrape time: memory only, never a query, so a scrape answers during a database outage. */
export interface MetricsSources {
  counters: AuthzCounters;
  keys: KeyRing;
  storage: Pick<Storage, "connections">;
  clock: Clock;
}

/** The key ring's states as operators name them: published before signing, active, retiring after. */
const keyStates = ["published", "active", "retiring"] as const;

/**
 * The server's own registry (never prom-client's global one: two servers in one process keep apart), with the process
 * metrics and the authz_ metrics, each turned from the plain counters into Prometheus values when a scrape asks.
 */
export function createMetricsRegistry(sources: MetricsSources): Registry {
  const register = new Registry();
  collectDefaultMetrics({ register });
  const { counters } = sources;
  register.registerMetric(counters.requestDuration);
  const counted = [
    {
      name: "authz_tokens_issued_total",
      help: "Access tokens issued by POST /token, by grant type",
      label: "grant_type",
      values: grantTypes,
      counts: () => counters.tokensIssued,
    },
    {
      name: "authz_token_errors_total",
      help: "Error answers of POST /token, by OAuth error code",
      label: "error",
      values: tokenErrorCodes,
      counts: () => counters.tokenErrors,
    },
    {
      name: "authz_logins_total",
      help: "Sign-in attempts whose password was checked, or that were throttled, by outcome",
      label: "outcome",
      values: loginOutcomes,
      counts: () => counters.logins,
    },
    {
      name: "authz_consents_total",
      help: "Consents granted on the consent page or withdrawn on the account page",
      label: "action",
      values: consentActions,
      counts: () => counters.consents,
    },
    {
      name: "authz_revocations_total",
      help: "Entries this process appended to the revocation feed, by kind",
      label: "kind",
      values: revocationKinds,
      counts: revocationCounts,
    },
  ];
  for (const metric of counted) countedBy(register, metric);
  keyMetrics(register, sources);
  databaseMetrics(register, sources);
  return register;
}

/** A counter with one series per value of `label`, read from `counts` (in the order of `values`) at each scrape. */
function countedBy(
  register: Registry,
  metric: {
    name: string;
    help: string;
    label: string;
    values: readonly string[];
    counts: () => Readonly<Float64Array>;
  },
): void {
  const labels = metric.values.map((value) => ({ [metric.label]: value }));
  new Counter({
    name: metric.name,
    help: metric.help,
    labelNames: [metric.label],
    registers: [register],
    collect() {
      const read = metric.counts();
      this.reset();
      labels.forEach((labelSet, index) => {
        this.inc(labelSet, read[index] ?? 0);
      });
    },
  });
}

/**
 * A gauge without labels that has no series while it has no value: prom-client shows such a gauge as 0 even when
 * nothing was set, which would read as "a key activates now" rather than "no key is pending". NaN marks the absence.
 */
class OptionalGauge extends Gauge {
  constructor(register: Registry, name: string, help: string, read: () => number | undefined) {
    super({
      name,
      help,
      registers: [register],
      collect() {
        this.set(read() ?? Number.NaN);
      },
    });
  }

  override async get(): ReturnType<Gauge["get"]> {
    const metric = await super.get();
    return { ...metric, values: metric.values.filter((sample) => !Number.isNaN(sample.value)) };
  }
}

function keyMetrics(register: Registry, { keys, clock }: MetricsSources): void {
  // No signing key is itself the alarm (tokens are then refused 503): its age is absent, not zero.
  new OptionalGauge(
    register,
    "authz_signing_key_age_seconds",
    "Seconds since the key that signs now was created",
    () => {
      const now = clock.now();
      const active = keys.status(now).find((key) => key.state === "active");
      return active === undefined ? undefined : (now - active.createdAt) / 1000;
    },
  );
  new OptionalGauge(
    register,
    "authz_signing_key_next_activation_seconds",
    "Seconds until the next published key starts signing; absent when none is pending",
    () => {
      const now = clock.now();
      const pending = keys.status(now).filter((key) => key.state === "pending");
      return pending.length === 0 ? undefined : (Math.min(...pending.map((key) => key.activateAt)) - now) / 1000;
    },
  );
  new Gauge({
    name: "authz_signing_keys",
    help: "Keys in the key set by state: published (not signing yet), active, retiring (published, no longer signing)",
    labelNames: ["state"],
    registers: [register],
    collect() {
      const counts = { published: 0, active: 0, retiring: 0 };
      for (const key of keys.status(clock.now())) {
        if (key.state === "pending") counts.published += 1;
        else if (key.state === "active") counts.active += 1;
        else if (key.state === "retired") counts.retiring += 1;
      }
      for (const state of keyStates) this.set({ state }, counts[state]);
    },
  });
}

function databaseMetrics(register: Registry, { counters, storage }: MetricsSources): void {
  const { engine } = storage.connections();
  new Counter({
    name: "authz_db_errors_total",
    help: "Requests whose storage operation failed (answered 503 or 500)",
    labelNames: ["engine"],
    registers: [register],
    collect() {
      this.reset();
      this.inc({ engine }, counters.databaseErrors);
    },
  });
  new Gauge({
    name: "authz_db_pool_connections",
    help: "Database connections: total and idle, and operations waiting for one",
    labelNames: ["engine", "state"],
    registers: [register],
    collect() {
      const usage = storage.connections();
      this.set({ engine, state: "total" }, usage.total);
      this.set({ engine, state: "idle" }, usage.idle);
      this.set({ engine, state: "waiting" }, usage.waiting);
    },
  });
}
