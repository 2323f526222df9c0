import { scopeTable, type ScopeTable } from "../scope-table.js";
import type { Scope, ScopeStore } from "../types.js";
import type { Db } from "./database.js";
import { TableVersion } from "./table-version.js";
import type { Synchronous } from "./synchronous.js";

/**
 * The scopes table, held in memory: every token request reads a scope or the registered resources (RFC 8707
 * checks) several times, and the table changes only through the CLI. It is re-read when its version row changes
 * (table-version.ts), so a `scopes create` beside a running server is seen within RECHECK_INTERVAL_MS.
 */
export function sqliteScopeStore(db: Db, version = new TableVersion(db, "scopes")): Synchronous<ScopeStore> {
  const insert = db.prepare("INSERT INTO scopes (name, description, resource) VALUES (?, ?, ?)");
  const selectAll = db.prepare<[], Scope>("SELECT name, description, resource FROM scopes ORDER BY name");
  let table: ScopeTable | undefined;

  function current(): ScopeTable {
    const now = version.current();
    if (table?.version !== now) {
      // Frozen: callers share these objects; none may change the cached copy.
      table = { version: now, ...scopeTable(selectAll.all()) };
    }
    return table;
  }

  return {
    create(scope) {
      insert.run(scope.name, scope.description, scope.resource);
      version.invalidate();
    },
    find(name) {
      return current().byName.get(name);
    },
    catalog(names = []) {
      if (names.some((name) => !current().byName.has(name))) version.invalidate();
      return current().catalog;
    },
    list() {
      return [...current().list];
    },
    resources() {
      return [...current().resources];
    },
  };
}
