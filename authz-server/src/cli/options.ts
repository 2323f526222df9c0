import { existsSync } from "node:fs";
import { type Command, Option } from "commander";
import { defaults } from "../config.js";
import { type KeyEncryptionKey, keyEncryptionKeyFrom } from "../storage/encryption.js";
import { isPostgresUrl, openStorage, type StorageOptions } from "../storage/index.js";
import { postgresDefaults } from "../storage/postgres/index.js";
import type { Storage } from "../storage/types.js";

/** A mistake of the user of the CLI: printed as one line on stderr, exit code 1 (index.ts). */
export class UsageError extends Error {}

/** The options every command takes (`common`). */
export interface CommonOptions {
  db: string;
  json?: boolean;
  kekFile?: string;
  dbPoolSize: number;
  dbConnectTimeout: number;
  dbStatementTimeout: number;
}

/**
 * Adds the options every command takes: the database (and, for PostgreSQL, its pool's size and timeouts), its
 * key-encryption key, and JSON output.
 */
export function common(command: Command): Command {
  return command
    .addOption(
      new Option("--db <path-or-url>", "SQLite database file or postgres:// URL").env("AUTHZ_DB").default(defaults.db),
    )
    .addOption(
      new Option("--db-pool-size <n>", "PostgreSQL: most connections held open")
        .default(postgresDefaults.poolSize)
        .argParser(atLeastOne("--db-pool-size")),
    )
    .addOption(
      new Option("--db-connect-timeout <ms>", "PostgreSQL: opening a connection longer than this fails (503)")
        .default(postgresDefaults.connectionTimeoutMs)
        .argParser(atLeastOne("--db-connect-timeout")),
    )
    .addOption(
      new Option("--db-statement-timeout <ms>", "PostgreSQL: the server cancels a statement running longer (503)")
        .default(postgresDefaults.statementTimeoutMs)
        .argParser(atLeastOne("--db-statement-timeout")),
    )
    .addOption(
      new Option(
        "--kek-file <path>",
        "key-encryption key (32 bytes, hex or base64url) sealing signing keys and server secrets; or AUTHZ_KEK",
      ).env("AUTHZ_KEK_FILE"),
    )
    .option("--json", "print machine-readable JSON only");
}

/** With --json the JSON only, else the text: what a script parses and what a person reads are never mixed. */
export function print(options: CommonOptions, json: unknown, text: string): void {
  process.stdout.write(options.json ? `${JSON.stringify(json, null, 2)}\n` : `${text}\n`);
}

/** Every command but `init` and `serve` works on an existing database: a mistyped --db must not create a new one. */
export async function withStorage<T>(options: CommonOptions, fn: (storage: Storage) => T | Promise<T>): Promise<T> {
  const db = checkDb(options.db);
  if (!isPostgresUrl(db) && !existsSync(db))
    throw new UsageError(`database ${db} does not exist; create it with: authz-server init --db ${db}`);
  const storage = await openCliStorage(options);
  try {
    return await fn(storage);
  } finally {
    await storage.close();
  }
}

/** --db as it may be shown: a connection URL's password is replaced, so no message, log or error ever carries it. */
export function redactDb(db: string): string {
  if (!isPostgresUrl(db)) return db;
  try {
    const url = new URL(db);
    if (url.password !== "") url.password = "redacted";
    // libpq-style parameters may carry it too (`?password=`), and node-postgres reads them.
    if (url.searchParams.has("password")) url.searchParams.set("password", "redacted");
    return url.toString();
  } catch {
    return "the --db URL (malformed)";
  }
}

/** Opens --db; an error that quotes the URL is shown with its password redacted. */
export async function openCliStorage(options: CommonOptions, migrated?: StorageOptions["migrated"]): Promise<Storage> {
  const db = checkDb(options.db);
  try {
    return await openStorage(db, { ...storageOptions(options), ...(migrated === undefined ? {} : { migrated }) });
  } catch (error: unknown) {
    throw withoutPassword(error, db);
  }
}

/** `error` with every occurrence of the --db URL's password replaced (a driver may quote what it was given). */
export function withoutPassword(error: unknown, db: string): unknown {
  if (!(error instanceof Error)) return error;
  const message = passwordsOf(db).reduce((text, password) => text.split(password).join("redacted"), error.message);
  return message === error.message ? error : new Error(message);
}

/** The URL's passwords as written (percent-encoded) and as sent; none for a file path or a malformed URL. */
function passwordsOf(db: string): string[] {
  if (!isPostgresUrl(db)) return [];
  try {
    const url = new URL(db);
    const candidates = [url.password, decodedOrAsIs(url.password), ...url.searchParams.getAll("password")];
    return [...new Set(candidates.filter((p) => p !== ""))];
  } catch {
    return [];
  }
}

function decodedOrAsIs(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

/** An empty path would make SQLite open a private temporary database and silently lose every write. */
export function checkDb(path: string): string {
  if (path.trim() === "") throw new UsageError("--db must name a file or a postgres:// URL");
  return path;
}

/** The operator's key-encryption key, if one is given (storage/encryption.ts). */
export function keyEncryptionKeyOf(options: CommonOptions): KeyEncryptionKey | undefined {
  return keyEncryptionKeyFrom(options.kekFile, process.env["AUTHZ_KEK"]);
}

export function storageOptions(options: CommonOptions): StorageOptions {
  const keyEncryptionKey = keyEncryptionKeyOf(options);
  const postgres = {
    poolSize: options.dbPoolSize,
    connectionTimeoutMs: options.dbConnectTimeout,
    statementTimeoutMs: options.dbStatementTimeout,
  };
  return keyEncryptionKey === undefined ? { postgres } : { keyEncryptionKey, postgres };
}

/** A stored time (ms since the epoch) as RFC 3339 text, or null when there is none. */
export const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

const wholeNumber = (name: string) => (value: string) => {
  if (!/^\d+$/.test(value)) throw new UsageError(`${name} must be a whole number, got ${JSON.stringify(value)}`);
  return Number(value);
};

/** A count or a duration of which 0 would mean "none" or "unbounded" (node-postgres' reading): at least 1. */
const atLeastOne = (name: string) => (value: string) => {
  const number = wholeNumber(name)(value);
  if (number < 1) throw new UsageError(`${name} must be at least 1, got ${value}`);
  return number;
};

/** A `--<name> <seconds>` option: a whole number with a default. */
export const secondsOption = (flag: string, description: string, fallback: number) =>
  new Option(`${flag} <seconds>`, description).default(fallback).argParser(wholeNumber(flag));

/** A `--<name> <count>` option: a whole number with a default. */
export const countOption = (flag: string, description: string, fallback: number) =>
  new Option(`${flag} <count>`, description).default(fallback).argParser(wholeNumber(flag));

/** A `--<name> <seconds>` option for a timer's period: at least 1, since a period of 0 would spin. */
export const intervalOption = (flag: string, description: string, fallback: number) =>
  new Option(`${flag} <seconds>`, description).default(fallback).argParser(atLeastOne(flag));

/** The argument parser of a repeatable option: each occurrence adds one value. */
export const collect = (value: string, previous: string[]) => [...previous, value];
