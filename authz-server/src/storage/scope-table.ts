import type { Scope, ScopeCatalog } from "./types.js";

/** The scopes table as both engines hold it in memory, with the version row it was read at. */
export interface ScopeTable {
  version: number;
  /** Sorted by name, as list() returns them. */
  list: readonly Scope[];
  byName: ReadonlyMap<string, Scope>;
  /** Distinct registered resources, sorted. */
  resources: readonly string[];
  catalog: ScopeCatalog;
}

/** The in-memory form of the scopes table: frozen, since callers share it. */
export function scopeTable(rows: readonly Scope[]): Omit<ScopeTable, "version"> {
  const list = rows.map((scope) => Object.freeze(scope));
  const byName = new Map(list.map((s) => [s.name, s]));
  const resources = Object.freeze([...new Set(list.flatMap((s) => (s.resource === null ? [] : [s.resource])))].sort());
  const catalog = Object.freeze({ find: (name: string) => byName.get(name), resources: () => resources });
  return { list, byName, resources, catalog };
}
