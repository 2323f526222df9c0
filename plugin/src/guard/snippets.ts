// The Lua snippets Kong's bundled serverless plugins run around this plugin, read from their one
// source in plugin/guard/ (two folders up from both src/guard/ and dist/guard/). The declarative
// files carry them byte for byte (test/deploy/kong-yml.test.ts); the plugin itself never loads
// this module.

import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";

// From __filename rather than __dirname: tsx, which runs the sources in tests, sets only the former.
const snippet = (file: string): string => readFileSync(join(dirname(__filename), "..", "..", "guard", file), "utf8");

/** The guard's first part, on every protected route's pre-function, after the stripping. */
export const PRE_FUNCTION_LUA = snippet("pre-function.lua");
/** The guard's second part: the post-function on every protected route. */
export const POST_FUNCTION_LUA = snippet("post-function.lua");
/** The service-level pre-function removing client-sent identity headers, first in every pre-function. */
export const STRIP_IDENTITY_HEADERS_LUA = snippet("strip-identity-headers.lua");
