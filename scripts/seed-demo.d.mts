// Types for scripts/seed-demo.mjs (imported by the tests).
export declare const DEMO: {
  readonly username: string;
  readonly password: string;
  readonly audience: string;
  readonly scopes: readonly { name: string; description: string }[];
  readonly clientName: string;
  readonly clientScopes: readonly string[];
  readonly redirectUri: string;
};

export interface SeedOptions {
  db: string;
  canonFile: string;
  redirectUri?: string;
  cliPath?: string;
}

export interface SeedResult {
  username: string;
  password: string;
  clientId: string;
  canonFile: string;
  created: string[];
}

export declare function seedDemo(options: SeedOptions): Promise<SeedResult>;
