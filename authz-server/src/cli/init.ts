import type { Command } from "commander";
import { isPostgresUrl } from "../storage/index.js";
import { checkDb, common, type CommonOptions, openCliStorage, print, redactDb } from "./options.js";

/** The one command besides `serve` that may create the database: every other one refuses a file that is not there. */
async function init(options: CommonOptions): Promise<void> {
  const db = checkDb(options.db);
  // A SQLite file is created here; a PostgreSQL database is created by its operator (createdb) and init creates the
  // schema in it. Either way, schema version 0 on opening means this command created what is there.
  const schema = { from: 0 };
  const storage = await openCliStorage(options, ({ from }) => (schema.from = from));
  const created = schema.from === 0;
  try {
    const status = await storage.keyEncryption.status();
    const shown = redactDb(db);
    const what = isPostgresUrl(db) ? `the schema in database ${shown}` : `database ${shown}`;
    print(
      options,
      { db: shown, created, kek_id: status.kekId },
      created ? `created ${what}` : `database ${shown} already exists`,
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
