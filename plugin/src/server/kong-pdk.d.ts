// Types for the parts of kong-pdk 0.6.0 we reuse; the package ships JavaScript without
// declarations for its server internals (only the PDK surface in kong-pdk/kong).

declare module "kong-pdk/lib/pipe.js" {
  class PipePair {
    getPair(): [PipePair.Pipe, PipePair.Pipe];
  }
  namespace PipePair {
    /** One end of an in-process channel between the RPC side and a running plugin phase. */
    interface Pipe {
      get(): Promise<unknown>;
      put(value: unknown): void;
    }
  }
  export = PipePair;
}

declare module "kong-pdk/pdk.js" {
  import PipePair from "kong-pdk/lib/pipe.js";
  /** The `kong` object handed to a plugin phase: a Proxy that turns calls into PDK requests. */
  class Kong {
    constructor(pipe: PipePair.Pipe);
    readonly kong: object;
  }
  export = Kong;
}

declare module "kong-pdk/lib/mod.js" {
  /** A loaded plugin module (its exports Plugin, Name, Version, Priority, Schema). */
  class Module {
    constructor(name: string, path: string);
    readonly name: string;
    new(config: unknown): Instance;
    getName(): string;
    getMTime(): number;
    getLoadTime(): number;
    getPhases(): string[];
    getPriority(): number;
    getVersion(): unknown;
    getSchema(): unknown;
    getLastStartInstanceTime(): number;
    getLastCloseInstanceTime(): number;
  }
  /** One configured plugin instance: `new Plugin(config)`. */
  class Instance {
    readonly name: string;
    isExpired(ttlSeconds?: number): boolean;
    resetExpireTs(): unknown;
    close(): void;
    executePhase(phase: string, kong: object): unknown;
    getName(): string;
    getConfig(): unknown;
    getStartTime(): number;
    getLastUsedTime(): number;
  }
  export { Module, Instance };
}
