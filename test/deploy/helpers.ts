import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parse } from "yaml";

export const ROOT = resolve(fileURLToPath(new URL(".", import.meta.url)), "../..");
export const KONG_YML = join(ROOT, "kong.yml");
/** The declarative file for a plugin server started with `--protocol msgpack`: kong.yml plus the fail-closed guard. */
export const KONG_MSGPACK_YML = join(ROOT, "plugin/examples/kong.msgpack.yml");
/** Both shipped declarative files, each checked the same way. */
export const DECLARATIVE_FILES = [KONG_YML, KONG_MSGPACK_YML] as const;
/** The declarative file of docker-compose.ha.yml: kong.yml's photos service, and the issuer balanced over two sidecars. */
export const KONG_HA_YML = join(ROOT, "kong.ha.yml");

export interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
}

export function run(
  command: string,
  args: readonly string[],
  options: { cwd?: string; input?: string; env?: NodeJS.ProcessEnv } = {},
): Run {
  const result = spawnSync(command, args, {
    cwd: options.cwd ?? ROOT,
    input: options.input,
    env: options.env ?? process.env,
    encoding: "utf8",
    timeout: 60_000,
  });
  if (result.error) throw result.error;
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

/** A temporary directory removed after `fn`. */
export function withTempDir<T>(fn: (dir: string) => T): T {
  const dir = mkdtempSync(join(tmpdir(), "deploy-test-"));
  try {
    return fn(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export function writeFile(dir: string, name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

/** A service of `docker-compose config`'s output (the fields the tests read). */
export interface ComposeService {
  build?: { context: string; dockerfile: string; args?: Record<string, string> };
  image?: string;
  command?: string[];
  environment?: Record<string, string>;
  ports?: unknown[];
  expose?: string[];
  volumes?: unknown[];
  secrets?: { source: string }[];
  depends_on?: Record<string, { condition: string }>;
  healthcheck?: { test: string[] };
  profiles?: string[];
}

export interface ResolvedCompose {
  services: Record<string, ComposeService>;
  volumes: Record<string, unknown>;
  secrets?: Record<string, { file: string }>;
}

/** The compose file as Debian's docker-compose 1.29.2 resolves it (`docker-compose -f <file> config`), which must accept it. */
export function resolvedCompose(file: string): ResolvedCompose {
  const result = run("docker-compose", ["-f", file, "config"]);
  assert.equal(result.status, 0, result.stderr);
  return parse(result.stdout) as ResolvedCompose;
}

export interface KongYmlPlugin {
  name: string;
  config: Record<string, unknown>;
}

export interface KongYmlRoute {
  name: string;
  paths: string[];
  /** Absent: every method (the issuer's routes in kong.ha.yml leave methods to the server). */
  methods?: string[];
  strip_path: boolean;
  plugins?: KongYmlPlugin[];
}

export interface KongYmlUpstream {
  name: string;
  algorithm?: string;
  healthchecks?: Record<string, unknown>;
  targets?: { target: string; weight?: number }[];
}

export interface KongYml {
  _format_version: string;
  upstreams?: KongYmlUpstream[];
  services: { name: string; url: string; plugins?: KongYmlPlugin[]; routes: KongYmlRoute[] }[];
}

export function readKongYml(path: string = KONG_YML): { text: string; doc: KongYml } {
  const text = readFileSync(path, "utf8");
  return { text, doc: parse(text) as KongYml };
}

export interface Snippet {
  /** e.g. `service flickr pre-function access[0]` or `route flickr-profile post-function access[1]`. */
  where: string;
  plugin: string;
  code: string;
}

/** Every serverless (pre-/post-function) Lua snippet of a declarative file, service and route level, with where it sits. */
export function serverlessSnippets(doc: KongYml): Snippet[] {
  const out: Snippet[] = [];
  const collect = (owner: string, plugins: readonly KongYmlPlugin[] | undefined): void => {
    for (const plugin of plugins ?? []) {
      if (plugin.name !== "pre-function" && plugin.name !== "post-function") continue;
      const access = plugin.config["access"];
      if (!Array.isArray(access)) throw new Error(`${owner}: ${plugin.name} has no access list`);
      access.forEach((code: unknown, i) =>
        out.push({ where: `${owner} ${plugin.name} access[${i}]`, plugin: plugin.name, code: String(code) }),
      );
    }
  };
  for (const service of doc.services) {
    collect(`service ${service.name}`, service.plugins);
    for (const route of service.routes) collect(`route ${route.name}`, route.plugins);
  }
  return out;
}
