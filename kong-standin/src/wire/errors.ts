// Errors of the wire harness, each with a stable `code`.

/** The plugin server answered an RPC with an error string (msgpack-RPC response error slot). */
export class RpcRemoteError extends Error {
  override readonly name = "RpcRemoteError";
  readonly code = "ERR_RPC_REMOTE";
  constructor(
    readonly method: string,
    readonly remoteMessage: string,
  ) {
    super(`${method}: ${remoteMessage}`);
  }
}

/** The RPC never got an answer: socket refused, closed, broken frame or timeout. */
export class RpcTransportError extends Error {
  override readonly name = "RpcTransportError";
  readonly code = "ERR_RPC_TRANSPORT";
  constructor(
    readonly method: string,
    readonly reason: string,
  ) {
    super(`${method}: ${reason}`);
  }
}

/** A plugin config Kong would refuse (its schema validation), with errors by field path. */
export class PluginConfigError extends Error {
  override readonly name = "PluginConfigError";
  readonly code = "ERR_PLUGIN_CONFIG";
  constructor(
    readonly plugin: string,
    readonly errors: Readonly<Record<string, string>>,
  ) {
    super(
      `schema violation for plugin ${plugin} (${Object.entries(errors)
        .map(([path, message]) => `${path}: ${message}`)
        .join("; ")})`,
    );
  }
}

/** The plugin server process could not be started or queried. */
export class PluginServerStartError extends Error {
  override readonly name = "PluginServerStartError";
  readonly code = "ERR_PLUGIN_SERVER_START";
}
