import pg from "pg";
import { StorageUnavailableError } from "../errors.js";

/** The pool's settings; every one has a default fit for one authorization-server node. */
export interface PostgresOptions {
  /** Most connections this process holds open (default 10). */
  poolSize?: number;
  /** How long opening a connection may take before the request fails with 503 (ms, default 5000). */
  connectionTimeoutMs?: number;
  /** How long one statement may run before the server cancels it (ms, default 5000). */
  statementTimeoutMs?: number;
}

export const postgresDefaults = { poolSize: 10, connectionTimeoutMs: 5000, statementTimeoutMs: 5000 } as const;

/** The rows of a statement, and how many rows it changed. */
export interface Sql {
  rows<R>(name: string, text: string, values?: readonly unknown[]): Promise<R[]>;
  /** The first row, if any. */
  one<R>(name: string, text: string, values?: readonly unknown[]): Promise<R | undefined>;
  run(name: string, text: string, values?: readonly unknown[]): Promise<number>;
}

/** A pool or one of its clients (inside a transaction): what `Sql` runs statements on. */
type Queryable = pg.Pool | pg.PoolClient;

/** BIGINT columns hold milliseconds since the epoch and counters: far below 2^53, so a JavaScript number is exact. */
const parseInt8 = (value: string): number => Number(value);
const types: pg.CustomTypesConfig = {
  getTypeParser: ((oid: Parameters<typeof pg.types.getTypeParser>[0], format?: "text" | "binary"): unknown =>
    oid === pg.types.builtins.INT8
      ? parseInt8
      : pg.types.getTypeParser(oid, format ?? "text")) as pg.CustomTypesConfig["getTypeParser"],
};

/**
 * `user@host:port/database` of a connection URL, for messages: never the password, whatever the URL holds. A URL
 * that does not parse is named only as malformed, since its text may hold the password.
 */
export function describeUrl(url: string): string {
  const parsed = new URL(url);
  const user = parsed.username === "" ? "" : `${decodeURIComponent(parsed.username)}@`;
  return `postgres://${user}${parsed.host}${parsed.pathname}`;
}

export function createPool(url: string, options: PostgresOptions): pg.Pool {
  try {
    new URL(url);
  } catch {
    // The URL class's message quotes the input, and with it the password: name the problem only.
    throw new Error("--db: malformed PostgreSQL URL (expected postgres://user@host:port/database)");
  }
  const pool = new pg.Pool({
    connectionString: url,
    max: options.poolSize ?? postgresDefaults.poolSize,
    connectionTimeoutMillis: options.connectionTimeoutMs ?? postgresDefaults.connectionTimeoutMs,
    statement_timeout: options.statementTimeoutMs ?? postgresDefaults.statementTimeoutMs,
    application_name: "authz-server",
    types,
  });
  // An idle connection the server closes (a restart, a failover) emits 'error' on the pool; unhandled, it would end
  // the process. The pool drops that connection and opens a new one on the next request.
  pool.on("error", () => {});
  return pool;
}

/** Statements on `on`, prepared once per connection under `name` (the extended protocol's named statements). */
export function sqlOn(on: Queryable): Sql {
  const query = async (name: string, text: string, values: readonly unknown[] = []) => {
    try {
      return await on.query({ name, text, values: [...values] });
    } catch (error: unknown) {
      throw unavailableOr(error);
    }
  };
  return {
    rows: async <R>(name: string, text: string, values?: readonly unknown[]) =>
      (await query(name, text, values)).rows as R[],
    one: async <R>(name: string, text: string, values?: readonly unknown[]) =>
      (await query(name, text, values)).rows[0] as R | undefined,
    run: async (name, text, values) => (await query(name, text, values)).rowCount ?? 0,
  };
}

/** SQLSTATE classes and codes meaning "the database is not answering now", not "this request is wrong". */
const unavailableStates = new Set(["57P01", "57P02", "57P03", "57014", "53300", "40001", "40P01"]);
const networkCodes = new Set(["ECONNREFUSED", "ECONNRESET", "ETIMEDOUT", "EPIPE", "ENOTFOUND", "EHOSTUNREACH"]);

/** The database going away under load becomes StorageUnavailableError: answered 503 with Retry-After (errors.ts). */
export function unavailableOr(error: unknown): unknown {
  if (isUnavailable(error))
    return new StorageUnavailableError(`the database is unavailable: ${messageOf(error)}`, { cause: error });
  return error;
}

function isUnavailable(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  const code = (error as { code?: unknown }).code;
  if (typeof code === "string" && (code.startsWith("08") || unavailableStates.has(code) || networkCodes.has(code)))
    return true;
  return /Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error/i.test(
    error.message,
  );
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/**
 * Why the first connection failed, in one line naming the server (never the password): a refused password, a
 * missing database, a server that is not PostgreSQL or does not answer.
 */
export function connectFailure(url: string, error: unknown): Error {
  const where = describeUrl(url);
  const code = (error as { code?: unknown }).code;
  const reason =
    code === "28P01" || code === "28000"
      ? `password authentication failed for user ${new URL(url).username || "(default)"}`
      : code === "3D000"
        ? `database ${decodeURIComponent(new URL(url).pathname.slice(1))} does not exist`
        : code === "ECONNREFUSED"
          ? "connection refused"
          : code === "ENOTFOUND"
            ? "host not found"
            : /timeout/i.test(messageOf(error))
              ? "no answer in time (is it a PostgreSQL server?)"
              : /terminated unexpectedly|Received unexpected|invalid|unexpected/i.test(messageOf(error))
                ? "the server does not speak the PostgreSQL protocol"
                : messageOf(error).split("\n")[0];
  return new Error(`cannot open PostgreSQL database ${where}: ${reason}`, { cause: error });
}

/** A client checked out of the pool and watched until it is released. */
export interface CheckedOutClient {
  client: pg.PoolClient;
  /** Hands the client back; discarded instead of reused when its connection was lost or `failure` is given. */
  release(failure?: unknown): void;
}

/**
 * Checks a client out of the pool, watched: the server ending the connection while no statement of ours runs on it
 * (a restart, a failover, between two statements of a transaction) emits 'error' on the client, which the pool does
 * not watch while it is checked out; unheard, the process would end. The error is kept instead — the next statement
 * fails on its own (503 for a request, one line for the CLI) — and the client is not reused.
 */
export async function checkOut(pool: pg.Pool): Promise<CheckedOutClient> {
  const client = await pool.connect();
  let lost: Error | undefined;
  const onError = (error: Error): void => {
    lost = error;
  };
  client.on("error", onError);
  return {
    client,
    release(failure) {
      client.off("error", onError);
      // pg discards a client released with an Error and reuses one released with undefined.
      const discard =
        lost ?? (failure === undefined ? undefined : failure instanceof Error ? failure : new Error("failed"));
      client.release(discard);
    },
  };
}
