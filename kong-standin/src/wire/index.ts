// The Kong wire harness: Kong's side of the plugin-server socket, without HTTP.
export {
  spawnPluginServer,
  PluginServerProcess,
  DEFAULT_SERVER_COMMAND,
  STOCK_SERVER_COMMAND,
  DEFAULT_PLUGINS_DIRECTORY,
  KONG_SOCKET_TIMEOUT_MS,
  type PluginServerProtocol,
  type SpawnOptions,
  type InstanceIds,
  type RpcCounters,
} from "./plugin-server-process.js";
export {
  MsgPackPluginInstance,
  type PluginInstance,
  type AccessResult,
  type ExitResult,
  type ProceedResult,
  type FailedOpenResult,
  type RpcTransport,
} from "./plugin-instance.js";
export {
  validatePluginConfig,
  type PluginInfo,
  type PluginConfig,
  type FieldDefinition,
  type FieldList,
} from "./schema.js";
export { resolveReferences, isReference, type VaultEnvironment, type ResolvedConfig } from "./vault.js";
export { type WireRequest, type LogEntry, type Authenticated, type LuaTable } from "./pdk.js";
export { consumerDirectory, isKongUuid, NO_CONSUMERS, type Consumer, type ConsumerDirectory } from "./consumers.js";
export { RpcRemoteError, RpcTransportError, PluginConfigError, PluginServerStartError } from "./errors.js";
export { RpcConnection } from "./connection.js";
export { ProtobufPluginInstance, MAX_EVENT_RETRIES } from "./protobuf/plugin-instance.js";
export { ProtobufRpc, CallFailure, RaisedError, type RpcCommand } from "./protobuf/rpc.js";
export { MessageReader, FrameError } from "oauth2-jwt/framing";
