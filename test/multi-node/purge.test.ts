// One purge of expired rows at a time per database: every node runs purgeExpired on its timer, and on PostgreSQL the
// round runs under a transaction-level advisory lock taken with pg_try_advisory_xact_lock. A node that finds it
// taken skips the round (`skipped: true`, logged at debug by server.ts) instead of queueing behind the other's deletes.
import assert from "node:assert/strict";
import { Writable } from "node:stream";
import { after, before, describe, it } from "node:test";
import { pino } from "pino";
import { startServer } from "../../authz-server/src/server.ts";
import { openPostgresStorage } from "../../authz-server/src/storage/postgres/index.ts";
import type { Storage } from "../../authz-server/src/storage/types.ts";
import { startTestPostgres, type TestPostgres } from "../helpers/postgres.ts";

const t0 = Date.UTC(2030, 0, 1);

describe("purging expired rows from two nodes on one PostgreSQL database", () => {
  let postgres: TestPostgres;
  let nodes: Storage[];

  before(async () => {
    postgres = await startTestPostgres();
  });
  after(async () => {
    await postgres.close();
  });

  /** Two storages (two nodes' pools) on a fresh database holding `expired` revoked jtis past expiry and one live. */
  async function twoNodes(expired: number): Promise<Storage[]> {
    const url = await postgres.createDatabase();
    nodes = [await openPostgresStorage(url), await openPostgresStorage(url)];
    for (let i = 0; i < expired; i++) await nodes[0].revocations.revokeAccessToken(`jti-${i}`, t0 - 1, t0 - 60_000);
    await nodes[0].revocations.revokeAccessToken("jti-live", t0 + 60_000, t0);
    // An account idle again, and a pair whose failures have left the window.
    await nodes[0].transaction(async (tx) => {
      await tx.loginThrottle.lock("pair", "account");
      await tx.loginThrottle.save("pair", "account", { failures: [t0 - 60_000], accountNextAttemptAt: t0 - 1 }, t0 - 1);
    });
    return nodes;
  }

  /** `node` purging in a transaction held open, so that its purge lock stays taken until release(). */
  async function purgeHoldingTheLock(node: Storage) {
    let release = () => {};
    const held = new Promise<void>((resolve) => (release = resolve));
    let started = () => {};
    const purging = new Promise<void>((resolve) => (started = resolve));
    const purged = node.transaction(async (tx) => {
      const result = await tx.purgeExpired(t0);
      started();
      await held;
      return result;
    });
    await purging;
    return { purged, release };
  }

  async function closeAll(): Promise<void> {
    for (const node of nodes) await node.close();
  }

  it("a node that finds another purging skips the round; the other deletes every expired row", async () => {
    const [a, b] = await twoNodes(3);
    try {
      // Node A's purge, its transaction (and so the lock) held open until node B has tried.
      const { purged: first, release } = await purgeHoldingTheLock(a);
      assert.deepEqual(await b.purgeExpired(t0), { skipped: true });
      release();
      assert.deepEqual(await first, {
        skipped: false,
        codes: 0,
        refreshTokens: 0,
        revokedJtis: 3,
        accessTokenLinks: 0,
        loginThrottle: 2,
        revocationEntries: 0,
      });
      assert.equal(
        await b.revocations.isAccessTokenRevoked("jti-0"),
        false,
        "purged: past its expiry, no longer listed",
      );
      assert.equal(await b.revocations.isAccessTokenRevoked("jti-live"), true);
      // The lock ended with A's transaction: B's next round purges (nothing is left).
      assert.deepEqual(await b.purgeExpired(t0), {
        skipped: false,
        codes: 0,
        refreshTokens: 0,
        revokedJtis: 0,
        accessTokenLinks: 0,
        loginThrottle: 0,
        revocationEntries: 0,
      });
    } finally {
      await closeAll();
    }
  });
  it("a server whose purge timer finds another node purging logs the skipped round at debug and carries on", async () => {
    const [a, b] = await twoNodes(1);
    const records: Record<string, unknown>[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _encoding, callback) {
        records.push(JSON.parse(chunk.toString()) as Record<string, unknown>);
        callback();
      },
    });
    // Node A holds the purge lock while node B's server ticks every 50 ms.
    const { purged: first, release } = await purgeHoldingTheLock(a);
    const server = await startServer({
      storage: b,
      port: 0,
      purgeInterval: 50,
      logger: pino({ level: "debug" }, sink),
    });
    try {
      const deadline = Date.now() + 10_000;
      while (!records.some((r) => r["msg"] === "purge skipped: another process is purging the database")) {
        assert.ok(Date.now() < deadline, "no skipped round was logged within 10 s");
        await new Promise((resolve) => setTimeout(resolve, 25));
      }
      const skipped = records.find((r) => r["msg"] === "purge skipped: another process is purging the database");
      assert.deepEqual([skipped?.["level"], skipped?.["skipped"]], [20, true]);
      assert.equal(
        records.some((r) => r["msg"] === "purged expired rows"),
        false,
        "no round ran while the lock was held",
      );
      release();
      assert.equal((await first).skipped, false);
    } finally {
      release();
      await server.close();
      await closeAll();
    }
  });
});
