import type { Scope, ScopeStore } from "../types.js";
import type { Db } from "./database.js";

export function sqliteScopeStore(db: Db): ScopeStore {
  const insert = db.prepare("INSERT INTO scopes (name, description, resource) VALUES (?, ?, ?)");
  const select = db.prepare<[string], Scope>("SELECT name, description, resource FROM scopes WHERE name = ?");
  const selectAll = db.prepare<[], Scope>("SELECT name, description, resource FROM scopes ORDER BY name");
  const selectResources = db
    .prepare<[], string>("SELECT DISTINCT resource FROM scopes WHERE resource IS NOT NULL ORDER BY resource")
    .pluck();
  return {
    create(scope) {
      insert.run(scope.name, scope.description, scope.resource);
    },
    find(name) {
      return select.get(name);
    },
    list() {
      return selectAll.all();
    },
    resources() {
      return selectResources.all();
    },
  };
}
