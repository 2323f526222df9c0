// Several processes on one SQLite file (the documented deployment: `serve` beside the CLI, or two `serve`s behind a
// load balancer): every token request is answered in the protocol's terms, never with a 5xx, and refresh-token
// rotation still yields one successor per token when its concurrent presentations reach different processes.
import assert from "node:assert/strict";
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { digest } from "../../../authz-server/src/secrets.ts";
import { openStorage } from "../../../authz-server/src/storage/index.ts";
import { basic, form, post, tempDir, TestClock } from "../helpers.ts";
import { BrowserClient } from "../browser-client.ts";
import {
  allow,
  authorizationRequest,
  CANON_CALLBACK,
  exchangeCallback,
  loginThrough,
  startFlowServer,
  type FlowServer,
} from "../code-flow.ts";

const root = fileURLToPath(new URL("../../../", import.meta.url));
const bin = join(root, "authz-server/bin/authz-server.js");
const INVALID_REFRESH = {
  error: "invalid_grant",
  error_description: "the refresh token is invalid, expired or revoked",
};

/**
 * Another writer on the file that keeps the write lock (an operator's long script, a backup) for argv[2] ms: begins
 * an IMMEDIATE transaction, says so on stdout, commits after the delay.
 */
const HOLD_WRITE_LOCK = `
const db = new (require("better-sqlite3"))(process.argv[1]);
db.pragma("busy_timeout = 5000");
db.exec("BEGIN IMMEDIATE");
process.stdout.write("locked\\n");
setTimeout(() => { db.exec("COMMIT"); db.close(); }, Number(process.argv[2]));
`;

interface Serve {
  url: string;
  stop(): Promise<void>;
}

/** `authz-server serve` as a separate process on `db`, on an ephemeral loopback port. */
async function serve(db: string, ...flags: string[]): Promise<Serve> {
  const child = spawn(process.execPath, [bin, "serve", "--port", "0", "--db", db, "--json", ...flags], {
    cwd: root,
    stdio: ["ignore", "pipe", "inherit"],
  });
  const exited = new Promise<number | null>((resolve) => child.once("exit", resolve));
  try {
    const line = await new Promise<string>((resolve, reject) => {
      let out = "";
      const timer = setTimeout(() => reject(new Error("serve did not print its URL within 20 s")), 20_000);
      child.stdout.on("data", (d: Buffer) => {
        out += d.toString();
        if (out.includes("\n")) {
          clearTimeout(timer);
          resolve(out);
        }
      });
      void exited.then((code) => reject(new Error(`serve exited with ${code}`)));
    });
    const { url } = JSON.parse(line) as { url: string };
    return {
      url,
      async stop() {
        child.kill("SIGTERM");
        assert.equal(await exited, 0);
      },
    };
  } catch (error) {
    child.kill("SIGKILL");
    throw error;
  }
}

/** Runs the CLI to completion; its exit code and stderr. */
async function cli(...args: string[]): Promise<{ code: number; stderr: string }> {
  try {
    const { stderr } = await promisify(execFile)(process.execPath, [bin, ...args], { cwd: root, timeout: 30_000 });
    return { code: 0, stderr };
  } catch (error) {
    const failed = error as { code?: number; stderr?: string };
    return { code: failed.code ?? -1, stderr: failed.stderr ?? "" };
  }
}

describe("several processes on one SQLite file", () => {
  const temp = tempDir();
  const db = join(temp.dir, "shared.db");
  let seeded: FlowServer;
  let auth: { authorization: string };

  before(async () => {
    if (!existsSync(join(root, "authz-server/dist/cli/index.js"))) {
      await promisify(execFile)("npx", ["tsc", "-b", "authz-server"], { cwd: root });
    }
    // Seeded and signed in through an in-process server on the same file, its clock at the real time: the `serve`
    // processes that take over read the real clock.
    seeded = await startFlowServer({ dbPath: db, clock: new TestClock(Date.now()) });
    auth = { authorization: basic(seeded.canon.clientId, seeded.canon.clientSecret) };
  });
  after(async () => {
    await seeded.close();
    temp.remove();
  });

  /** alice signs in to Canon Printing (her consent remembered after the first time): the code on the callback. */
  async function authorize() {
    const attempt = await authorizationRequest(seeded);
    const browser = new BrowserClient(seeded.url);
    const afterLogin = await loginThrough(browser, attempt);
    const callback =
      afterLogin.status === 303 && afterLogin.location !== undefined
        ? new URL(afterLogin.location)
        : await allow(browser, afterLogin);
    return { attempt, callback };
  }

  /** A fresh family: the refresh token of a code exchange. */
  async function signIn(): Promise<string> {
    const { attempt, callback } = await authorize();
    const exchanged = await exchangeCallback(seeded, attempt, callback);
    assert.equal(exchanged.status, 200);
    return (exchanged.body as { refresh_token: string }).refresh_token;
  }

  const refresh = (server: Serve, refreshToken: string) =>
    post(`${server.url}/token`, form({ grant_type: "refresh_token", refresh_token: refreshToken }), auth);

  /** Heads of the chains of the family of `refreshToken`, read by a connection of this process. */
  async function liveTokens(refreshToken: string): Promise<string[]> {
    const storage = await openStorage(db);
    try {
      const token = await storage.refreshTokens.find(digest(refreshToken));
      assert.ok(token, "the refresh token is stored");
      return (await storage.refreshTokens.family(token.familyId))
        .filter((t) => t.rotatedAt === null && t.revokedAt === null)
        .map((t) => t.tokenDigest);
    } finally {
      await storage.close();
    }
  }

  it("two serve processes answer rounds of 40 parallel refreshes of one token with one successor, never a 5xx", async () => {
    // A grace window longer than the load takes on a busy machine: every answer must then be the successor.
    const servers = await Promise.all([serve(db, "--refresh-grace", "120"), serve(db, "--refresh-grace", "120")]);
    try {
      // Bounded: five rounds (a few seconds at most), each a fresh family whose token goes to both processes at once.
      for (let round = 0; round < 5; round++) {
        const first = await signIn();
        const answers = await Promise.all(Array.from({ length: 40 }, (_, i) => refresh(servers[i % 2], first)));
        assert.deepEqual(
          answers.map((a) => a.status),
          Array(40).fill(200),
          JSON.stringify(answers.filter((a) => a.status !== 200).map((a) => a.body)),
        );
        const successors = new Set(answers.map((a) => (a.body as { refresh_token: string }).refresh_token));
        assert.equal(successors.size, 1);
        const [successor] = successors;
        assert.deepEqual(await liveTokens(first), [digest(successor)]);
      }
    } finally {
      await Promise.all(servers.map((s) => s.stop()));
    }
  });

  it("without a grace window, parallel refreshes over two processes get the successor once and invalid_grant otherwise", async () => {
    const first = await signIn();
    const servers = await Promise.all([serve(db, "--refresh-grace", "0"), serve(db, "--refresh-grace", "0")]);
    try {
      const answers = await Promise.all(Array.from({ length: 40 }, (_, i) => refresh(servers[i % 2], first)));
      const ok = answers.filter((a) => a.status === 200);
      const refused = answers.filter((a) => a.status !== 200);
      assert.equal(ok.length, 1, JSON.stringify(answers.map((a) => [a.status, a.body])));
      for (const answer of refused) assert.deepEqual([answer.status, answer.body], [400, INVALID_REFRESH]);
      // The reuse revoked the family, the successor included.
      assert.deepEqual(await liveTokens(first), []);
    } finally {
      await Promise.all(servers.map((s) => s.stop()));
    }
  });

  it("parallel exchanges of one code over two serve processes: one answered with tokens, the rest invalid_grant, and the replay revokes them", async () => {
    const { attempt, callback } = await authorize();
    const servers = await Promise.all([serve(db), serve(db)]);
    try {
      const exchange = (server: Serve) =>
        post(
          `${server.url}/token`,
          form({
            grant_type: "authorization_code",
            code: callback.searchParams.get("code") ?? "",
            redirect_uri: CANON_CALLBACK,
            code_verifier: attempt.verifier,
          }),
          auth,
        );
      const answers = await Promise.all(Array.from({ length: 10 }, (_, i) => exchange(servers[i % 2])));
      const issued = answers.filter((a) => a.status === 200);
      assert.equal(issued.length, 1, JSON.stringify(answers.map((a) => [a.status, a.body])));
      for (const answer of answers.filter((a) => a.status !== 200)) {
        assert.deepEqual(
          [answer.status, answer.body],
          [400, { error: "invalid_grant", error_description: "the authorization code was already used" }],
        );
      }
      const tokens = issued[0].body as { access_token: string; refresh_token: string };
      for (const token of [tokens.access_token, tokens.refresh_token]) {
        const introspected = await post(`${servers[0].url}/introspect`, form({ token }), auth);
        assert.deepEqual([introspected.status, introspected.body], [200, { active: false }]);
      }
    } finally {
      await Promise.all(servers.map((s) => s.stop()));
    }
  });

  it("a refresh that finds the database locked past busy_timeout (5 s) is run again and answered", async () => {
    const server = await serve(db);
    let holder: ChildProcess | undefined;
    try {
      // The first refresh of the database stores the server secret its successors derive from: out of the way first.
      assert.equal((await refresh(server, await signIn())).status, 200);
      const first = await signIn();
      const locked = spawn(process.execPath, ["-e", HOLD_WRITE_LOCK, db, "6500"], {
        cwd: root,
        stdio: ["ignore", "pipe", "inherit"],
      });
      holder = locked;
      await new Promise<void>((resolve, reject) => {
        locked.stdout.once("data", () => {
          resolve();
        });
        locked.once("exit", (code) => reject(new Error(`the lock holder exited with ${code}`)));
      });
      const answer = await refresh(server, first);
      assert.equal(answer.status, 200, JSON.stringify(answer.body));
      assert.deepEqual(await liveTokens(first), [digest((answer.body as { refresh_token: string }).refresh_token)]);
    } finally {
      holder?.kill("SIGKILL");
      await server.stop();
    }
  });

  it("serve beside a CLI writing in a loop: every refresh of a chain answered 200, every CLI write succeeds", async () => {
    let current = await signIn();
    const server = await serve(db);
    try {
      const stopWriting = new AbortController();
      const writes = (async () => {
        const runs: { code: number; stderr: string }[] = [];
        for (let i = 0; !stopWriting.signal.aborted && i < 20; i++) {
          runs.push(await cli("clients", "create", "--name", `beside ${i}`, "--db", db, "--json"));
        }
        return runs;
      })();
      const statuses: number[] = [];
      // Bounded in count: a chain of refreshes, each in a burst of 4 parallel presentations of the same token.
      for (let i = 0; i < 30; i++) {
        const burst = await Promise.all(Array.from({ length: 4 }, () => refresh(server, current)));
        statuses.push(...burst.map((a) => a.status));
        const next = burst.find((a) => a.status === 200);
        if (next === undefined) break;
        current = (next.body as { refresh_token: string }).refresh_token;
      }
      stopWriting.abort();
      const runs = await writes;
      assert.deepEqual(statuses, Array(120).fill(200));
      assert.ok(runs.length > 0);
      for (const run of runs) assert.deepEqual(run, { code: 0, stderr: "" });
      assert.deepEqual(await liveTokens(current), [digest(current)]);
    } finally {
      await server.stop();
    }
  });
});
