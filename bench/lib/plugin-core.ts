// Adapter between the benchmark and the plugin's pure validation core (plugin/src/core/).
import type { Signer } from "./jwt.js";

/** The sidecar's default signing algorithm, which the fresh-token target is measured against. */
export const PLUGIN_DEFAULT_ALGORITHM = "ES256";

export interface PluginVerifierSetup {
  signer: Signer;
  issuer: string;
  audience: string;
  nowSeconds: number;
}

export interface PluginVerifier {
  /** Validates one token through the plugin's core; throws if the core refuses a valid token. */
  verify(token: string): Promise<void> | void;
}

export async function createPluginVerifier(_setup: PluginVerifierSetup): Promise<PluginVerifier> {
  throw new Error("the plugin's validation core (plugin/src/core/) is not in the tree yet");
}
