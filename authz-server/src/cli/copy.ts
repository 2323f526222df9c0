import { existsSync } from "node:fs";
import type { Command } from "commander";
import { copySqliteToPostgres, type CopyReport, skippedTables } from "../storage/copy.js";
import { isPostgresUrl } from "../storage/index.js";
import {
  checkDb,
  common,
  type CommonOptions,
  print,
  redactDb,
  storageOptions,
  UsageError,
  withoutPassword,
} from "./options.js";

/**
 * `copy-to-postgres <postgres-url>`: the SQLite database of --db copied into an empty PostgreSQL database
 * (storage/copy.ts). --db must name an existing file, the target a postgres:// URL.
 */
async function copyToPostgres(target: string, options: CommonOptions): Promise<void> {
  const source = checkDb(options.db);
  if (isPostgresUrl(source))
    throw new UsageError("--db names the SQLite database to copy from: a file, not a postgres:// URL");
  if (!isPostgresUrl(target))
    throw new UsageError(`the target must be a postgres:// or postgresql:// URL, not ${JSON.stringify(target)}`);
  if (!existsSync(source)) throw new UsageError(`database ${source} does not exist: nothing to copy`);
  let report: CopyReport;
  try {
    report = await copySqliteToPostgres(source, target, { ...storageOptions(options), now: Date.now() });
  } catch (error: unknown) {
    throw withoutPassword(error, target);
  }
  printReport(options, source, redactDb(target), report);
}

function printReport(options: CommonOptions, source: string, target: string, report: CopyReport): void {
  const width = Math.max(...Object.keys(report.copied).map((table) => table.length));
  const migrated = report.source.from < report.source.to;
  print(
    options,
    {
      source,
      target,
      source_schema: { from: report.source.from, to: report.source.to },
      kek_id: report.kekId,
      copied: report.copied,
      not_copied: skippedTables,
    },
    [
      ...(migrated ? [`migrated ${source} from schema version ${report.source.from} to ${report.source.to}`] : []),
      `copied ${source} into ${target}:`,
      ...Object.entries(report.copied).map(([table, rows]) => `  ${table.padEnd(width)}  ${rows}`),
      report.kekId === null
        ? "signing keys and server secrets are in the clear, as they were"
        : `signing keys and server secrets are encrypted under key-encryption key ${report.kekId}: start serve with that key`,
      // What the move leaves behind that a person must know.
      skippedTables.browser_sessions,
    ].join("\n"),
  );
}

export function addCopyCommand(program: Command): void {
  common(
    program
      .command("copy-to-postgres")
      .argument("<postgres-url>", "an empty PostgreSQL database (its schema is created)")
      .description("copy the SQLite database of --db into an empty PostgreSQL database, in one transaction"),
  ).action(copyToPostgres);
}
