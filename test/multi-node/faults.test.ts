// Faults under load, with two `authz-server serve` processes on one PostgreSQL database. PostgreSQL restarted: both
// nodes answer what needs it 503 with Retry-After (the JSON `temporarily_unavailable` error at the token endpoint,
// authz-server/src/errors.ts), neither exits, both serve again within 15 s of its return, and every token answered
// before the fault still works. A node SIGKILLed: the other answers every request, and every token and code the
// dead node answered works on it; the requests that were on their way to the dead node fail at the TCP level.
// The nodes run with a refresh grace window of 60 s: a refresh whose answer was lost (the connection cut after the
// rotation committed) is retried with the same token after the fault, and the window answers it with the same
// successor (docs/refresh-token-successors.md), as it does a retry after any lost response.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { TableVersion } from "../../authz-server/src/storage/postgres/db.ts";
import { startTestPostgres, type TestPostgres } from "../helpers/postgres.ts";
import { basic, form, post, type TestClient } from "../authz-server/helpers.ts";
import { BrowserClient } from "../authz-server/browser-client.ts";
import { cli, json, type ServeProcess } from "../authz-server/cli/helpers.ts";
import {
  allow,
  authorizationRequest,
  CANON_CALLBACK,
  loginThrough,
  type AuthorizationAttempt,
} from "../authz-server/code-flow.ts";
import { buildServer, canonAt, eventually, flowNode, seedFlow, startNodes, type Tokens } from "./helpers.ts";

const UNAVAILABLE = {
  error: "temporarily_unavailable",
  error_description: "the authorization server cannot reach its database; retry shortly",
};
const INVALID_REFRESH = {
  error: "invalid_grant",
  error_description: "the refresh token is invalid, expired or revoked",
};
/** Concurrent clients of the load, each with its own refresh-token chain. */
const WORKERS = [0, 1, 2, 3];

type Answer = Awaited<ReturnType<typeof post>>;
/** A client that may introspect the tokens issued to it (RFC 7662 §2.1): Canon Printing or the batch job. */
type Introspector = ReturnType<typeof canonAt>;
interface Issued {
  token: string;
  by: Introspector;
}
interface Minted {
  attempt: AuthorizationAttempt;
  callback: URL;
}

/** Waits until `condition` holds (a load has got that far), at most `withinMs`. */
function reached(condition: () => boolean, withinMs: number): Promise<number> {
  return eventually(() => {
    assert.ok(condition());
    return Promise.resolve();
  }, withinMs);
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const accessToken = (answer: Answer) => (answer.body as { access_token: string }).access_token;

/** What a request that got no HTTP answer failed with: the connection refused or cut, as fetch reports it. */
function connectionFailure(error: unknown): string | undefined {
  const cause = error instanceof TypeError ? (error.cause as { code?: unknown } | undefined) : undefined;
  return typeof cause?.code === "string" ? cause.code : undefined;
}

/** Checks, a few at a time, that every token answered 200 is still active at `node`; returns the inactive ones. */
async function inactiveAt(node: ServeProcess, issued: Issued[]): Promise<string[]> {
  const inactive: string[] = [];
  for (let i = 0; i < issued.length; i += 8) {
    await Promise.all(
      issued.slice(i, i + 8).map(async ({ token, by }) => {
        if (!(await by.active(node, token))) inactive.push(token);
      }),
    );
  }
  return inactive;
}

describe("faults under load, two nodes on one PostgreSQL database", () => {
  let postgres: TestPostgres;
  let nodes: ServeProcess[] = [];
  const alive = new Set<ServeProcess>();
  let canonClient: TestClient;
  let canon: Introspector;
  let batchJob: Introspector;
  let clientCredentials: (node: ServeProcess) => Promise<Answer>;

  before(async () => {
    await buildServer();
    // A cluster of its own (not AUTHZ_TEST_POSTGRES_URL's server): only one the tests started can be restarted.
    postgres = await startTestPostgres({ own: true });
    const run = (args: string[], options: { input?: string } = {}) => cli([...args, "--db", postgres.url], options);
    const initialised = await run(["init"]);
    assert.equal(initialised.code, 0, initialised.stderr);
    canonClient = await seedFlow(run);
    canon = canonAt(canonClient);
    const batch = json<{ client_id: string; client_secret: string }>(
      await run([
        "clients",
        "create",
        "--name",
        "Nightly export",
        "--scope",
        "photos",
        "--grant-type",
        "client_credentials",
        "--json",
      ]),
    );
    batchJob = canonAt({ clientId: batch.client_id, clientSecret: batch.client_secret });
    const auth = { authorization: basic(batch.client_id, batch.client_secret) };
    clientCredentials = (node) =>
      post(`${node.url}/token`, form({ grant_type: "client_credentials", scope: "photos" }), auth);
    nodes = await startNodes(postgres.url, ["--refresh-grace", "60"]);
    for (const node of nodes) alive.add(node);
  });
  after(async () => {
    try {
      const codes = await Promise.all([...alive].map((node) => node.stop()));
      assert.deepEqual(
        codes,
        [...alive].map(() => 0),
        "every node still running exits 0",
      );
    } finally {
      await postgres.close();
    }
  });

  it("PostgreSQL restarted under load: 503 with Retry-After on both nodes while it is down, both serve again within 15 s, nothing answered before is lost", async (t) => {
    type Phase = "before" | "stopping" | "down" | "starting" | "back";
    interface Recorded {
      grant: "client_credentials" | "refresh_token";
      worker: number;
      /** The phase when the request was sent and when its answer came. */
      sent: Phase;
      answered: Phase;
      answer: Answer;
    }
    const state = { phase: "before" as Phase, stop: false };
    const recorded: Recorded[] = [];
    const issued: Issued[] = [];
    const grants = await Promise.all(WORKERS.map(() => canon.signIn(nodes)));
    for (const grant of grants) issued.push({ token: grant.access_token, by: canon });
    const heads = grants.map((grant) => grant.refresh_token);

    /** One client: client credentials and a refresh rotation, alternating nodes, until told to stop (bounded). */
    const client = async (worker: number) => {
      for (let k = 0; !state.stop && k < 500; k++) {
        const node = nodes[(worker + k) % nodes.length];
        const send = async (grant: Recorded["grant"], request: () => Promise<Answer>) => {
          const sent = state.phase;
          const answer = await request();
          recorded.push({ grant, worker, sent, answered: state.phase, answer });
          return answer;
        };
        const cc = await send("client_credentials", () => clientCredentials(node));
        if (cc.status === 200) issued.push({ token: accessToken(cc), by: batchJob });
        const refreshed = await send("refresh_token", () => canon.refresh(node, heads[worker]));
        if (refreshed.status === 200) {
          heads[worker] = (refreshed.body as Tokens).refresh_token;
          issued.push({ token: accessToken(refreshed), by: canon });
        } else {
          // A client backing off before it retries (sooner than Retry-After asks, to keep the test short).
          await sleep(100);
        }
      }
    };
    const count = (grant: Recorded["grant"], phase: Phase, status: number) =>
      recorded.filter((r) => r.grant === grant && r.sent === phase && r.answer.status === status).length;

    const load = Promise.all(WORKERS.map(client));
    let recoveredMs: number[] = [];
    try {
      await reached(() => count("refresh_token", "before", 200) >= 40, 15_000);
      state.phase = "stopping";
      const gone = await postgres.interrupt();
      state.phase = "down";
      const downSince = Date.now();
      try {
        for (const node of nodes) {
          const answer = await canon.refresh(node, "never-issued");
          assert.deepEqual([answer.status, answer.headers.get("retry-after"), answer.body], [503, "1", UNAVAILABLE]);
        }
        // Every client meets the outage, its refreshes refused and retried.
        await reached(() => WORKERS.every((w) => recorded.some((r) => r.worker === w && r.sent === "down")), 5_000);
        await reached(() => count("refresh_token", "down", 503) >= 8, 5_000);
        // Client credentials read no row while a node's copy of the clients table is fresh, but once the copy is due
        // for its version check they are refused too: a client deleted while the database is away gets no token
        // from a stale copy.
        await sleep(downSince + TableVersion.RECHECK_INTERVAL_MS + 100 - Date.now());
        for (const node of nodes) {
          const answer = await clientCredentials(node);
          assert.deepEqual([answer.status, answer.headers.get("retry-after"), answer.body], [503, "1", UNAVAILABLE]);
        }
      } finally {
        // PostgreSQL accepts connections a moment before `resume` returns: answers then are of neither phase.
        state.phase = "starting";
        await gone.resume();
        state.phase = "back";
      }
      // Back: each node answers a request that needs the database as it always does, within 15 s.
      recoveredMs = await Promise.all(
        nodes.map((node) =>
          eventually(async () => {
            const answer = await canon.refresh(node, "never-issued");
            assert.deepEqual([answer.status, answer.body], [400, INVALID_REFRESH]);
          }, 15_000),
        ),
      );
      await reached(
        () => WORKERS.every((w) => recorded.filter((r) => r.worker === w && r.sent === "back").length >= 6),
        10_000,
      );
    } finally {
      state.stop = true;
      await load;
    }
    t.diagnostic(
      `${recorded.length} requests; both nodes served again ${recoveredMs.join(" ms and ")} ms after PostgreSQL was back`,
    );
    for (const ms of recoveredMs) assert.ok(ms < 15_000, `served again after ${ms} ms`);

    const summary = (r: Recorded) => [r.grant, r.sent, r.answered, r.answer.status, r.answer.body];
    // Before the fault every request was answered.
    const answeredBefore = recorded.filter((r) => r.sent === "before" && r.answered === "before");
    assert.deepEqual(answeredBefore.filter((r) => r.answer.status !== 200).map(summary), []);
    // Whatever was refused, at any time, was refused as temporarily unavailable, with Retry-After.
    for (const r of recorded.filter((r) => r.answer.status !== 200)) {
      assert.deepEqual(
        [r.answer.status, r.answer.headers.get("retry-after"), r.answer.body],
        [503, "1", UNAVAILABLE],
        JSON.stringify(summary(r)),
      );
    }
    // A refresh rotation reads and writes rows: none is answered while the database is away.
    const down = recorded.filter((r) => r.sent === "down" && r.answered === "down");
    assert.deepEqual(down.filter((r) => r.grant === "refresh_token" && r.answer.status !== 503).map(summary), []);

    // Nothing answered is lost: every access token is active, every client's latest refresh token refreshes (the
    // others it was answered were rotated by that client itself, each presented once and answered 200).
    assert.deepEqual(await inactiveAt(nodes[0], issued), []);
    for (const worker of WORKERS) {
      const refreshed = await canon.refresh(nodes[worker % nodes.length], heads[worker]);
      assert.equal(refreshed.status, 200, JSON.stringify(refreshed.body));
    }
  });

  it("a node SIGKILLed mid-load: the survivor answers every request, and every token and code the dead node answered works on it", async (t) => {
    const [survivor, victim] = nodes;
    const state = { killed: false };
    const issued: Issued[] = [];
    /** Fresh refresh tokens from code exchanges, not presented yet, with the node that answered them. */
    const parked: { token: string; by: ServeProcess }[] = [];
    /** Codes whose redirect reached the client, not redeemed yet, with the node that minted them. */
    const codes: (Minted & { by: ServeProcess })[] = [];
    /** Requests to the dead node that got no HTTP answer: what they were, and the TCP-level failure. */
    const lost: { what: string; failure: string }[] = [];
    const unexpected: unknown[] = [];

    /** alice's browser, signed in (and consent given) once: its session is in the database, good on either node. */
    const signedIn = async (): Promise<BrowserClient> => {
      const browser = new BrowserClient(survivor.url);
      const afterLogin = await loginThrough(browser, await authorizationRequest(flowNode(survivor, canonClient)));
      if (afterLogin.status !== 303) await allow(browser, afterLogin);
      return browser;
    };
    const browsers = await Promise.all(WORKERS.map(signedIn));
    const grants = await Promise.all(WORKERS.map(() => canon.signIn(nodes)));
    const heads = grants.map((grant) => grant.refresh_token);

    const client = async (worker: number) => {
      const browser = browsers[worker];
      let victimGone = false;
      /** Sends to `node` — the survivor once this client has found the victim gone — or records the lost request. */
      const reach = async <T>(what: string, node: ServeProcess, request: (node: ServeProcess) => Promise<T>) => {
        const target = victimGone ? survivor : node;
        try {
          return { node: target, answer: await request(target) };
        } catch (error) {
          const failure = connectionFailure(error);
          if (target !== victim || failure === undefined) throw error;
          lost.push({ what, failure });
          victimGone = true;
          return undefined;
        }
      };
      const expect = (what: string, answer: Answer | { status: number; body: unknown }, status: number) => {
        if (answer.status === status) return true;
        unexpected.push({ worker, what, status: answer.status, body: answer.body });
        return false;
      };
      const mint = async (node: ServeProcess) => {
        const attempt = await authorizationRequest(flowNode(node, canonClient));
        const page = await browser.get(attempt.url.href);
        const redirected = page.status === 303 && page.location?.startsWith(`${CANON_CALLBACK}?`) === true;
        return { status: redirected ? 303 : page.status, body: page.body, attempt, location: page.location ?? "" };
      };
      let afterKill = 0;
      for (let k = 0; k < 40 && afterKill < 3; k++) {
        if (state.killed) afterKill++;
        const node = nodes[(worker + k) % nodes.length];
        const cc = await reach("client credentials", node, clientCredentials);
        if (cc && expect("client credentials", cc.answer, 200))
          issued.push({ token: accessToken(cc.answer), by: batchJob });
        const minted = await reach("GET /authorize", node, mint);
        if (minted && expect("GET /authorize", minted.answer, 303)) {
          codes.push({ attempt: minted.answer.attempt, callback: new URL(minted.answer.location), by: minted.node });
        }
        const toExchange = await reach("GET /authorize", node, mint);
        if (toExchange && expect("GET /authorize", toExchange.answer, 303)) {
          const { attempt, location } = toExchange.answer;
          const exchanged = await reach("code exchange", toExchange.node, (n) =>
            canon.exchange(n, attempt, new URL(location)),
          );
          if (exchanged && expect("code exchange", exchanged.answer, 200)) {
            issued.push({ token: accessToken(exchanged.answer), by: canon });
            parked.push({ token: (exchanged.answer.body as Tokens).refresh_token, by: exchanged.node });
          }
        }
        // A refresh lost with the victim is sent again to the survivor: the client never had an answer.
        const refreshed =
          (await reach("refresh", node, (n) => canon.refresh(n, heads[worker]))) ??
          (await reach("refresh", survivor, (n) => canon.refresh(n, heads[worker])));
        if (refreshed && expect("refresh", refreshed.answer, 200)) {
          heads[worker] = (refreshed.answer.body as Tokens).refresh_token;
          issued.push({ token: accessToken(refreshed.answer), by: canon });
        }
      }
    };

    const load = Promise.all(WORKERS.map(client));
    try {
      await reached(
        () => parked.filter((p) => p.by === victim).length >= 6 && codes.filter((c) => c.by === victim).length >= 6,
        15_000,
      );
      await victim.kill();
      alive.delete(victim);
    } finally {
      state.killed = true;
      await load;
    }

    assert.deepEqual(unexpected, [], "every request that reached a node was answered as it should be");
    // Each client met the dead node exactly once (then sent its requests to the survivor), at the TCP level.
    assert.equal(lost.length, WORKERS.length, JSON.stringify(lost));
    t.diagnostic(
      `lost with the dead node: ${lost.map((l) => `${l.what} (${l.failure})`).join(", ")}; ${issued.length} access tokens, ${parked.length} refresh tokens and ${codes.length} codes answered`,
    );

    // On the survivor: every access token answered is active, every refresh token refreshes, every code redeems.
    assert.deepEqual(await inactiveAt(survivor, issued), []);
    for (const { token, by } of parked) {
      const refreshed = await canon.refresh(survivor, token);
      assert.equal(refreshed.status, 200, `a refresh token ${by === victim ? "the dead node" : "the survivor"} issued`);
    }
    for (const head of heads) assert.equal((await canon.refresh(survivor, head)).status, 200);
    for (const { attempt, callback, by } of codes) {
      const redeemed = await canon.exchange(survivor, attempt, callback);
      assert.equal(redeemed.status, 200, `a code ${by === victim ? "the dead node" : "the survivor"} minted`);
    }
  });
});
