// The PostgreSQL engine held to the storage contract every engine owes (contract.ts), on a throwaway database of a
// real server (test/helpers/postgres.ts): each open() is a fresh database on it.
import { after, before } from "node:test";
import { openPostgresStorage } from "../../../authz-server/src/storage/postgres/index.ts";
import { startTestPostgres, type TestPostgres } from "../../helpers/postgres.ts";
import { storageContract } from "./contract.ts";

let server: TestPostgres | undefined;
const opened: { close(): Promise<void> }[] = [];

before(async () => {
  server = await startTestPostgres();
});
after(async () => {
  for (const storage of opened.splice(0)) await storage.close().catch(() => {});
  await server?.close();
});

storageContract("PostgreSQL", async (options) => {
  if (!server) throw new Error("the PostgreSQL test server did not start");
  const storage = await openPostgresStorage(await server.createDatabase(), options);
  opened.push(storage);
  return storage;
});
