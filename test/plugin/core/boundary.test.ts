// The plugin's pure core owns its vocabulary and knows nothing of Kong: every module under
// plugin/src/core imports only node's built-ins and its sibling core modules. Kong's schema
// (plugin/src/schema.ts), the configuration reader and the handler import from the core, never
// the other way round.
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";

const CORE = join(import.meta.dirname, "../../../plugin/src/core");

/** Every module specifier a TypeScript source imports or re-exports, static or dynamic. */
function specifiers(source: string): string[] {
  const found: string[] = [];
  for (const match of source.matchAll(/\b(?:from|import)\s*\(?\s*"([^"]+)"/g)) found.push(match[1]);
  return found;
}

/** A specifier the core may use: a node built-in, or a sibling module in the same folder. */
const allowed = (specifier: string): boolean => specifier.startsWith("node:") || /^\.\/[\w-]+\.js$/.test(specifier);

describe("plugin/src/core", () => {
  const modules = readdirSync(CORE).filter((name) => name.endsWith(".ts"));

  it("holds the modules the boundary check reads", () => {
    assert.ok(modules.includes("authenticate.ts") && modules.includes("algorithms.ts"), modules.join(", "));
  });

  for (const name of modules) {
    it(`${name} imports only node built-ins and sibling core modules`, () => {
      const outside = specifiers(readFileSync(join(CORE, name), "utf8")).filter((s) => !allowed(s));
      assert.deepEqual(outside, []);
    });
  }

  it("the check sees an import from outside the core (it can fail)", () => {
    const source = 'import type { PluginConfig } from "../schema.js";\nimport { x } from "./jwks.js";\n';
    assert.deepEqual(
      specifiers(source).filter((s) => !allowed(s)),
      ["../schema.js"],
    );
  });
});
