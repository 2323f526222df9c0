// Kong's answers to the PDK calls a plugin makes during one request (kong/pdk/*.lua as exposed
// by kong/runloop/plugin_servers/plugin.lua and rpc/mp_rpc.lua), computed from the request at
// hand. Header maps go back as StepMultiMap with every value an array (mp_rpc.lua fix_mmap);
// a nil result goes back without a Data key; an error return becomes StepError; an argument
// error Kong raises in Lua ends the request with a 500.
import { isKongUuid, NO_CONSUMERS, type Consumer, type ConsumerDirectory } from "./consumers.js";

/** The request a test or the stand-in gateway hands to the plugin. */
export interface WireRequest {
  method: string;
  /** Path, optionally with `?query`. */
  path: string;
  headers: Record<string, string | string[]>;
  /** Initial `kong.ctx.shared` (what earlier plugins, e.g. the guard's pre-function, stored). */
  ctxShared?: Record<string, unknown>;
  /** The consumers kong.client.load_consumer looks up (none when absent). */
  consumers?: ConsumerDirectory;
  /** What an earlier plugin of the request passed to kong.client.authenticate (ngx.ctx). */
  authenticated?: Authenticated;
}

/** A Lua table a plugin handed to Kong: a JSON object or array. */
export type LuaTable = Record<string, unknown> | unknown[];

/** ngx.ctx.authenticated_consumer and authenticated_credential, as kong.client.authenticate left them. */
export interface Authenticated {
  consumer?: LuaTable;
  credential?: LuaTable;
}

/** The response `kong.response.exit` ends a request with. */
export interface PdkExit {
  status: number;
  body: unknown;
  rawBody: string;
  headers: Record<string, string[]>;
}

export type PdkAnswer =
  | { kind: "step"; stepMethod: StepMethod; data: unknown }
  | ({ kind: "exit" } & PdkExit)
  | { kind: "lua-error"; message: string };

/** An exit answer's response, without its kind. */
export function exitOf({ status, body, rawBody, headers }: PdkExit): PdkExit {
  return { status, body, rawBody, headers };
}

/**
 * How Kong sends a PDK result back over MessagePack-RPC (mp_rpc.lua get_step_method): consumers
 * as StepConsumer, credentials (and authenticate's nil) as StepCredential, header maps as
 * StepMultiMap, anything else as Step.
 */
export type StepMethod =
  "plugin.Step" | "plugin.StepError" | "plugin.StepMultiMap" | "plugin.StepConsumer" | "plugin.StepCredential";

export interface LogEntry {
  level: string;
  message: string;
}

const LOG_LEVELS = new Set(["debug", "info", "notice", "warn", "err", "crit", "alert", "emerg"]);

// Kong's default bodies for kong.response.error (kong/tools/http.lua get_default_exit_body).
const DEFAULT_MESSAGES: Partial<Record<number, string>> = {
  400: "Bad request",
  401: "Unauthorized",
  403: "Forbidden",
  404: "Not found",
  405: "Method not allowed",
  500: "An unexpected error occurred",
  502: "An invalid response was received from the upstream server",
  503: "The upstream server is currently unavailable",
  504: "The upstream server is timing out",
};

type HeaderLine = [name: string, value: string];

/** The mutable state of one request as Kong holds it while the plugin runs. */
export class RequestContext {
  /** Request headers in order, as they will be sent upstream (names keep their spelling). */
  private lines: HeaderLine[];
  readonly ctxShared: Map<string, unknown>;
  readonly logs: LogEntry[] = [];
  private readonly method: string;
  private readonly path: string;
  private readonly rawQuery: string;
  private readonly consumers: ConsumerDirectory;
  private consumer: LuaTable | undefined;
  private credential: LuaTable | undefined;

  constructor(request: WireRequest) {
    this.method = request.method.toUpperCase();
    const question = request.path.indexOf("?");
    this.path = question < 0 ? request.path : request.path.slice(0, question);
    this.rawQuery = question < 0 ? "" : request.path.slice(question + 1);
    this.lines = [];
    for (const [name, value] of Object.entries(request.headers)) {
      for (const item of Array.isArray(value) ? value : [value]) this.lines.push([name, item]);
    }
    this.ctxShared = new Map(Object.entries(request.ctxShared ?? {}));
    this.consumers = request.consumers ?? NO_CONSUMERS;
    this.consumer = request.authenticated?.consumer;
    this.credential = request.authenticated?.credential;
  }

  /** What kong.client.authenticate recorded (or the request started with). */
  get authenticated(): Authenticated {
    return {
      ...(this.consumer === undefined ? {} : { consumer: this.consumer }),
      ...(this.credential === undefined ? {} : { credential: this.credential }),
    };
  }

  /** `{ authenticated }` for a phase's result, or nothing when no one is authenticated. */
  authenticatedResult(): { authenticated?: Authenticated } {
    return this.consumer === undefined && this.credential === undefined ? {} : { authenticated: this.authenticated };
  }

  /** Headers the upstream would receive: lower-case names, values in order. */
  upstreamHeaders(): Record<string, string[]> {
    const out: Record<string, string[]> = {};
    for (const [name, value] of this.lines) appendValue(out, name.toLowerCase(), value);
    return out;
  }

  /** Answers one PDK call. */
  answer(method: string, args: unknown[]): PdkAnswer {
    try {
      return this.dispatch(method, args);
    } catch (error) {
      if (error instanceof LuaError) return { kind: "lua-error", message: `${method}: ${error.message}` };
      throw error;
    }
  }

  private dispatch(method: string, args: unknown[]): PdkAnswer {
    const [first, second, third] = args;
    switch (method) {
      case "kong.request.get_headers":
        return multiMap(this.requestHeaderMap(first));
      case "kong.request.get_header":
        return step(this.requestHeader(first));
      case "kong.request.get_method":
        return step(this.method);
      case "kong.request.get_path":
        return step(this.path);
      case "kong.request.get_raw_query":
        return step(this.rawQuery);
      case "kong.request.get_query":
        return multiMap(this.queryMap(first));
      case "kong.request.get_scheme":
        return step("http");
      case "kong.service.request.set_headers":
        this.setHeaders(first);
        return step(undefined);
      case "kong.service.request.set_header":
        this.setHeader(first, second);
        return step(undefined);
      case "kong.service.request.add_header":
        this.addHeader(first, second);
        return step(undefined);
      case "kong.service.request.clear_header":
        this.clearHeader(first);
        return step(undefined);
      case "kong.response.exit":
        return exitAnswer(first, second, third);
      case "kong.response.error":
        return errorAnswer(first, second, third);
      case "kong.client.load_consumer":
        return stepAs("plugin.StepConsumer", this.loadConsumer(first, second));
      case "kong.client.get_consumer":
        return stepAs("plugin.StepConsumer", this.consumer);
      case "kong.client.get_credential":
        return stepAs("plugin.StepCredential", this.credential);
      case "kong.client.authenticate":
        this.authenticate(first, second);
        return stepAs("plugin.StepCredential", undefined);
      case "kong.ctx.shared.get":
        return step(this.ctxShared.get(String(first)));
      case "kong.ctx.shared.set":
        this.ctxShared.set(String(first), second);
        return step(undefined);
      default: {
        const level = method.startsWith("kong.log.") ? method.slice("kong.log.".length) : undefined;
        if (level !== undefined && LOG_LEVELS.has(level)) {
          this.logs.push({
            level,
            message: args.map((arg) => (typeof arg === "string" ? arg : JSON.stringify(arg))).join(""),
          });
          return step(undefined);
        }
        // Kong itself logs "could not find pdk method" and answers nil; the harness answers an
        // error instead so that a plugin relying on an unanswered PDK call fails loudly in tests.
        return {
          kind: "step",
          stepMethod: "plugin.StepError",
          data: `PDK method ${method} is not implemented by the Kong stand-in`,
        };
      }
    }
  }

  // kong.client.load_consumer(consumer_id, search_by_username), Kong 3.9.3 (kong/pdk/client.lua):
  // a non-string id, or one that is not a UUID without search_by_username, raises; a UUID is
  // looked up by id first, then (search_by_username) by username; nil when neither matches.
  private loadConsumer(id: unknown, searchByUsername: unknown): Consumer | undefined {
    if (typeof id !== "string") throw new LuaError("consumer_id must be a string");
    const byUsername = luaTruthy(searchByUsername);
    const uuid = isKongUuid(id);
    if (!uuid && !byUsername) throw new LuaError("cannot load a consumer with an id that is not a uuid");
    try {
      const found = uuid ? this.consumers.byId(id) : undefined;
      if (found !== undefined) return found;
      return byUsername ? this.consumers.byUsername(id) : undefined;
    } catch (error) {
      // A failure Kong raises inside the lookup (consumers.ts): the request ends with a 500.
      throw new LuaError(`consumer lookup failed: ${error instanceof Error ? error.message : String(error)}`);
    }
  }

  // kong.client.authenticate(consumer, credential): each a table or nil, not both nil; recorded in
  // ngx.ctx for later plugins (kong.client.get_consumer / get_credential, rate-limiting's limit_by).
  private authenticate(consumer: unknown, credential: unknown): void {
    if (!isTableOrNil(consumer)) throw new LuaError("consumer must be a table or nil");
    if (!isTableOrNil(credential)) throw new LuaError("credential must be a table or nil");
    if (isNil(consumer) && isNil(credential)) throw new LuaError("either credential or consumer must be provided");
    this.consumer = isNil(consumer) ? undefined : consumer;
    this.credential = isNil(credential) ? undefined : credential;
  }

  // kong.request.get_headers(max): at most `max` header lines (default 100, 1..1000), names
  // lower-cased as ngx.req.get_headers returns them (underscores kept).
  private requestHeaderMap(max: unknown): Record<string, string[]> {
    const limit = max === undefined || max === null ? 100 : max;
    if (typeof limit !== "number" || !Number.isInteger(limit)) throw new LuaError("max_headers must be a number");
    if (limit < 1) throw new LuaError("max_headers must be >= 1");
    if (limit > 1000) throw new LuaError("max_headers must be <= 1000");
    const out: Record<string, string[]> = {};
    for (const [name, value] of this.lines.slice(0, limit)) appendValue(out, name.toLowerCase(), value);
    return out;
  }

  // kong.request.get_header(name), Kong 3.9 (kong/tools/http.lua get_header): nginx's
  // $http_<name> (case-insensitive, `-` and `_` alike, several lines joined with ", "); when that
  // value contains ", " it looks the name up in ngx.req.get_headers() instead (keys as sent,
  // lower-cased; the lookup name lower-cased with `_` turned into `-`) and returns the first value.
  private requestHeader(name: unknown): string | undefined {
    if (typeof name !== "string") throw new LuaError("header name must be a string");
    const wanted = foldVariable(name);
    const values = this.lines.filter(([line]) => foldVariable(line) === wanted).map(([, value]) => value);
    if (values.length === 0) return undefined;
    const variable = values.join(", ");
    if (!variable.includes(", ")) return variable;
    // The table's own key first (rawget), then its __index normalisation.
    const lines = this.lines.slice(0, 100);
    const exact = lines.find(([line]) => line.toLowerCase() === name);
    if (exact !== undefined) return exact[1];
    const normalised = name.toLowerCase().replaceAll("_", "-");
    return lines.find(([line]) => line.toLowerCase() === normalised)?.[1];
  }

  private queryMap(max: unknown): Record<string, string[]> {
    const limit = max === undefined || max === null ? 100 : Number(max);
    const out: Record<string, string[]> = {};
    let count = 0;
    for (const [key, value] of new URLSearchParams(this.rawQuery)) {
      if (count++ >= limit) break;
      appendValue(out, key, value);
    }
    return out;
  }

  // kong.service.request.set_headers: validated first (checks.validate_headers), then each
  // name replaces every line of that name (ngx.req.set_header, case-insensitive, `_` ≠ `-`);
  // an empty array removes it; "" becomes " " (checks.normalize_multi_header).
  private setHeaders(headers: unknown): void {
    if (!isPlainObject(headers)) throw new LuaError("headers must be a table");
    const normalised: Array<[string, string[]]> = [];
    for (const [name, value] of Object.entries(headers)) {
      if (Array.isArray(value)) {
        if (!value.every((item) => typeof item === "string"))
          throw new LuaError(`invalid header value in array "${name}": got non-string, expected string`);
        normalised.push([name, value.map(blankToSpace)]);
      } else if (typeof value === "string" || typeof value === "number" || typeof value === "boolean") {
        normalised.push([name, [blankToSpace(String(value))]]);
      } else {
        throw new LuaError(
          `invalid header value for "${name}": got ${typeof value}, expected string, number, boolean or array of strings`,
        );
      }
    }
    for (const [name, values] of normalised) this.replace(name, values);
  }

  private setHeader(name: unknown, value: unknown): void {
    this.replace(headerName(name), [headerValue(name, value)]);
  }

  private addHeader(name: unknown, value: unknown): void {
    this.lines.push([headerName(name), headerValue(name, value)]);
  }

  private clearHeader(name: unknown): void {
    this.replace(headerName(name), []);
  }

  private replace(name: string, values: string[]): void {
    const lower = name.toLowerCase();
    this.lines = this.lines.filter(([line]) => line.toLowerCase() !== lower);
    for (const value of values) this.lines.push([name, value]);
  }
}

/** A Lua error() Kong's PDK raises on a bad argument: the request ends with a 500. */
class LuaError extends Error {}

function step(value: unknown): PdkAnswer {
  return { kind: "step", stepMethod: "plugin.Step", data: value };
}

function stepAs(stepMethod: StepMethod, value: unknown): PdkAnswer {
  return { kind: "step", stepMethod, data: value };
}

/** Lua's truth: everything but nil and false (a MessagePack nil arrives as null). */
function luaTruthy(value: unknown): boolean {
  return value !== undefined && value !== null && value !== false;
}

function isNil(value: unknown): value is undefined | null {
  return value === undefined || value === null;
}

function isTableOrNil(value: unknown): value is LuaTable | undefined | null {
  return isNil(value) || typeof value === "object";
}

function multiMap(map: Record<string, string[]>): PdkAnswer {
  return { kind: "step", stepMethod: "plugin.StepMultiMap", data: map };
}

// kong.response.exit(status, body, headers): a table body is JSON-encoded with
// `Content-Type: application/json; charset=utf-8` unless the plugin set one.
function exitAnswer(status: unknown, body: unknown, headers: unknown): PdkAnswer {
  if (typeof status !== "number" || !Number.isInteger(status)) throw new LuaError("code must be a number");
  if (status < 100 || status > 599) throw new LuaError("code must be between 100 and 599");
  const responseHeaders = exitHeaders(headers);
  let rawBody = "";
  if (typeof body === "string") {
    rawBody = body;
  } else if (body !== undefined && body !== null) {
    if (typeof body !== "object") throw new LuaError("body must be a nil, string or table");
    rawBody = JSON.stringify(body);
    responseHeaders["content-type"] ??= ["application/json; charset=utf-8"];
  }
  return { kind: "exit", status, body: parseBody(rawBody), rawBody, headers: responseHeaders };
}

function errorAnswer(status: unknown, message: unknown, headers: unknown): PdkAnswer {
  if (typeof status !== "number" || !Number.isInteger(status) || status < 400 || status > 599) {
    throw new LuaError("code must be an integer and be between 400 and 599");
  }
  const text =
    typeof message === "string"
      ? message
      : (DEFAULT_MESSAGES[status] ?? `The upstream server responded with ${String(status)}`);
  return exitAnswer(status, { message: text }, headers);
}

function exitHeaders(headers: unknown): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  if (headers === undefined || headers === null) return out;
  if (!isPlainObject(headers)) throw new LuaError("headers must be a nil or table");
  for (const [name, value] of Object.entries(headers)) {
    const values = Array.isArray(value) ? value : [value];
    for (const item of values) {
      if (typeof item !== "string" && typeof item !== "number" && typeof item !== "boolean") {
        throw new LuaError(
          `invalid header value for "${name}": got ${typeof item}, expected string, number or boolean`,
        );
      }
      appendValue(out, name.toLowerCase(), blankToSpace(String(item)));
    }
  }
  return out;
}

function parseBody(raw: string): unknown {
  if (raw === "") return "";
  try {
    return JSON.parse(raw) as unknown;
  } catch {
    return raw;
  }
}

function headerName(name: unknown): string {
  if (typeof name !== "string")
    throw new LuaError(`invalid header name "${String(name)}": got ${typeof name}, expected string`);
  return name;
}

function headerValue(name: unknown, value: unknown): string {
  if (typeof value === "string" || typeof value === "number" || typeof value === "boolean")
    return blankToSpace(String(value));
  throw new LuaError(
    `invalid header value for "${String(name)}": got ${typeof value}, expected string, number or boolean`,
  );
}

function blankToSpace(value: string): string {
  return value === "" ? " " : value;
}

// Header and query names are the client's choice and Kong's Lua tables take any of them as a key:
// "__proto__" or "constructor" must be an own key here too, never the object's prototype.
function appendValue(map: Record<string, string[]>, key: string, value: string): void {
  const values = Object.hasOwn(map, key) ? map[key] : undefined;
  if (values !== undefined) values.push(value);
  // Assigning "__proto__" would replace the prototype; every other name assigns an own key.
  else if (key === "__proto__")
    Object.defineProperty(map, key, { value: [value], enumerable: true, writable: true, configurable: true });
  else map[key] = [value];
}

function foldVariable(name: string): string {
  return name.toLowerCase().replaceAll("-", "_");
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
