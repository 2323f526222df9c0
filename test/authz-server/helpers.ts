import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after } from "node:test";
import { pino } from "pino";
import * as oauth from "oauth4webapi";
import type { Clock } from "../../authz-server/src/clock.ts";
import { digest, generateId, generateSecret } from "../../authz-server/src/secrets.ts";
import { startServer, type RunningServer, type ServerOptions } from "../../authz-server/src/server.ts";
import type { Storage } from "../../authz-server/src/storage/types.ts";
import { startTestPostgres } from "../helpers/postgres.ts";

/** A clock that only moves when a test moves it (time is frozen in tests, so every expiry is exact). */
export class TestClock implements Clock {
  ms: number;
  constructor(start = Date.UTC(2030, 0, 1, 12, 0, 0)) {
    this.ms = start;
  }
  now(): number {
    return this.ms;
  }
  advance(seconds: number): void {
    this.ms += seconds * 1000;
  }
  get date(): Date {
    return new Date(this.ms);
  }
}

/** `value`, or the test fails naming `what`: an absent value reports itself instead of a later TypeError. */
export function present<T>(value: T | null | undefined, what: string): T {
  assert.ok(value !== null && value !== undefined, `${what} is missing`);
  return value;
}

export function tempDir(): { dir: string; remove(): void } {
  const dir = mkdtempSync(join(tmpdir(), "authz-test-"));
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/** A storage engine the flow tests run on, and where a server of it keeps its data. */
export interface StorageEngine {
  name: "SQLite" | "PostgreSQL";
  /** startTestServer's options for a fresh, empty database: a new SQLite file, or a new PostgreSQL database. */
  freshDatabase(): Promise<{ dbPath?: string }>;
}

/**
 * Both storage engines, for a test file to run its flows on each. Call it at the top level of the file: it starts
 * one throwaway PostgreSQL for the file (test/helpers/postgres.ts), whose databases the servers get, stopped after
 * the file's last test.
 */
export async function storageEngines(): Promise<StorageEngine[]> {
  const postgres = await startTestPostgres();
  after(() => postgres.close());
  return [
    { name: "SQLite", freshDatabase: () => Promise.resolve({}) },
    { name: "PostgreSQL", freshDatabase: async () => ({ dbPath: await postgres.createDatabase() }) },
  ];
}

export interface TestServer {
  running: RunningServer;
  storage: Storage;
  /** The SQLite file, or the postgres:// URL, the server keeps its data in. */
  dbPath: string;
  clock: TestClock;
  url: string;
  issuer: string;
  as: oauth.AuthorizationServer;
  close(): Promise<void>;
}

/**
 * A server on 127.0.0.1, port 0, a fresh SQLite database (unless dbPath, a file or a postgres:// URL, is given) and a
 * frozen clock.
 */
export async function startTestServer(
  options: Partial<ServerOptions> & { dbPath?: string; clock?: TestClock } = {},
): Promise<TestServer> {
  const temp = options.dbPath === undefined ? tempDir() : undefined;
  const dbPath = options.dbPath ?? join(present(temp, "the temporary directory").dir, "authz.db");
  const clock = options.clock ?? new TestClock();
  const running = await startServer({
    port: 0,
    host: "127.0.0.1",
    logger: pino({ level: "silent" }),
    ...options,
    db: dbPath,
    clock,
  });
  const issuer = running.issuer;
  return {
    running,
    storage: running.services.storage,
    dbPath,
    clock,
    url: running.url,
    issuer,
    as: {
      issuer,
      token_endpoint: `${issuer}/token`,
      introspection_endpoint: `${issuer}/introspect`,
      revocation_endpoint: `${issuer}/revoke`,
      jwks_uri: `${issuer}/jwks.json`,
    },
    async close() {
      await running.close();
      temp?.remove();
    },
  };
}

export interface TestClient {
  clientId: string;
  clientSecret: string;
}

/** Registers a confidential client the way `clients create` does (server-generated id and secret, digest stored). */
export async function createClient(
  storage: Storage,
  options: {
    scopes: string[];
    grantTypes?: string[];
    name?: string;
    redirectUris?: string[];
    resourceServerFor?: string[];
  },
): Promise<TestClient> {
  const clientId = generateId();
  const clientSecret = generateSecret();
  await storage.clients.create({
    clientId,
    name: options.name ?? "Test client",
    secretDigest: digest(clientSecret),
    redirectUris: options.redirectUris ?? [],
    grantTypes: options.grantTypes ?? ["client_credentials"],
    scopes: options.scopes,
    tokenEndpointAuthMethod: "client_secret_basic",
    createdAt: Date.now(),
    ...(options.resourceServerFor ? { resourceServerFor: options.resourceServerFor } : {}),
  });
  return { clientId, clientSecret };
}

/** `fetch` options that let oauth4webapi talk plain HTTP to the loopback test server. */
// eslint-disable-next-line @typescript-eslint/no-deprecated -- oauth4webapi marks its one plain-HTTP switch deprecated to flag production use; the test server is HTTP on loopback
export const insecure = { [oauth.allowInsecureRequests]: true } as const;

export function form(values: Record<string, string | string[]>): string {
  const params = new URLSearchParams();
  for (const [name, value] of Object.entries(values)) {
    for (const v of Array.isArray(value) ? value : [value]) params.append(name, v);
  }
  return params.toString();
}

export function basic(clientId: string, secret: string): string {
  return `Basic ${Buffer.from(`${encodeURIComponent(clientId)}:${encodeURIComponent(secret)}`).toString("base64")}`;
}

/** POST a form; returns status, headers and the parsed JSON body (or text). */
export async function post(
  url: string,
  body: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; headers: Headers; body: unknown }> {
  const response = await fetch(url, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded", ...headers },
    body,
  });
  const text = await response.text();
  const isJson = (response.headers.get("content-type") ?? "").includes("json");
  return {
    status: response.status,
    headers: response.headers,
    body: isJson && text !== "" ? (JSON.parse(text) as unknown) : text,
  };
}
