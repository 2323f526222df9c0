import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parse } from "yaml";

export const ROOT = resolve(fileURLToPath(new URL(".", import.meta.url)), "../..");
export const KONG_YML = join(ROOT, "kong.yml");

export interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
}

export function run(command: string, args: readonly string[], options: { cwd?: string; input?: string } = {}): Run {
  const result = spawnSync(command, args, { cwd: options.cwd ?? ROOT, input: options.input, encoding: "utf8", timeout: 60_000 });
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

export interface KongYmlPlugin {
  name: string;
  config: Record<string, unknown>;
}

export interface KongYmlRoute {
  name: string;
  paths: string[];
  methods: string[];
  strip_path: boolean;
  plugins?: KongYmlPlugin[];
}

export interface KongYml {
  _format_version: string;
  services: { name: string; url: string; routes: KongYmlRoute[] }[];
}

export function readKongYml(): { text: string; doc: KongYml } {
  const text = readFileSync(KONG_YML, "utf8");
  return { text, doc: parse(text) as KongYml };
}

/** Every serverless (pre-/post-function) Lua snippet in kong.yml, with where it sits. */
export function guardSnippets(doc: KongYml): { where: string; plugin: string; code: string }[] {
  const out: { where: string; plugin: string; code: string }[] = [];
  for (const service of doc.services) {
    for (const route of service.routes) {
      for (const plugin of route.plugins ?? []) {
        if (plugin.name !== "pre-function" && plugin.name !== "post-function") continue;
        const access = plugin.config["access"];
        if (!Array.isArray(access)) throw new Error(`${route.name}: ${plugin.name} has no access list`);
        access.forEach((code: unknown, i) => out.push({ where: `${route.name} ${plugin.name} access[${i}]`, plugin: plugin.name, code: String(code) }));
      }
    }
  }
  return out;
}
