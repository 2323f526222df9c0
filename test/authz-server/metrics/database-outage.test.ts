// A scrape while PostgreSQL is gone: the metrics answer from memory (never a query), and show the failed requests.
import assert from "node:assert/strict";
import { after, describe, it } from "node:test";
import { startTestPostgres } from "../../helpers/postgres.ts";
import { startFlowServer } from "../code-flow.ts";
import { basic, form, post } from "../helpers.ts";
import { scrape } from "./scrape.ts";

describe("the metrics during a database outage (PostgreSQL)", () => {
  it("answer 200, counting the requests the database failed and the pool's connections", async () => {
    const postgres = await startTestPostgres({ own: true });
    after(() => postgres.close());
    const server = await startFlowServer({ dbPath: await postgres.createDatabase(), metrics: { port: 0 } });
    after(() => server.close());
    const exchange = () =>
      post(
        `${server.url}/token`,
        form({
          grant_type: "authorization_code",
          code: "a-code-that-must-be-looked-up",
          redirect_uri: "http://localhost:3000/callback",
          code_verifier: "v".repeat(43),
        }),
        { authorization: basic(server.canon.clientId, server.canon.clientSecret) },
      );

    const before = await scrape(server.running.metricsUrl);
    assert.equal(before.sample('authz_db_errors_total{engine="postgres"}'), 0);
    assert.ok((before.sample('authz_db_pool_connections{engine="postgres",state="total"}') ?? 0) >= 1);

    const gone = await postgres.interrupt();
    try {
      assert.equal((await exchange()).status, 503);
      assert.equal((await exchange()).status, 503);
      const during = await scrape(server.running.metricsUrl);
      assert.equal(during.sample('authz_db_errors_total{engine="postgres"}'), 2);
      assert.equal(during.sample('authz_token_errors_total{error="temporarily_unavailable"}'), 2);
      assert.equal(during.sample('authz_http_request_duration_seconds_count{endpoint="token",status_class="5xx"}'), 2);
      assert.equal(during.sample('authz_db_pool_connections{engine="postgres",state="waiting"}'), 0);
    } finally {
      await gone.resume();
    }
  });
});
