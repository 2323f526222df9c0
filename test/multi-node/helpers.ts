// Several `authz-server serve` processes on one PostgreSQL database, as behind a load balancer: real HTTP, requests
// alternating between the nodes, the CLI run beside them on the same database. Both nodes are given one issuer (the
// public URL a balancer would serve them under), so a token one node issues is its peer's own.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import type * as oauth from "oauth4webapi";
import { startTestPostgres, type TestPostgres } from "../helpers/postgres.ts";
import { basic, form, post, present, type TestClient } from "../authz-server/helpers.ts";
import { BrowserClient } from "../authz-server/browser-client.ts";
import { cli, json, root, serve, type Run, type ServeProcess } from "../authz-server/cli/helpers.ts";
import {
  allow,
  authorizationRequest,
  CANON_CALLBACK,
  exchangeCallback,
  loginThrough,
  PASSWORD,
  PHOTOS_RESOURCE,
  type AuthorizationAttempt,
  type FlowServer,
} from "../authz-server/code-flow.ts";

/** The issuer every node of a cluster is started with. */
export const ISSUER = "http://authz.example.test";

/** Emits authz-server/dist, which the nodes and the CLI run; once per file, before its first node. */
export async function buildServer(): Promise<void> {
  await promisify(execFile)("npx", ["tsc", "-b", "authz-server"], { cwd: root });
}

export interface Cluster {
  /** The postgres:// URL of the database every node and CLI command of the cluster shares. */
  db: string;
  /** The running nodes, A first. */
  nodes: ServeProcess[];
  /** The node the `i`th request goes to: requests alternate A, B, A, … */
  node(i: number): ServeProcess;
  /** A CLI command on the cluster's database (`--db` appended). */
  cli(args: string[], options?: { input?: string }): Promise<Run>;
  /** Stops the nodes (each must exit 0) and drops the database and its PostgreSQL server. */
  close(): Promise<void>;
}

export interface ClusterOptions {
  /** `serve` flags both nodes get besides --db and --issuer (short lifetimes, poll intervals). */
  args?: string[];
  /** Runs on the initialised database before the nodes start (CLI commands through `cluster.cli`). */
  seed?: (run: Cluster["cli"]) => Promise<void>;
  /** Nodes to start (default 2). */
  size?: number;
}

/**
 * A fresh PostgreSQL database, created with `init` (and seeded) when `seed` is given — without it the nodes find it
 * empty and migrate it themselves — and `size` nodes on it, started at the same instant.
 */
export async function startCluster(options: ClusterOptions = {}): Promise<Cluster> {
  const postgres: TestPostgres = await startTestPostgres();
  const db = postgres.url;
  const run = (args: string[], runOptions: { input?: string } = {}) => cli([...args, "--db", db], runOptions);
  let nodes: ServeProcess[] = [];
  try {
    if (options.seed !== undefined) {
      const initialised = await run(["init"]);
      assert.equal(initialised.code, 0, initialised.stderr);
      await options.seed(run);
    }
    nodes = await startNodes(db, options.args ?? [], options.size ?? 2);
  } catch (error) {
    await postgres.close();
    throw error;
  }
  return {
    db,
    nodes,
    node: (i) => nodes[i % nodes.length],
    cli: run,
    async close() {
      try {
        const codes = await Promise.all(nodes.map((node) => node.stop()));
        assert.deepEqual(
          codes,
          nodes.map(() => 0),
          "every node exits 0",
        );
      } finally {
        await postgres.close();
      }
    },
  };
}

/** `count` serve processes on `db` with one issuer, spawned together (their start-ups overlap). */
export async function startNodes(db: string, args: string[], count = 2): Promise<ServeProcess[]> {
  const started = await Promise.allSettled(
    Array.from({ length: count }, () => serve(["--db", db, "--issuer", ISSUER, ...args])),
  );
  const nodes = started.flatMap((s) => (s.status === "fulfilled" ? [s.value] : []));
  const failed = started.find((s) => s.status === "rejected");
  if (failed !== undefined) {
    await Promise.all(nodes.map((node) => node.stop()));
    throw failed.reason;
  }
  return nodes;
}

/**
 * Retries `check` (an assertion) until it passes or `withinMs` has passed since the call, then throws its last
 * failure: for changes a node sees only at its next poll of the database. Returns the milliseconds it took.
 */
export async function eventually(check: () => Promise<void>, withinMs: number): Promise<number> {
  const start = Date.now();
  for (;;) {
    try {
      await check();
      return Date.now() - start;
    } catch (error) {
      if (Date.now() - start > withinMs) throw error;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
}

/**
 * The seed story through the CLI (code-flow.ts's, which an in-process server gets from its storage): Flickr's
 * `photos` and `profile` scopes, the confidential client Canon Printing, and the user alice.
 */
export async function seedFlow(run: Cluster["cli"]): Promise<TestClient> {
  for (const [scope, description] of [
    ["photos", "View your photos and albums"],
    ["profile", "See your name and profile picture"],
  ]) {
    const created = await run(["scopes", "create", scope, "--description", description, "--resource", PHOTOS_RESOURCE]);
    assert.equal(created.code, 0, created.stderr);
  }
  const canon = json<{ client_id: string; client_secret: string }>(
    await run([
      "clients",
      "create",
      "--name",
      "Canon Printing",
      "--scope",
      "photos",
      "--scope",
      "profile",
      "--grant-type",
      "authorization_code",
      "--grant-type",
      "refresh_token",
      "--redirect-uri",
      CANON_CALLBACK,
      "--json",
    ]),
  );
  const alice = await run(["users", "create", "alice", "--password-stdin"], { input: `${PASSWORD}\n` });
  assert.equal(alice.code, 0, alice.stderr);
  return { clientId: canon.client_id, clientSecret: canon.client_secret };
}

/** What code-flow.ts's browser and token helpers need of a server, for `node` (its own endpoints, the shared issuer). */
export function flowNode(node: ServeProcess, canon: TestClient): Pick<FlowServer, "url" | "canon" | "discovered"> {
  const discovered: oauth.AuthorizationServer = {
    issuer: ISSUER,
    authorization_endpoint: `${node.url}/authorize`,
    token_endpoint: `${node.url}/token`,
  };
  return { url: node.url, canon, discovered };
}

export interface Tokens {
  access_token: string;
  refresh_token: string;
}

/** What Canon Printing (`canon`) and alice's browser do with whichever node they reach. */
export function canonAt(canon: TestClient) {
  const auth = { authorization: basic(canon.clientId, canon.clientSecret) };
  return {
    /** alice signs in on `node` and allows (or has allowed before): the authorization request and its callback. */
    async authorize(node: ServeProcess): Promise<{ attempt: AuthorizationAttempt; callback: URL }> {
      const server = flowNode(node, canon);
      const attempt = await authorizationRequest(server);
      const browser = new BrowserClient(node.url);
      const afterLogin = await loginThrough(browser, attempt);
      const callback =
        afterLogin.status === 303
          ? new URL(present(afterLogin.location, "Location"))
          : await allow(browser, afterLogin);
      return { attempt, callback };
    },
    /** The code exchange at `node`. */
    exchange: (node: ServeProcess, attempt: AuthorizationAttempt, callback: URL) =>
      exchangeCallback(flowNode(node, canon), attempt, callback),
    /** A fresh grant: authorized on node A of `nodes`, the code exchanged at node B. */
    async signIn(nodes: ServeProcess[]): Promise<Tokens> {
      const { attempt, callback } = await this.authorize(nodes[0]);
      const exchanged = await this.exchange(nodes[nodes.length - 1], attempt, callback);
      assert.equal(exchanged.status, 200, JSON.stringify(exchanged.body));
      return exchanged.body as Tokens;
    },
    refresh: (node: ServeProcess, refreshToken: string) =>
      post(`${node.url}/token`, form({ grant_type: "refresh_token", refresh_token: refreshToken }), auth),
    /** RFC 7662 introspection at `node`, as the client the token was issued to. */
    async active(node: ServeProcess, token: string): Promise<boolean> {
      const introspected = await post(`${node.url}/introspect`, form({ token }), auth);
      assert.equal(introspected.status, 200, JSON.stringify(introspected.body));
      return (introspected.body as { active: boolean }).active;
    },
  };
}
