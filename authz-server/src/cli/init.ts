import { existsSync } from "node:fs";
import type { Command } from "commander";
import { isPostgresUrl } from "../storage/index.js";
import { checkDb, common, type CommonOptions, openCliStorage, print, redactDb } from "./options.js";

/** The one command besides `serve` that may create the database: every other one refuses a file that is not there. */
async function init(options: CommonOptions): Promise<void> {
  const db = checkDb(options.db);
  // A PostgreSQL database is created by its operator (createdb); init migrates it. A SQLite file is created here.
  const existed = isPostgresUrl(db) || existsSync(db);
  const storage = await openCliStorage(options);
  try {
    const status = await storage.keyEncryption.status();
    const shown = redactDb(db);
    print(
      options,
      { db: shown, created: !existed, kek_id: status.kekId },
      existed ? `database ${shown} already exists` : `created database ${shown}`,
    );
  } finally {
    await storage.close();
  }
}

export function addInitCommand(program: Command): void {
  common(
    program.command("init").description("create the database (every command but serve needs an existing one)"),
  ).action(init);
}
