// Plugin loading through kong-pdk's own lib/mod.js (Module/Instance), so a plugin is read
// exactly as kong-js-pluginserver reads it: `Plugin`, `Name`, `Version`, `Priority`, `Schema`
// and the phases its class defines.
import fs from "node:fs";
import NodeModule from "node:module";
import path from "node:path";
import type { Logger } from "./logger.js";

// lib/mod.js starts with `require('ts-node').register()`, which loads TypeScript 4.9 into every
// server (about 78 MB resident) so that `.ts` plugins can be compiled on the fly. We ship
// compiled JavaScript, so before mod.js is first required we put a stand-in for ts-node into
// Node's public module cache (`require.cache`) whose register() does nothing. kong-pdk's code
// then runs unchanged; only the TypeScript hook is absent, and a `.ts` file in the plugins
// directory fails to load with a logged warning instead of being compiled.
function neutraliseTsNode(): void {
  const modPath = require.resolve("kong-pdk/lib/mod.js");
  let tsNodePath: string;
  try {
    tsNodePath = require.resolve("ts-node", { paths: [path.dirname(modPath)] });
  } catch {
    return; // Not installed: mod.js fails on its own require, reported by loadPlugins.
  }
  if (require.cache[tsNodePath] !== undefined) return;
  const stub = new NodeModule(tsNodePath);
  stub.filename = tsNodePath;
  stub.loaded = true;
  stub.exports = { register: (): void => undefined };
  require.cache[tsNodePath] = stub;
}

neutraliseTsNode();
// An ES import would be hoisted above neutraliseTsNode(); this require must run after it.
// eslint-disable-next-line @typescript-eslint/no-require-imports -- the load order above is the point
import mod = require("kong-pdk/lib/mod.js");

export type PluginModule = mod.Module;
export type PluginInstance = mod.Instance;

// The extensions kong-pdk's server.js accepts (`''` is a directory with an index file).
const VALID_EXTENSIONS = new Set([".js", ".ts", ".node", ".cjs", ""]);

/**
 * Loads every plugin file of `directory`, keyed by plugin name (its `Name` export, lower-cased).
 * A file that fails to load is logged and skipped, as kong-js-pluginserver does.
 */
export function loadPlugins(directory: string, logger: Logger): Map<string, PluginModule> {
  const plugins = new Map<string, PluginModule>();
  for (const file of fs.readdirSync(directory).sort()) {
    if (file.startsWith(".") || file.includes("node_modules")) continue;
    let filePath: string;
    try {
      filePath = require.resolve(path.join(directory, file));
    } catch (error) {
      logger.warn(`skipping ${file} in ${directory}: ${describe(error)}`);
      continue;
    }
    const { name, ext } = path.parse(filePath);
    if (name === "" || !VALID_EXTENSIONS.has(ext)) continue;
    try {
      const plugin = new mod.Module(name, filePath);
      const existing = plugins.get(plugin.name);
      if (existing !== undefined) {
        logger.warn(`plugin "${plugin.name}" already loaded; ignoring ${filePath}`);
        continue;
      }
      plugins.set(plugin.name, plugin);
      logger.debug(`loaded plugin "${plugin.name}" from ${filePath}`);
    } catch (error) {
      logger.warn(`error loading plugin from ${filePath}: ${error instanceof Error ? error.stack : String(error)}`);
    }
  }
  return plugins;
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
