/**
 * Kong's bundled serverless plugins (`pre-function`, `post-function`) as the stand-in runs them:
 * each Lua snippet of a plugin's `access` array is one the stand-in mirrors in TypeScript, run in
 * the array's order as Kong's serverless handler does (kong/plugins/pre-function/_handler.lua); a
 * snippet that exits ends the request there, as `kong.response.exit` does in the access phase. A
 * snippet the stand-in does not know is refused at load time, so a test never passes against Lua
 * that nothing has checked.
 */
import { KongConfigError } from "./errors.js";
import { POST_FUNCTION_LUA, PRE_FUNCTION_LUA, STRIP_IDENTITY_HEADERS_LUA } from "oauth2-jwt/guard/snippets";
import {
  newRequestId,
  postFunction,
  preFunction,
  type GuardContinue,
  type GuardExit,
  type SharedContext,
} from "./guard.js";
import type { HeaderMap } from "./headers.js";
import { stripIdentityHeaders } from "./identity-headers.js";
import { POST_FUNCTION, PRE_FUNCTION } from "./plugins.js";

/** One mirrored snippet: the request headers in, an exit or the headers to carry on with out. */
export type Snippet = (headers: HeaderMap, shared: SharedContext, requestId: () => string) => GuardExit | GuardContinue;

const SNIPPETS: Partial<Record<string, ReadonlyMap<string, Snippet>>> = {
  [PRE_FUNCTION]: new Map<string, Snippet>([
    [STRIP_IDENTITY_HEADERS_LUA, (headers) => stripIdentityHeaders(headers)],
    [PRE_FUNCTION_LUA, preFunction],
  ]),
  [POST_FUNCTION]: new Map<string, Snippet>([[POST_FUNCTION_LUA, (headers, shared) => postFunction(headers, shared)]]),
};

export function isServerlessPlugin(name: string): boolean {
  return name in SNIPPETS;
}

/** The mirrors of a serverless plugin's `access` snippets, in order; anything else is refused. */
export function serverlessSnippets(routeName: string, plugin: string, config: Record<string, unknown>): Snippet[] {
  const known = SNIPPETS[plugin];
  const access = config["access"];
  const extra = Object.keys(config).filter((k) => k !== "access");
  const snippets = Array.isArray(access)
    ? access.map((code: unknown) => (typeof code === "string" ? known?.get(code) : undefined))
    : [];
  if (known === undefined || snippets.length === 0 || extra.length > 0 || snippets.some((s) => s === undefined)) {
    throw new KongConfigError(
      `route ${routeName}: its ${plugin} is not Lua this stand-in mirrors (plugin/guard/*.lua, mirrored by kong-standin/src/gateway/guard.ts and identity-headers.ts); update them together`,
    );
  }
  return snippets as Snippet[];
}

/** Runs the snippets in order; the first exit ends the request. */
export function runSnippets(
  snippets: readonly Snippet[],
  request: HeaderMap,
  shared: SharedContext,
  requestId: () => string = newRequestId,
): GuardExit | GuardContinue {
  let headers = request;
  for (const snippet of snippets) {
    const result = snippet(headers, shared, requestId);
    if (result.outcome === "exit") return result;
    headers = result.headers;
  }
  return { outcome: "continue", headers };
}
