/**
 * Reads the real kong.yml (Kong's declarative format 3.0) with the `yaml` package into the subset
 * the stand-in implements: services with nested routes (paths as prefixes, methods, strip_path),
 * plugins on routes, services or globally, and consumers (without credentials). Anything else in the file is refused with a clear
 * error rather than silently ignored, so a test never passes against a config Kong would read
 * differently.
 */
import { createHash, randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";
import { parse } from "yaml";
import { isKongUuid, type Consumer } from "../wire/index.js";
import { KongConfigError } from "./errors.js";
import { parseRateLimitingConfig, RATE_LIMITING } from "./rate-limiting.js";

export { KongConfigError };

export interface PluginEntry {
  name: string;
  config: Record<string, unknown>;
}

export interface ServiceDef {
  name: string;
  /** The upstream as written in kong.yml, e.g. `http://photos:8080`. */
  url: string;
  plugins: PluginEntry[];
}

export interface RouteDef {
  name: string;
  service: ServiceDef;
  /** Prefix paths (Kong 3 treats a path not starting with `~` as a prefix). */
  paths: string[];
  /** Upper-case; undefined matches every method. */
  methods: string[] | undefined;
  stripPath: boolean;
  preserveHost: boolean;
  plugins: PluginEntry[];
}

export interface KongConfig {
  services: ServiceDef[];
  routes: RouteDef[];
  globalPlugins: PluginEntry[];
  /** `consumers:`, with the ids Kong's declarative loader gives them. */
  consumers: Consumer[];
}

type Obj = Record<string, unknown>;

function isObj(value: unknown): value is Obj {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function onlyKeys(where: string, value: Obj, allowed: readonly string[]): void {
  for (const key of Object.keys(value)) {
    if (!allowed.includes(key)) throw new KongConfigError(`${where}: the local stand-in does not implement "${key}"`);
  }
}

function stringList(where: string, value: unknown): string[] {
  if (!Array.isArray(value) || value.some((v) => typeof v !== "string"))
    throw new KongConfigError(`${where}: expected a list of strings`);
  return value as string[];
}

/**
 * `protocols` on a route or plugin: the stand-in serves plain HTTP only, so a list without "http"
 * (a route Kong answers 426 over http, a plugin Kong skips on http requests) would be served
 * differently from Kong: refuse it. Kong's default, when absent, includes "http".
 */
function httpProtocols(where: string, value: unknown): void {
  if (value === undefined) return;
  if (!stringList(`${where}.protocols`, value).includes("http")) {
    throw new KongConfigError(
      `${where}.protocols: the local stand-in serves plain http only, and this list leaves it out`,
    );
  }
}

function plugins(where: string, value: unknown): PluginEntry[] {
  if (value === undefined) return [];
  if (!Array.isArray(value)) throw new KongConfigError(`${where}.plugins: expected a list`);
  return value.map((p: unknown, i) => {
    const at = `${where}.plugins[${i}]`;
    if (!isObj(p)) throw new KongConfigError(`${at}: expected an object`);
    onlyKeys(at, p, ["name", "config", "enabled", "protocols", "tags"]);
    if (typeof p["name"] !== "string") throw new KongConfigError(`${at}.name: expected a string`);
    if (p["enabled"] === false) throw new KongConfigError(`${at}: disabled plugins are not implemented`);
    httpProtocols(at, p["protocols"]);
    const config = p["config"] ?? {};
    if (!isObj(config)) throw new KongConfigError(`${at}.config: expected an object`);
    if (p["name"] === RATE_LIMITING) parseRateLimitingConfig(at, config);
    return { name: p["name"], config };
  });
}

export function parseKongConfig(text: string): KongConfig {
  const doc: unknown = parse(text);
  if (!isObj(doc)) throw new KongConfigError("kong.yml: expected a mapping at the top level");
  onlyKeys("kong.yml", doc, ["_format_version", "_transform", "services", "plugins", "consumers"]);
  if (doc["_format_version"] !== "3.0") throw new KongConfigError(`kong.yml: _format_version must be "3.0"`);
  const services: ServiceDef[] = [];
  const routes: RouteDef[] = [];
  const rawServices = doc["services"] ?? [];
  if (!Array.isArray(rawServices)) throw new KongConfigError("services: expected a list");
  rawServices.forEach((s: unknown, i) => {
    const at = `services[${i}]`;
    if (!isObj(s)) throw new KongConfigError(`${at}: expected an object`);
    onlyKeys(at, s, [
      "name",
      "url",
      "routes",
      "plugins",
      "tags",
      "connect_timeout",
      "read_timeout",
      "write_timeout",
      "retries",
    ]);
    if (typeof s["name"] !== "string" || typeof s["url"] !== "string")
      throw new KongConfigError(`${at}: name and url are required`);
    const service: ServiceDef = { name: s["name"], url: s["url"], plugins: plugins(at, s["plugins"]) };
    const rawRoutes = s["routes"] ?? [];
    if (!Array.isArray(rawRoutes)) throw new KongConfigError(`${at}.routes: expected a list`);
    rawRoutes.forEach((r: unknown, j) => {
      const rat = `${at}.routes[${j}]`;
      if (!isObj(r)) throw new KongConfigError(`${rat}: expected an object`);
      onlyKeys(rat, r, [
        "name",
        "paths",
        "methods",
        "strip_path",
        "preserve_host",
        "plugins",
        "protocols",
        "tags",
        "path_handling",
      ]);
      if (typeof r["name"] !== "string") throw new KongConfigError(`${rat}.name: expected a string`);
      if (r["path_handling"] !== undefined && r["path_handling"] !== "v0")
        throw new KongConfigError(`${rat}: only path_handling v0 (Kong's default) is implemented`);
      httpProtocols(rat, r["protocols"]);
      const paths = stringList(`${rat}.paths`, r["paths"]);
      if (paths.length === 0)
        throw new KongConfigError(`${rat}.paths: at least one path (routing by host or header is not implemented)`);
      for (const p of paths) {
        if (!p.startsWith("/"))
          throw new KongConfigError(`${rat}.paths: "${p}" must start with "/" (regex paths are not implemented)`);
      }
      routes.push({
        name: r["name"],
        service,
        paths,
        methods:
          r["methods"] === undefined
            ? undefined
            : stringList(`${rat}.methods`, r["methods"]).map((m) => m.toUpperCase()),
        // Kong's defaults: strip_path true, preserve_host false.
        stripPath: r["strip_path"] === undefined ? true : r["strip_path"] === true,
        preserveHost: r["preserve_host"] === true,
        plugins: plugins(rat, r["plugins"]),
      });
    });
    services.push(service);
  });
  return {
    services,
    routes,
    globalPlugins: plugins("kong.yml", doc["plugins"]),
    consumers: consumers(doc["consumers"], Math.floor(Date.now() / 1000)),
  };
}

/**
 * `consumers:` as Kong's consumer schema takes them (kong/db/schema/entities/consumers.lua):
 * `username` and `custom_id` unique strings, at least one of them; `id` a UUID; `tags` strings.
 * Credentials nested under a consumer, its plugins and groups are not implemented.
 */
function consumers(value: unknown, loadedAt: number): Consumer[] {
  if (value === undefined) return [];
  if (!Array.isArray(value)) throw new KongConfigError("consumers: expected a list");
  const taken = { id: new Set<string>(), username: new Set<string>(), custom_id: new Set<string>() };
  return value.map((c: unknown, i) => {
    const at = `consumers[${i}]`;
    if (!isObj(c)) throw new KongConfigError(`${at}: expected an object`);
    onlyKeys(at, c, ["id", "username", "custom_id", "tags"]);
    const username = optionalString(at, "username", c["username"]);
    const customId = optionalString(at, "custom_id", c["custom_id"]);
    if (username === undefined && customId === undefined)
      throw new KongConfigError(`${at}: at least one of these fields must be non-empty: 'custom_id', 'username'`);
    const id = optionalString(at, "id", c["id"]) ?? declarativeConsumerId(username);
    if (!isKongUuid(id)) throw new KongConfigError(`${at}.id: expected a valid UUID`);
    const tags = c["tags"] === undefined ? undefined : stringList(`${at}.tags`, c["tags"]);
    for (const [field, v] of [
      ["username", username],
      ["custom_id", customId],
      ["id", id],
    ] as const) {
      if (v === undefined) continue;
      if (taken[field].has(v)) throw new KongConfigError(`${at}.${field}: "${v}" is not unique among the consumers`);
      taken[field].add(v);
    }
    return {
      id,
      created_at: loadedAt,
      updated_at: loadedAt,
      ...(username === undefined ? {} : { username }),
      ...(customId === undefined ? {} : { custom_id: customId }),
      ...(tags === undefined ? {} : { tags }),
    };
  });
}

function optionalString(where: string, field: string, value: unknown): string | undefined {
  if (value === undefined) return undefined;
  // Kong's strings have an implicit len_min = 1.
  if (typeof value !== "string" || value === "")
    throw new KongConfigError(`${where}.${field}: expected a non-empty string`);
  return value;
}

/**
 * The id Kong's declarative loader gives a consumer without one (kong/db/schema/others/
 * declarative_config.lua generate_ids): the consumer schema has no cache_key and its endpoint_key
 * `username` is unique, so the id is a version 5 UUID of the username in the "consumers"
 * namespace, itself the version 5 UUID of "consumers" in Kong's entity namespace — deterministic,
 * the same on every load. A consumer with only a custom_id gets no generated key there and a
 * random UUID later (process_auto_fields), as here.
 */
export function declarativeConsumerId(username: string | undefined): string {
  return username === undefined ? randomUUID() : uuidV5(CONSUMERS_NAMESPACE, username);
}

/** declarative_config.lua `uuid_generators._entities`. */
const ENTITIES_NAMESPACE = "fd02801f-0957-4a15-a55a-c8d9606f30b5";

/**
 * RFC 9562 §5.5 (name-based, SHA-1), as lua-resty-jit-uuid's factory_v5 computes it: SHA-1 of
 * the namespace's 16 bytes and the name, version 5 and the RFC variant set.
 */
export function uuidV5(namespace: string, name: string): string {
  const hash = createHash("sha1")
    .update(Buffer.from(namespace.replaceAll("-", ""), "hex"))
    .update(name, "utf8")
    .digest();
  hash.writeUInt8((hash.readUInt8(6) & 0x0f) | 0x50, 6);
  hash.writeUInt8((hash.readUInt8(8) & 0x3f) | 0x80, 8);
  const hex = hash.subarray(0, 16).toString("hex");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20, 32)}`;
}

const CONSUMERS_NAMESPACE = uuidV5(ENTITIES_NAMESPACE, "consumers");

export function loadKongConfig(path: string): KongConfig {
  return parseKongConfig(readFileSync(path, "utf8"));
}

/**
 * The plugins that run for a route: Kong applies the most specific configuration of each plugin
 * (route over service over global).
 */
export function effectivePlugins(route: RouteDef, globalPlugins: readonly PluginEntry[]): PluginEntry[] {
  const byName = new Map<string, PluginEntry>();
  for (const p of [...globalPlugins, ...route.service.plugins, ...route.plugins]) byName.set(p.name, p);
  return [...byName.values()];
}
