// Messages of Kong's ProtoBuf:1 plugin-server protocol, and the conversion between JavaScript
// values and each PDK method's argument and result messages, both ways: the plugin server
// encodes a call's arguments and decodes Kong's result; the Kong side (the stand-in harness)
// decodes the arguments and encodes the result. The conversions mirror what Kong's pb_rpc.lua
// does with its `pb_wrap`/`pb_unwrap` tables, so a value crosses the socket as it would to and
// from real Kong. The wire work (varints, UTF-8, nested lengths) is protobufjs's.
import { parse, Reader, Root, type Message, type Method, type Type } from "protobufjs";
import { PLUGIN_SOCKET_PROTO, WELL_KNOWN_PROTO } from "./definitions.js";

/** Bytes that are not the message they claim to be, or a value a message cannot carry. */
export class ProtocolError extends Error {
  override readonly name = "ProtocolError";
}

const root = new Root();
// keepCase: the field names stay those of the .proto (`instance_id`, `string_value`), which are
// the names every value below is built with.
parse(WELL_KNOWN_PROTO, root, { keepCase: true });
parse(PLUGIN_SOCKET_PROTO, root, { keepCase: true });
root.resolveAll();

const PACKAGE = "kong_plugin_protocol";
const type = (name: string): Type => root.lookupType(name);
const RpcCallType = type(`${PACKAGE}.RpcCall`);
const RpcReturnType = type(`${PACKAGE}.RpcReturn`);

// ---------------------------------------------------------------------------------------------
// The RPC envelope

/** One command in an RpcCall, as Kong's pb_rpc.lua builds it (`{ sequence, [method] = data }`). */
export interface RpcCall {
  readonly sequence: number;
  readonly cmd_get_plugin_names?: Record<string, never>;
  readonly cmd_get_plugin_info?: { readonly name: string };
  /** `config` is the instance's configuration as JSON text (Kong's cjson_encode of it). */
  readonly cmd_start_instance?: { readonly name: string; readonly config: string };
  readonly cmd_get_instance_status?: { readonly instance_id: number };
  readonly cmd_close_instance?: { readonly instance_id: number };
  readonly cmd_handle_event?: { readonly instance_id: number; readonly event_name: string };
}

export interface PluginInfoMessage {
  readonly name: string;
  readonly updated_at: number;
  readonly loaded_at: number;
  readonly phases: readonly string[];
  readonly version: string;
  readonly priority: number;
  /** The plugin's schema as JSON text. */
  readonly schema: string;
}

export interface InstanceStatusMessage {
  readonly name: string;
  readonly instance_id: number;
  /** The instance's configuration, as a google.protobuf.Value. */
  readonly config: unknown;
  /** Seconds since the epoch. */
  readonly started_at: number;
}

/** The plugin server's answer, with the RpcCall's sequence and at most one result. */
export interface RpcReturn {
  readonly sequence: number;
  readonly plugin_names?: { readonly names: readonly string[] };
  readonly plugin_info?: PluginInfoMessage;
  readonly instance_status?: InstanceStatusMessage;
}

export function encodeRpcCall(call: RpcCall): Uint8Array {
  const message: Record<string, unknown> = { sequence: call.sequence };
  if (call.cmd_get_plugin_names !== undefined) message.cmd_get_plugin_names = {};
  if (call.cmd_get_plugin_info !== undefined) message.cmd_get_plugin_info = call.cmd_get_plugin_info;
  if (call.cmd_start_instance !== undefined) {
    message.cmd_start_instance = {
      name: call.cmd_start_instance.name,
      config: Buffer.from(call.cmd_start_instance.config, "utf8"),
    };
  }
  if (call.cmd_get_instance_status !== undefined) message.cmd_get_instance_status = call.cmd_get_instance_status;
  if (call.cmd_close_instance !== undefined) message.cmd_close_instance = call.cmd_close_instance;
  if (call.cmd_handle_event !== undefined) message.cmd_handle_event = call.cmd_handle_event;
  return encodeChecked(RpcCallType, message);
}

/**
 * Decodes an RpcCall. A command this protocol does not define (a newer Kong's) leaves every
 * command field unset; bytes that are not an RpcCall throw ProtocolError.
 */
export function decodeRpcCall(bytes: Uint8Array): RpcCall {
  const message = decodeChecked(RpcCallType, bytes);
  const sequence = int64(message.sequence);
  switch (message.call) {
    case "cmd_get_plugin_names":
      return { sequence, cmd_get_plugin_names: {} };
    case "cmd_get_plugin_info":
      return { sequence, cmd_get_plugin_info: { name: str(field(message, "cmd_get_plugin_info").name) } };
    case "cmd_start_instance": {
      const command = field(message, "cmd_start_instance");
      return { sequence, cmd_start_instance: { name: str(command.name), config: text(command.config) } };
    }
    case "cmd_get_instance_status":
      return {
        sequence,
        cmd_get_instance_status: { instance_id: num(field(message, "cmd_get_instance_status").instance_id) },
      };
    case "cmd_close_instance":
      return { sequence, cmd_close_instance: { instance_id: num(field(message, "cmd_close_instance").instance_id) } };
    case "cmd_handle_event": {
      const command = field(message, "cmd_handle_event");
      return {
        sequence,
        cmd_handle_event: { instance_id: num(command.instance_id), event_name: str(command.event_name) },
      };
    }
    default:
      return { sequence };
  }
}

export function encodeRpcReturn(reply: RpcReturn): Uint8Array {
  const message: Record<string, unknown> = { sequence: reply.sequence };
  if (reply.plugin_names !== undefined) message.plugin_names = { names: [...reply.plugin_names.names] };
  if (reply.plugin_info !== undefined)
    message.plugin_info = { ...reply.plugin_info, phases: [...reply.plugin_info.phases] };
  if (reply.instance_status !== undefined) {
    message.instance_status = { ...reply.instance_status, config: toValue(reply.instance_status.config, 0) };
  }
  return encodeChecked(RpcReturnType, message);
}

export function decodeRpcReturn(bytes: Uint8Array): RpcReturn {
  const message = decodeChecked(RpcReturnType, bytes);
  const sequence = int64(message.sequence);
  switch (message.return) {
    case "plugin_names":
      return { sequence, plugin_names: { names: strings(field(message, "plugin_names").names) } };
    case "plugin_info": {
      const info = field(message, "plugin_info");
      return {
        sequence,
        plugin_info: {
          name: str(info.name),
          updated_at: int64(info.updated_at),
          loaded_at: int64(info.loaded_at),
          phases: strings(info.phases),
          version: str(info.version),
          priority: num(info.priority),
          schema: str(info.schema),
        },
      };
    }
    case "instance_status": {
      const status = field(message, "instance_status");
      return {
        sequence,
        instance_status: {
          name: str(status.name),
          instance_id: num(status.instance_id),
          config: fromValue(status.config),
          started_at: int64(status.started_at),
        },
      };
    }
    default:
      return { sequence };
  }
}

// ---------------------------------------------------------------------------------------------
// The PDK method table

export interface PdkMethod {
  /** The name on the wire: Kong's PDK function, e.g. `kong.request.get_headers`. */
  readonly name: string;
  /** The message its arguments travel in, e.g. `kong_plugin_protocol.Int`. */
  readonly input: string;
  /** The message its result travels in, e.g. `google.protobuf.Struct`. */
  readonly output: string;
}

/**
 * Kong's name for a method of `service Kong` (pb_rpc.lua load_service): its MethodName option if
 * it has one, else `Kong.Request_GetHeaders` with `_` read as `.` and each lower-case letter
 * (and the digits after it) followed by a capital split with `_`, lower-cased:
 * `kong.request.get_headers`, `kong.nginx.get_tls1_version_str`.
 */
function pdkMethodName(serviceName: string, method: Method): string {
  const option: unknown = method.options?.["(MethodName)"];
  if (typeof option === "string") return option;
  return `${serviceName}.${method.name}`
    .replace(/_/g, ".")
    .replace(/([a-z]\d*)([A-Z])/g, "$1_$2")
    .toLowerCase();
}

interface ResolvedPdkMethod extends PdkMethod {
  readonly inputType: Type;
  readonly outputType: Type;
}

const PDK_METHOD_TABLE: ReadonlyMap<string, ResolvedPdkMethod> = (() => {
  const service = root.lookupService(`${PACKAGE}.Kong`);
  const table = new Map<string, ResolvedPdkMethod>();
  for (const method of service.methodsArray) {
    const inputType = method.resolvedRequestType as Type;
    const outputType = method.resolvedResponseType as Type;
    const name = pdkMethodName(service.name, method);
    table.set(name, { name, input: fullName(inputType), output: fullName(outputType), inputType, outputType });
  }
  return table;
})();

/** Every PDK method Kong serves over ProtoBuf:1, by its name on the wire. */
export const PDK_METHODS: ReadonlyMap<string, PdkMethod> = new Map(
  [...PDK_METHOD_TABLE].map(([name, { input, output }]) => [name, Object.freeze({ name, input, output })]),
);

function pdkMethod(name: string): ResolvedPdkMethod {
  const method = PDK_METHOD_TABLE.get(name);
  if (method === undefined) throw new ProtocolError(`${name} is not a PDK method of Kong's ProtoBuf:1 protocol`);
  return method;
}

// ---------------------------------------------------------------------------------------------
// PDK arguments and results

/**
 * How the arguments of a call travel in its input message: Kong's `pb_unwrap` turns the message
 * back into the PDK function's arguments (`kong.service.request.set_header(k, v)` from a KV).
 * Input types without an entry carry one argument, the message itself as a plain object.
 */
interface ArgsCodec {
  toMessage(args: readonly unknown[]): Record<string, unknown>;
  fromMessage(message: Message): unknown[];
}

/** What a result becomes in its output message (Kong's `pb_wrap`), and back. */
interface ResultCodec {
  toMessage(value: unknown): Record<string, unknown>;
  fromMessage(message: Message): unknown;
}

const wrapper = (kind: "bool" | "int" | "number" | "string" | "bytes"): ResultCodec => ({
  toMessage: (v: unknown) => (v === undefined || v === null ? {} : { v: kind === "bytes" ? bytes(v) : v }),
  fromMessage: (message: Message) => {
    const v = (message as unknown as { v: unknown }).v;
    return kind === "bytes" ? text(v) : v;
  },
});

/** The `{ v }` wrappers: one argument, or the result, in field 1 (pb_rpc.lua wrap_val/unwrap_val). */
const WRAPPERS: Readonly<Partial<Record<string, "bool" | "int" | "number" | "string" | "bytes">>> = {
  [`${PACKAGE}.Bool`]: "bool",
  [`${PACKAGE}.Int`]: "int",
  [`${PACKAGE}.Number`]: "number",
  [`${PACKAGE}.String`]: "string",
  [`${PACKAGE}.ByteString`]: "bytes",
};

const ARGS: Readonly<Partial<Record<string, ArgsCodec>>> = {
  "google.protobuf.Empty": { toMessage: () => ({}), fromMessage: () => [] },
  "google.protobuf.Value": { toMessage: ([v]) => toValue(v, 0), fromMessage: (m) => [fromValue(m)] },
  // Kong unpacks a ListValue into as many arguments (kong.log.err(a, b, ...)).
  "google.protobuf.ListValue": { toMessage: (args) => toList(args, 0), fromMessage: (m) => fromList(m) },
  "google.protobuf.Struct": { toMessage: ([v]) => toStruct(v, 0), fromMessage: (m) => [fromStruct(m)] },
  [`${PACKAGE}.KV`]: {
    toMessage: ([k, v]) => ({ k: stringArg(k, "key"), v: toValue(v, 0) }),
    fromMessage: (m) => [str(fieldOf(m, "k")), fromValue(fieldOf(m, "v"))],
  },
  [`${PACKAGE}.Target`]: {
    toMessage: ([host, port]) => ({ host, port }),
    fromMessage: (m) => [str(fieldOf(m, "host")), num(fieldOf(m, "port"))],
  },
  [`${PACKAGE}.ExitArgs`]: {
    toMessage: ([status, body, headers]) => exitArgs(status, body, headers),
    // An absent headers Struct is nil to Kong's structpb_struct; an absent body reads as "".
    fromMessage: (m) => {
      const headers = fieldOf(m, "headers") as Message | null | undefined;
      return [num(fieldOf(m, "status")), text(fieldOf(m, "body")), headers == null ? undefined : fromStruct(headers)];
    },
  },
  [`${PACKAGE}.ConsumerSpec`]: {
    toMessage: ([id, by_username]) => ({ id, by_username }),
    fromMessage: (m) => [str(fieldOf(m, "id")), fieldOf(m, "by_username") === true],
  },
  [`${PACKAGE}.AuthenticateArgs`]: {
    toMessage: ([consumer, credential]) => ({ consumer, credential }),
    fromMessage: (m) => [plainField(m, "consumer"), plainField(m, "credential")],
  },
};

const RESULTS: Readonly<Partial<Record<string, ResultCodec>>> = {
  "google.protobuf.Empty": { toMessage: () => ({}), fromMessage: () => undefined },
  "google.protobuf.Value": { toMessage: (v) => toValue(v, 0), fromMessage: (m) => fromValue(m) },
  "google.protobuf.ListValue": {
    toMessage: (v) => toList(Array.isArray(v) ? v : [], 0),
    fromMessage: (m) => fromList(m),
  },
  "google.protobuf.Struct": { toMessage: (v) => toStruct(v ?? {}, 0), fromMessage: (m) => fromStruct(m) },
  // Kong answers the body, else the file nginx buffered it to, else an error.
  [`${PACKAGE}.RawBodyResult`]: {
    toMessage: (v) =>
      typeof v === "string" || v instanceof Uint8Array
        ? { content: bytes(v) }
        : isRecord(v)
          ? v
          : { error: "Can't read request body" },
    fromMessage: (m) => {
      const kind = (m as unknown as { kind?: string }).kind;
      return kind === "content" ? text(fieldOf(m, "content")) : plain(m);
    },
  },
};

/**
 * kong.response.exit's arguments. ExitArgs carries the body as bytes; a JavaScript plugin may
 * pass an object, which Kong's PDK would encode as JSON with the content type
 * `application/json; charset=utf-8` unless one is given (kong/pdk/response.lua): done here, so
 * the response is the one the plugin asked for.
 */
function exitArgs(status: unknown, body: unknown, headers: unknown): Record<string, unknown> {
  const message: Record<string, unknown> = { status };
  let headerFields = headers === undefined || headers === null ? undefined : toStruct(headers, 0);
  if (isRecord(body) || Array.isArray(body)) {
    message.body = Buffer.from(JSON.stringify(body), "utf8");
    const fields = (headerFields?.fields ?? {}) as Record<string, unknown>;
    if (!Object.keys(fields).some((name) => name.toLowerCase() === "content-type")) {
      headerFields = { fields: { ...fields, "Content-Type": toValue("application/json; charset=utf-8", 0) } };
    }
  } else if (body !== undefined && body !== null) {
    message.body = bytes(body);
  }
  if (headerFields !== undefined) message.headers = headerFields;
  return message;
}

function argsCodec(method: ResolvedPdkMethod): ArgsCodec {
  const kind = WRAPPERS[method.input];
  if (kind !== undefined) {
    const codec = wrapper(kind);
    return { toMessage: (args) => codec.toMessage(args[0]), fromMessage: (m) => [codec.fromMessage(m)] };
  }
  return ARGS[method.input] ?? { toMessage: ([v]) => (isRecord(v) ? v : {}), fromMessage: (m) => [plain(m)] };
}

function resultCodec(method: ResolvedPdkMethod): ResultCodec {
  const kind = WRAPPERS[method.output];
  if (kind !== undefined) return wrapper(kind);
  return RESULTS[method.output] ?? { toMessage: (v) => (isRecord(v) ? v : {}), fromMessage: (m) => plain(m) };
}

const ARGS_CODECS = new Map<string, ArgsCodec>();
const RESULT_CODECS = new Map<string, ResultCodec>();
for (const method of PDK_METHOD_TABLE.values()) {
  ARGS_CODECS.set(method.name, argsCodec(method));
  RESULT_CODECS.set(method.name, resultCodec(method));
}

/** The arguments of a PDK call as its input message (what the plugin server sends). */
export function encodePdkArgs(method: string, args: readonly unknown[]): Uint8Array {
  const pdk = pdkMethod(method);
  return encodeChecked(pdk.inputType, (ARGS_CODECS.get(method) as ArgsCodec).toMessage(args), method);
}

/** The arguments Kong passes to the PDK function, from the call's input message. */
export function decodePdkArgs(method: string, message: Uint8Array): unknown[] {
  const pdk = pdkMethod(method);
  return (ARGS_CODECS.get(method) as ArgsCodec).fromMessage(decodeChecked(pdk.inputType, message, method));
}

/**
 * The PDK function's result as the call's output message (what Kong replies). A nil result is
 * the empty message, as Kong's call_pdk replies "" when its wrapped reply is nil.
 */
export function encodePdkResult(method: string, value: unknown): Uint8Array {
  const pdk = pdkMethod(method);
  if (value === undefined || value === null) {
    if (pdk.output === "google.protobuf.Value") return encodeChecked(pdk.outputType, toValue(null, 0), method);
    return new Uint8Array(0);
  }
  return encodeChecked(pdk.outputType, (RESULT_CODECS.get(method) as ResultCodec).toMessage(value), method);
}

/**
 * The result of a PDK call, from Kong's reply. proto3 cannot tell an absent string from "": a
 * String reply of nil (an absent header) reads as "".
 */
export function decodePdkResult(method: string, message: Uint8Array): unknown {
  const pdk = pdkMethod(method);
  return (RESULT_CODECS.get(method) as ResultCodec).fromMessage(decodeChecked(pdk.outputType, message, method));
}

// ---------------------------------------------------------------------------------------------
// google.protobuf.Value, ListValue and Struct as JSON-like values (pb_rpc.lua's structpb_*)

/** Nesting a value may have; protobufjs refuses to decode deeper than 100 messages anyway. */
const MAX_VALUE_DEPTH = 32;

function toValue(value: unknown, depth: number): Record<string, unknown> {
  if (value === undefined || value === null) return { null_value: 0 };
  switch (typeof value) {
    case "boolean":
      return { bool_value: value };
    case "number":
      return { number_value: value };
    case "string":
      return { string_value: value };
    default:
  }
  // Kong's Lua strings are bytes: a Uint8Array travels as a string, as MessagePack would carry it.
  if (value instanceof Uint8Array) return { string_value: text(value) };
  if (Array.isArray(value)) return { list_value: toList(value, depth + 1) };
  if (isRecord(value)) return { struct_value: toStruct(value, depth + 1) };
  throw new ProtocolError(`a ${typeof value} cannot travel in a google.protobuf.Value`);
}

function toList(values: readonly unknown[], depth: number): Record<string, unknown> {
  if (depth > MAX_VALUE_DEPTH) throw new ProtocolError(`a value nested deeper than ${MAX_VALUE_DEPTH}`);
  return { values: values.map((value) => toValue(value, depth)) };
}

function toStruct(value: unknown, depth: number): Record<string, unknown> {
  if (depth > MAX_VALUE_DEPTH) throw new ProtocolError(`a value nested deeper than ${MAX_VALUE_DEPTH}`);
  if (!isRecord(value)) throw new ProtocolError(`a google.protobuf.Struct needs an object, not ${describeType(value)}`);
  const fields: Record<string, unknown> = {};
  for (const key of Object.keys(value)) put(fields, key, toValue(value[key], depth));
  return { fields };
}

/** A decoded google.protobuf.Value (any message, or none) as the JSON value it holds. */
function fromValue(message: unknown): unknown {
  if (!isRecord(message)) return null;
  const value: Record<string, unknown> & { kind?: unknown } = message;
  switch (value.kind) {
    case "number_value":
    case "string_value":
    case "bool_value":
      return value[value.kind];
    case "struct_value":
      return fromStruct(value.struct_value as Message);
    case "list_value":
      return fromList(value.list_value as Message);
    default:
      // null_value (Kong sends 1, an undeclared enum number, for nil), or no kind at all.
      return null;
  }
}

function fromList(message: Message): unknown[] {
  const values = (message as unknown as { values?: Message[] }).values ?? [];
  return values.map((value) => fromValue(value));
}

function fromStruct(message: Message): Record<string, unknown> {
  const fields = (message as unknown as { fields?: Record<string, Message> }).fields ?? {};
  const result: Record<string, unknown> = {};
  for (const key of Object.keys(fields)) put(result, key, fromValue(fields[key]));
  return result;
}

// ---------------------------------------------------------------------------------------------
// Helpers

/**
 * Sets an own property even for `__proto__` (a header name a client may send: nginx runs with
 * underscores_in_headers on), where assignment would replace the object's prototype instead.
 */
function put(target: Record<string, unknown>, key: string, value: unknown): void {
  if (key === "__proto__")
    Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
  else target[key] = value;
}

function encodeChecked(
  messageType: Type,
  message: Record<string, unknown>,
  context = fullName(messageType),
): Uint8Array {
  // protobufjs encodes what it is given without looking: a string where a number belongs would
  // travel as 0. verify names the first field that does not fit.
  const problem = messageType.verify(message);
  if (problem !== null) throw new ProtocolError(`${context}: ${problem}`);
  return messageType.encode(message).finish();
}

function decodeChecked(
  messageType: Type,
  bytes: Uint8Array,
  context = fullName(messageType),
): Message & Record<string, unknown> {
  try {
    return messageType.decode(Reader.create(bytes));
  } catch (error) {
    throw new ProtocolError(
      `${context}: not a ${fullName(messageType)} message (${error instanceof Error ? error.message : String(error)})`,
    );
  }
}

function fullName(messageType: Type): string {
  return messageType.fullName.replace(/^\./, "");
}

/** A oneof member of a decoded message, known to be set. */
function field(message: Message & Record<string, unknown>, name: string): Record<string, unknown> {
  return message[name] as Record<string, unknown>;
}

function fieldOf(message: Message, name: string): unknown {
  return (message as unknown as Record<string, unknown>)[name];
}

/** A decoded message as a plain object: int64 as numbers, bytes as Buffers. */
function plain(message: Message): Record<string, unknown> {
  return message.$type.toObject(message, { longs: Number });
}

function plainField(message: Message, name: string): Record<string, unknown> | undefined {
  const value = fieldOf(message, name) as Message | null | undefined;
  return value == null ? undefined : plain(value);
}

function int64(value: unknown): number {
  if (typeof value === "number") return value;
  // With the `long` package installed, protobufjs decodes int64 as Long objects.
  if (typeof value === "object" && value !== null && "toNumber" in value && typeof value.toNumber === "function")
    return Number((value as { toNumber: () => unknown }).toNumber());
  return 0;
}

function num(value: unknown): number {
  return typeof value === "number" ? value : 0;
}

function str(value: unknown): string {
  return typeof value === "string" ? value : "";
}

function strings(value: unknown): string[] {
  return Array.isArray(value) ? value.filter((item): item is string => typeof item === "string") : [];
}

const utf8 = new TextDecoder();

/** A bytes field as text (Lua strings are bytes; JavaScript plugins see text, as with MessagePack). */
function text(value: unknown): string {
  return value instanceof Uint8Array ? utf8.decode(value) : typeof value === "string" ? value : "";
}

function bytes(value: unknown): Uint8Array {
  if (value instanceof Uint8Array) return value;
  if (typeof value === "string") return Buffer.from(value, "utf8");
  throw new ProtocolError(`bytes expected, got ${describeType(value)}`);
}

function stringArg(value: unknown, what: string): string {
  if (typeof value !== "string") throw new ProtocolError(`${what}: string expected, got ${describeType(value)}`);
  return value;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value) && !(value instanceof Uint8Array);
}

function describeType(value: unknown): string {
  return value === null ? "null" : Array.isArray(value) ? "an array" : typeof value;
}
