// Kong's ProtoBuf:1 plugin-server protocol (Kong 3.x pb_rpc.lua; the one Kong picks when the
// query command answers `{"Protocol": "ProtoBuf:1", "Plugins": [...]}`), for both ends of the
// socket: the plugin server (connection.ts) and the stand-in for Kong in the tests.
//
// The conversation on one connection, per RpcCall:
//   Kong   → frame(RpcCall { sequence, cmd_* })
//   for cmd_handle_event only, each PDK call the plugin makes:
//     server → frame(method name, e.g. "kong.request.get_headers"), frame(encodePdkArgs(...))
//     Kong   → frame(encodePdkResult(...))  (an empty frame for Empty or a nil result; nothing
//              for kong.response.exit in the access phase: Kong ends the request, and closes
//              the connection with it)
//   server → frame("")  (cmd_handle_event only: no more PDK calls)
//   server → frame(RpcReturn { sequence, one result or none })
//
// API:
// - Framing (framing.ts): `encodeFrame(bytes)` prefixes the 4-byte little-endian length;
//   `new FrameReader(maxFrameBytes?)`, `.push(chunk)` returns the frames the chunk completes
//   (Uint8Array, or OversizedFrame as soon as a length over the limit is read, whose bytes are
//   then skipped unread), `.pendingBytes`, `.clear()`. DEFAULT_MAX_FRAME_BYTES is 1 MiB.
// - Envelope (codec.ts): `encodeRpcCall(call)`, `decodeRpcCall(bytes)`, `encodeRpcReturn(reply)`,
//   `decodeRpcReturn(bytes)`, with `RpcCall`/`RpcReturn` shaped as the messages (snake_case
//   fields, one `cmd_*` or result field set; none set for a command this protocol lacks).
// - PDK calls (codec.ts): `PDK_METHODS` maps each wire name (`kong.service.request.set_headers`)
//   to its input and output message names. `encodePdkArgs(method, args)` and
//   `decodePdkArgs(method, bytes)` convert the call's arguments, `encodePdkResult(method, value)`
//   and `decodePdkResult(method, bytes)` its result, as Kong's pb_wrap/pb_unwrap do:
//   Bool/Int/Number/String/ByteString are `{ v }` (one argument, or the result); KV is (k, v);
//   ExitArgs is (status, body, headers); Target is (host, port); ConsumerSpec is (id,
//   by_username); AuthenticateArgs is (consumer, credential); ListValue is any number of
//   arguments (a list as a result); Struct and Value are JSON-like values (a list for
//   ListValue, an object for Struct, null for null_value); any other message is one plain object.
//   Bytes cross as UTF-8 text.
// - Errors: ProtocolError for bytes that are not the message expected, a value a message cannot
//   carry, or a method Kong's protocol lacks.
export {
  decodePdkArgs,
  decodePdkResult,
  decodeRpcCall,
  decodeRpcReturn,
  encodePdkArgs,
  encodePdkResult,
  encodeRpcCall,
  encodeRpcReturn,
  PDK_METHODS,
  ProtocolError,
  type InstanceStatusMessage,
  type PdkMethod,
  type PluginInfoMessage,
  type RpcCall,
  type RpcReturn,
} from "./codec.js";
export {
  DEFAULT_MAX_FRAME_BYTES,
  encodeFrame,
  FRAME_HEADER_BYTES,
  FrameReader,
  OversizedFrame,
  type Frame,
} from "./framing.js";
export { PLUGIN_SOCKET_PROTO, WELL_KNOWN_PROTO } from "./definitions.js";
