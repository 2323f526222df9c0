import { existsSync } from "node:fs";
import type { Command } from "commander";
import { openSqliteStorage } from "../storage/sqlite/index.js";
import { checkDb, common, type CommonOptions, print, storageOptions } from "./options.js";

/** The one command besides `serve` that may create the database: every other one refuses a file that is not there. */
function init(options: CommonOptions): void {
  const path = checkDb(options.db);
  const existed = existsSync(path);
  const storage = openSqliteStorage(path, storageOptions(options));
  const status = storage.keyEncryption.status();
  storage.close();
  print(
    options,
    { db: path, created: !existed, kek_id: status.kekId },
    existed ? `database ${path} already exists` : `created database ${path}`,
  );
}

export function addInitCommand(program: Command): void {
  common(
    program.command("init").description("create the database (every command but serve needs an existing one)"),
  ).action(init);
}
