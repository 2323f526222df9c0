// Types for scripts/seed-demo.mjs (imported by the tests).
export declare const DEMO: {
  readonly username: string;
  readonly password: string;
  readonly audience: string;
  readonly scopes: readonly { name: string; description: string }[];
  readonly clientName: string;
  readonly clientScopes: readonly string[];
  readonly redirectUri: string;
  readonly gatewayClientName: string;
};

/** The environment variables kong.yml's vault references name, for the gateway file's credentials. */
export declare function gatewayEnvironment(credentials: { client_id: string; client_secret: string }): {
  OAUTH2_JWT_FEED_CLIENT_ID: string;
  OAUTH2_JWT_FEED_SECRET: string;
};

export interface SeedOptions {
  db: string;
  canonFile: string;
  /** Default: gateway-client.json beside canonFile. */
  gatewayFile?: string;
  redirectUri?: string;
  cliPath?: string;
}

export interface SeedResult {
  username: string;
  password: string;
  clientId: string;
  canonFile: string;
  gatewayClientId: string;
  gatewayFile: string;
  created: string[];
}

export declare function seedDemo(options: SeedOptions): Promise<SeedResult>;
