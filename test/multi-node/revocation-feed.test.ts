// The revocation feed across nodes (docs/revocation-feed.md): every revocation takes the next position from one
// counter row in its own transaction, so positions commit in order whichever node made them, and a cursor issued by
// one node is followed by the other. A gateway polling both nodes alternately while revocations land on both gets
// every entry exactly once.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { decodeJwt } from "jose";
import { PHOTOS_RESOURCE } from "../authz-server/code-flow.ts";
import { json } from "../authz-server/cli/helpers.ts";
import { basic, form, post, type TestClient } from "../authz-server/helpers.ts";
import { buildServer, seedFlow, startCluster, type Cluster } from "./helpers.ts";

const REVOCATIONS = 40;
/** Small pages, so that following the feed takes several calls even while it is being written. */
const PAGE = 3;
/** The poller's pause between two catch-ups: long enough for more than a page of entries to arrive meanwhile. */
const POLL_PAUSE_MS = 40;

interface FeedAnswer {
  entries: { kind: string; jti?: string }[];
  cursor: string;
  has_more: boolean;
  reset?: true;
}

describe("the revocation feed across two nodes on one PostgreSQL database", () => {
  let cluster: Cluster;
  let photosApi: TestClient;
  let printer: TestClient;

  before(async () => {
    await buildServer();
    cluster = await startCluster({
      seed: async (run) => {
        await seedFlow(run);
        const created = async (args: string[]): Promise<TestClient> => {
          const client = json<{ client_id: string; client_secret: string }>(await run(["clients", "create", ...args]));
          return { clientId: client.client_id, clientSecret: client.client_secret };
        };
        photosApi = await created(["--name", "Flickr photos API", "--resource-server-for", PHOTOS_RESOURCE, "--json"]);
        printer = await created([
          "--name",
          "Print shop",
          "--scope",
          "photos",
          "--grant-type",
          "client_credentials",
          "--json",
        ]);
      },
    });
  });
  after(() => cluster.close());

  async function read(node: number, cursor: string | undefined): Promise<FeedAnswer> {
    const url = new URL(`${cluster.node(node).url}/revocations`);
    url.searchParams.set("limit", String(PAGE));
    if (cursor !== undefined) url.searchParams.set("after", cursor);
    const response = await fetch(url, {
      headers: { authorization: basic(photosApi.clientId, photosApi.clientSecret) },
    });
    const body = (await response.json()) as FeedAnswer;
    assert.equal(response.status, 200, JSON.stringify(body));
    return body;
  }

  it(`a poller alternating between the nodes sees each of ${REVOCATIONS} parallel revocations on both exactly once`, async () => {
    const auth = { authorization: basic(printer.clientId, printer.clientSecret) };
    const tokens = await Promise.all(
      Array.from({ length: REVOCATIONS }, async (_, i) => {
        const issued = await post(
          `${cluster.node(i).url}/token`,
          form({ grant_type: "client_credentials", scope: "photos" }),
          auth,
        );
        assert.equal(issued.status, 200, JSON.stringify(issued.body));
        return (issued.body as { access_token: string }).access_token;
      }),
    );

    const first = await read(0, undefined);
    assert.deepEqual({ ...first, cursor: undefined }, { entries: [], cursor: undefined, has_more: false, reset: true });
    let cursor = first.cursor;
    const seen: string[] = [];
    let polls = 0;
    /** Follows the feed, a call at a time, node A and node B in turn, until it has nothing more to give. */
    async function drain(): Promise<void> {
      for (let more = true; more; polls++) {
        const page = await read(polls, cursor);
        assert.equal(page.reset, undefined, `poll ${polls}: a cursor from either node is followed by the other`);
        for (const entry of page.entries) seen.push(`${entry.kind}:${entry.jti ?? ""}`);
        cursor = page.cursor;
        more = page.has_more;
      }
    }

    const progress = { revoking: true };
    const revocations = Promise.all(
      tokens.map(async (token, i) => {
        // Started 5 ms apart, so that they overlap one another and the poller's calls for about 200 ms.
        await new Promise((resolve) => setTimeout(resolve, i * 5));
        return (await post(`${cluster.node(i + 1).url}/revoke`, form({ token }), auth)).status;
      }),
    ).finally(() => {
      progress.revoking = false;
    });
    while (progress.revoking) {
      await drain();
      await new Promise((resolve) => setTimeout(resolve, POLL_PAUSE_MS));
    }
    assert.deepEqual(await revocations, Array(REVOCATIONS).fill(200));
    await drain();

    const expected = tokens.map((token) => `token:${decodeJwt(token).jti ?? ""}`);
    assert.equal(new Set(seen).size, seen.length, "no entry twice");
    assert.deepEqual([...seen].sort(), [...expected].sort(), "every revocation, none missed");
    assert.ok(polls > REVOCATIONS / PAGE, `${polls} polls`);
  });
});
