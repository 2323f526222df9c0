import { existsSync, readFileSync } from "node:fs";
import { createInterface } from "node:readline";
import { Writable } from "node:stream";
import { Command, CommanderError, Option } from "commander";
import { checkLifetimes, defaultLifetimes, defaults, minimumKeyActivateAfter } from "./config.js";
import { parseSigningAlgorithm, signingAlgorithms } from "./keys/algorithms.js";
import { checkPasswordPolicy, hashPassword } from "./passwords.js";
import { digest, generateId, generateSecret } from "./secrets.js";
import { KeyEncryptionKey, keyEncryptionKeyFrom, kekSources } from "./storage/encryption.js";
import { openSqliteStorage } from "./storage/sqlite/index.js";
import type { Client, KeyEncryptionStatus, Storage } from "./storage/types.js";

/** A mistake of the user of the CLI: printed as one line on stderr, exit code 1. */
class UsageError extends Error {}

interface CommonOptions {
  db: string;
  json?: boolean;
  kekFile?: string;
}

const knownGrantTypes = ["authorization_code", "refresh_token", "client_credentials"] as const;

function common(command: Command): Command {
  return command
    .addOption(new Option("--db <path>", "SQLite database file").env("AUTHZ_DB").default(defaults.db))
    .addOption(
      new Option(
        "--kek-file <path>",
        "key-encryption key (32 bytes, hex or base64url) sealing signing keys and server secrets; or AUTHZ_KEK",
      ).env("AUTHZ_KEK_FILE"),
    )
    .option("--json", "print machine-readable JSON only");
}

function print(options: CommonOptions, json: unknown, text: string): void {
  process.stdout.write(options.json ? `${JSON.stringify(json, null, 2)}\n` : `${text}\n`);
}

/** Every command but `init` and `serve` works on an existing database: a mistyped --db must not create a new one. */
function withStorage<T>(options: CommonOptions, fn: (storage: Storage) => T | Promise<T>): Promise<T> {
  const path = checkDb(options.db);
  if (!existsSync(path))
    throw new UsageError(`database ${path} does not exist; create it with: authz-server init --db ${path}`);
  const storage = openSqliteStorage(path, storageOptions(options));
  return Promise.resolve()
    .then(() => fn(storage))
    .finally(() => storage.close());
}

/** An empty path would make SQLite open a private temporary database and silently lose every write. */
function checkDb(path: string): string {
  if (path.trim() === "") throw new UsageError("--db must name a file");
  return path;
}

/** The operator's key-encryption key, if one is given (storage/encryption.ts). */
function keyEncryptionKeyOf(options: CommonOptions): KeyEncryptionKey | undefined {
  return keyEncryptionKeyFrom(options.kekFile, process.env["AUTHZ_KEK"]);
}

function storageOptions(options: CommonOptions): { keyEncryptionKey?: KeyEncryptionKey } {
  const keyEncryptionKey = keyEncryptionKeyOf(options);
  return keyEncryptionKey === undefined ? {} : { keyEncryptionKey };
}

function keyEncryptionJson(status: KeyEncryptionStatus) {
  return {
    kek_id: status.kekId,
    encrypted: { signing_keys: status.sealed.signingKeys, server_secrets: status.sealed.serverSecrets },
    in_the_clear: { signing_keys: status.inTheClear.signingKeys, server_secrets: status.inTheClear.serverSecrets },
  };
}

function keyEncryptionText(status: KeyEncryptionStatus): string {
  const counted = (n: number, noun: string) => `${n} ${noun}${n === 1 ? "" : "s"}`;
  const counts = (c: { signingKeys: number; serverSecrets: number }) =>
    `${counted(c.signingKeys, "signing key")}, ${counted(c.serverSecrets, "server secret")}`;
  return status.kekId === null
    ? `not encrypted at rest: ${counts(status.inTheClear)} in the clear`
    : `encrypted at rest under key-encryption key ${status.kekId}: ${counts(status.sealed)}`;
}

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

const wholeNumber = (name: string) => (value: string) => {
  if (!/^\d+$/.test(value)) throw new UsageError(`${name} must be a whole number, got ${JSON.stringify(value)}`);
  return Number(value);
};

/** A TCP port; 0 lets the system pick a free one. Checked here, or Node's RangeError would be the message. */
const portNumber = (value: string) => {
  const port = /^\d{1,5}$/.test(value) ? Number(value) : NaN;
  if (!(port <= 65535))
    throw new UsageError(`--port must be a whole number from 0 to 65535; got ${JSON.stringify(value)}`);
  return port;
};

/** An empty host would make Node listen on every interface, the opposite of the loopback default. */
const hostName = (value: string) => {
  if (value.trim() === "") throw new UsageError("--host must name an address or a host name");
  return value;
};

/** Node's listen errors in the CLI's words, naming the flag that fixes them; any other error as it is. */
function listenFailure(error: unknown, host: string, port: number): unknown {
  const where = `cannot listen on ${host.includes(":") ? `[${host}]` : host}:${port}`;
  switch ((error as NodeJS.ErrnoException).code) {
    case "EADDRINUSE":
      return new UsageError(`${where}: the port is in use (choose another with --port)`);
    case "EADDRNOTAVAIL":
      return new UsageError(`${where}: it is not an address of this machine (check --host)`);
    case "ENOTFOUND":
      return new UsageError(`${where}: no such host (check --host)`);
    default:
      return error;
  }
}

/** A `--<name> <seconds>` option: a whole number with a default. */
const secondsOption = (flag: string, description: string, fallback: number) =>
  new Option(`${flag} <seconds>`, description).default(fallback).argParser(wholeNumber(flag));

const collect = (value: string, previous: string[]) => [...previous, value];

/** RFC 9700 §2.1 / requirement 1: https, or http only on a loopback host; absolute, no fragment. */
function checkRedirectUri(uri: string): string {
  let url: URL;
  try {
    url = new URL(uri);
  } catch {
    throw new UsageError(`redirect URI is not an absolute URI: ${uri}`);
  }
  if (url.hash !== "" || uri.includes("#")) throw new UsageError(`redirect URI must not contain a fragment: ${uri}`);
  const loopback = ["localhost", "127.0.0.1", "[::1]"].includes(url.hostname);
  if (url.protocol !== "https:" && !(url.protocol === "http:" && loopback)) {
    throw new UsageError(`redirect URI must use https (http only for loopback hosts): ${uri}`);
  }
  return uri;
}

/** RFC 8707 §2: a resource indicator is an absolute URI without a fragment. */
function checkResource(flag: string, uri: string): string {
  try {
    if (new URL(uri).hash === "" && !uri.includes("#")) return uri;
  } catch {
    // not a URI at all: the same answer as for a fragment
  }
  throw new UsageError(`${flag} must be an absolute URI without fragment: ${uri}`);
}

/** The consent page asks "Do you want to allow <name> to access …?": a name users can read is required. */
function checkClientName(name: string): string {
  const trimmed = name.trim();
  if (trimmed === "") throw new UsageError("--name must not be empty: it is shown to users on the consent page");
  if (/\p{Cc}/u.test(trimmed)) throw new UsageError("--name must not contain control characters");
  return trimmed;
}

interface ClientRegistration {
  redirectUris: string[];
  resourceServerFor: string[];
  isPublic: boolean;
}

/**
 * A new client's grant types: those given, else the code flow (with refresh tokens) for a client with a redirect URI
 * or a public one, none for a resource server (it only introspects), else client_credentials. A public client cannot
 * keep a secret (RFC 6749 §2.1): the code flow with PKCE is the only grant it may use.
 */
function clientGrantTypes(given: string[], registration: ClientRegistration): string[] {
  const { redirectUris, resourceServerFor, isPublic } = registration;
  const grantTypes =
    given.length > 0
      ? [...new Set(given)]
      : redirectUris.length > 0 || isPublic
        ? ["authorization_code", "refresh_token"]
        : resourceServerFor.length > 0
          ? []
          : ["client_credentials"];
  for (const type of grantTypes) {
    if (!(knownGrantTypes as readonly string[]).includes(type)) {
      throw new UsageError(`unknown grant type: ${type} (one of ${knownGrantTypes.join(", ")})`);
    }
  }
  if (isPublic) {
    if (grantTypes.includes("client_credentials"))
      throw new UsageError("a public client cannot use client_credentials (RFC 6749 §4.4)");
    if (redirectUris.length === 0) {
      throw new UsageError(
        "a public client needs --redirect-uri (the authorization code flow is the only grant a public client may use)",
      );
    }
    if (!grantTypes.includes("authorization_code"))
      throw new UsageError("a public client needs the authorization_code grant");
  }
  if (grantTypes.includes("authorization_code") && redirectUris.length === 0) {
    throw new UsageError("authorization_code needs at least one --redirect-uri");
  }
  return grantTypes;
}

function clientJson(client: Client) {
  return {
    client_id: client.clientId,
    name: client.name,
    redirect_uris: client.redirectUris,
    grant_types: client.grantTypes,
    scopes: client.scopes,
    token_endpoint_auth_method: client.tokenEndpointAuthMethod,
    resource_server_for: client.resourceServerFor ?? [],
    created_at: iso(client.createdAt),
  };
}

/** `clients show` and `clients update`: the registration, without the secret (only its digest is stored). */
function printClient(options: CommonOptions, client: Client): void {
  const json = clientJson(client);
  print(
    options,
    json,
    Object.entries(json)
      .map(([k, v]) => `${k}: ${Array.isArray(v) ? v.join(" ") : String(v)}`)
      .join("\n"),
  );
}

/** Passwords never come from argv (visible in `ps` and shell history): from stdin, or a prompt without echo. */
async function readPassword(fromStdin: boolean | undefined): Promise<string> {
  if (fromStdin) {
    const chunks: Buffer[] = [];
    for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
    const password = Buffer.concat(chunks)
      .toString("utf8")
      .replace(/\r?\n$/, "");
    if (password === "") throw new UsageError("no password on stdin: --password-stdin reads it from the first line");
    if (password.includes("\n")) throw new UsageError("the password on stdin must be a single line");
    return password;
  }
  // Without a terminal there is nobody to prompt; stdin is read only when asked for, never whatever happens to be on it.
  if (!process.stdin.isTTY) {
    throw new UsageError("no password given: pipe it with --password-stdin, or run in a terminal to be prompted");
  }
  const ask = async (question: string) => {
    let muted = false;
    const output = new Writable({
      write(chunk: Buffer, _encoding, callback) {
        if (!muted) process.stderr.write(chunk);
        callback();
      },
    });
    const rl = createInterface({ input: process.stdin, output, terminal: true });
    const answer = new Promise<string>((resolve) => rl.question(question, resolve));
    muted = true;
    const value = await answer;
    rl.close();
    process.stderr.write("\n");
    return value;
  };
  const first = await ask("Password: ");
  const second = await ask("Repeat password: ");
  if (first !== second) throw new UsageError("the passwords do not match");
  return first;
}

async function newPasswordHash(fromStdin: boolean | undefined): Promise<string> {
  const password = await readPassword(fromStdin);
  try {
    checkPasswordPolicy(password);
  } catch (error: unknown) {
    throw new UsageError((error as Error).message);
  }
  return hashPassword(password);
}

/** The version in authz-server/package.json, one directory above both src/ and dist/. */
function packageVersion(): string {
  return (JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8")) as { version: string }).version;
}

/**
 * The `<id>` of `clients show` and `clients delete`. Ids generated before they began with a letter may start with "-":
 * an argument naming none of the command's options is taken as the id (`clients show -Xk3…`); `-- <id>` works too.
 */
function withClientId(command: Command): Command {
  return command.argument("<id>").allowUnknownOption();
}

export function buildProgram(): Command {
  const program = new Command("authz-server")
    .description("OAuth 2.0 authorization server issuing RFC 9068 JWT access tokens (Kong oauth2-jwt sidecar)")
    .showSuggestionAfterError(false)
    // Long flag only: commander would read a "-V" at the start of a client id as the version flag.
    .version(packageVersion(), "--version", "print the version")
    .exitOverride();

  common(program.command("serve").description("run the HTTP server"))
    .addOption(new Option("--port <port>", "TCP port").default(defaults.port).argParser(portNumber))
    .addOption(new Option("--host <host>", "listen address").default(defaults.host).argParser(hostName))
    .option("--issuer <url>", "issuer identifier (default http://localhost:<port>)")
    .option("--default-audience <uri>", "aud when no resource or scope names one (default: the issuer)")
    .addOption(secondsOption("--access-token-ttl", "access token lifetime (at most 3600)", defaults.accessTokenTtl))
    .addOption(secondsOption("--code-ttl", "authorization code lifetime (at most 600)", defaults.authorizationCodeTtl))
    .addOption(
      secondsOption("--refresh-idle-ttl", "a refresh token unused this long expires", defaults.refreshTokenIdleTtl),
    )
    .addOption(
      secondsOption(
        "--refresh-absolute-ttl",
        "a refresh-token family expires this long after the code exchange",
        defaults.refreshTokenAbsoluteTtl,
      ),
    )
    .addOption(
      secondsOption(
        "--refresh-grace",
        "a rotated refresh token may be presented again this long (concurrent refresh); 0 disables",
        defaults.refreshTokenGraceSeconds,
      ),
    )
    .option("--site-name <name>", "product name on the login, consent and consents pages", defaults.siteName)
    .addOption(
      new Option("--alg <alg>", "algorithm of the key generated on first start (later: keys rotate --alg)")
        .choices(signingAlgorithms)
        .default(defaults.signingAlgorithm),
    )
    .addOption(new Option("--log-level <level>", "pino log level, or silent").default(defaults.logLevel))
    .action(
      async (
        options: CommonOptions & {
          port: number;
          host: string;
          issuer?: string;
          defaultAudience?: string;
          accessTokenTtl: number;
          codeTtl: number;
          refreshIdleTtl: number;
          refreshAbsoluteTtl: number;
          refreshGrace: number;
          siteName: string;
          alg: string;
          logLevel: string;
        },
      ) => {
        if (options.issuer !== undefined) {
          try {
            new URL(options.issuer);
          } catch {
            throw new UsageError(`--issuer must be an absolute URL, got ${JSON.stringify(options.issuer)}`);
          }
        }
        let lifetimes;
        try {
          lifetimes = checkLifetimes({
            ...defaultLifetimes(),
            accessTokenTtl: options.accessTokenTtl,
            authorizationCodeTtl: options.codeTtl,
            refreshTokenIdleTtl: options.refreshIdleTtl,
            refreshTokenAbsoluteTtl: options.refreshAbsoluteTtl,
            refreshTokenGraceSeconds: options.refreshGrace,
          });
        } catch (error: unknown) {
          throw new UsageError((error as Error).message);
        }
        // Loaded here, not at the top: the HTTP stack (koa, pino, jose) would double every other command's start-up.
        const { startServer, logLevels } = await import("./server.js");
        if (!logLevels.includes(options.logLevel)) {
          throw new UsageError(
            `--log-level must be one of ${logLevels.join(", ")}; got ${JSON.stringify(options.logLevel)}`,
          );
        }
        const running = await startServer({
          db: checkDb(options.db),
          ...storageOptions(options),
          port: options.port,
          host: options.host,
          ...(options.issuer === undefined ? {} : { issuer: options.issuer }),
          ...(options.defaultAudience === undefined ? {} : { defaultAudience: options.defaultAudience }),
          lifetimes,
          signingAlgorithm: parseSigningAlgorithm(options.alg, "--alg"),
          interaction: { siteName: options.siteName },
          logLevel: options.json ? "silent" : options.logLevel,
        }).catch((error: unknown) => {
          throw listenFailure(error, options.host, options.port);
        });
        if (options.json) print(options, { url: running.url, issuer: running.issuer }, "");
        const stop = () => void running.close().then(() => process.exit(0));
        process.once("SIGINT", stop);
        process.once("SIGTERM", stop);
      },
    );

  common(
    program.command("init").description("create the database (every command but serve needs an existing one)"),
  ).action((options: CommonOptions) => {
    const path = checkDb(options.db);
    const existed = existsSync(path);
    const storage = openSqliteStorage(path, storageOptions(options));
    const status = storage.keyEncryption.status();
    storage.close();
    print(
      options,
      { db: path, created: !existed, kek_id: status.kekId },
      existed ? `database ${path} already exists` : `created database ${path}`,
    );
  });

  const kek = program
    .command("kek")
    .description("encrypt signing keys and server secrets at rest under a key-encryption key");
  common(
    kek.command("status").description("show whether and under which key-encryption key the database is encrypted"),
  ).action((options: CommonOptions) =>
    withStorage(options, (storage) => {
      const status = storage.keyEncryption.status();
      print(options, keyEncryptionJson(status), keyEncryptionText(status));
    }),
  );
  common(
    kek
      .command("enable")
      .description(`encrypt every signing key and server secret under the key given (${kekSources})`),
  ).action((options: CommonOptions) => {
    if (keyEncryptionKeyOf(options) === undefined)
      throw new UsageError(`kek enable needs the key-encryption key: ${kekSources}`);
    // Opening the storage with the key encrypts what is still in the clear (storage/sqlite/key-encryption.ts).
    return withStorage(options, (storage) => {
      const status = storage.keyEncryption.status();
      print(options, keyEncryptionJson(status), keyEncryptionText(status));
    });
  });
  common(kek.command("rotate").description("re-encrypt everything under a new key-encryption key, in one transaction"))
    .requiredOption(
      "--new-kek-file <path>",
      "the new key-encryption key; the current one comes from --kek-file, AUTHZ_KEK_FILE or AUTHZ_KEK",
    )
    .action((options: CommonOptions & { newKekFile: string }) => {
      const current = keyEncryptionKeyOf(options);
      if (current === undefined) throw new UsageError(`kek rotate needs the current key-encryption key: ${kekSources}`);
      const next = KeyEncryptionKey.fromFile(options.newKekFile, "--new-kek-file");
      if (next.id === current.id) throw new UsageError("--new-kek-file holds the current key-encryption key");
      return withStorage(options, (storage) => {
        const status = storage.keyEncryption.rotate(next);
        print(options, keyEncryptionJson(status), keyEncryptionText(status));
      });
    });

  const scopes = program.command("scopes").description("manage scopes");
  common(scopes.command("create").argument("<name>").description("register a scope"))
    .requiredOption("--description <text>", "shown to users on the consent page")
    .option("--resource <uri>", "RFC 8707 resource indicator: tokens with this scope get it as aud")
    .action((name: string, options: CommonOptions & { description: string; resource?: string }) =>
      withStorage(options, (storage) => {
        if (!/^[\x21\x23-\x5B\x5D-\x7E]+$/.test(name))
          throw new UsageError(`invalid scope name (RFC 6749 §3.3): ${name}`);
        if (storage.scopes.find(name)) throw new UsageError(`scope already exists: ${name}`);
        const resource = options.resource === undefined ? null : checkResource("--resource", options.resource);
        const scope = { name, description: options.description, resource };
        storage.scopes.create(scope);
        print(options, scope, `created scope ${name}`);
      }),
    );
  common(scopes.command("list").description("list scopes")).action((options: CommonOptions) =>
    withStorage(options, (storage) => {
      const list = storage.scopes.list();
      print(options, list, list.map((s) => `${s.name}\t${s.resource ?? "-"}\t${s.description}`).join("\n"));
    }),
  );

  const clients = program.command("clients").description("manage OAuth clients");
  common(clients.command("create").description("register a client; prints its secret once"))
    .requiredOption("--name <name>", "display name, shown on the consent page")
    .option("--redirect-uri <uri>", "registered redirect URI (repeatable)", collect, [])
    .option("--scope <name>", "scope the client may request (repeatable)", collect, [])
    .option("--grant-type <type>", `grant type (repeatable): ${knownGrantTypes.join(", ")}`, collect, [])
    .option("--public", "public client (no secret; code flow with PKCE only)")
    .option(
      "--resource-server-for <uri>",
      "the client is the resource server for this RFC 8707 resource (a token aud): it may introspect the tokens addressed to it (repeatable)",
      collect,
      [],
    )
    .action(
      (
        options: CommonOptions & {
          name: string;
          redirectUri: string[];
          scope: string[];
          grantType: string[];
          public?: boolean;
          resourceServerFor: string[];
        },
      ) =>
        withStorage(options, (storage) => {
          const name = checkClientName(options.name);
          const redirectUris = [...new Set(options.redirectUri.map(checkRedirectUri))];
          for (const scope of options.scope) {
            if (!storage.scopes.find(scope))
              throw new UsageError(`unknown scope: ${scope} (create it with scopes create)`);
          }
          const resourceServerFor = [
            ...new Set(options.resourceServerFor.map((uri) => checkResource("--resource-server-for", uri))),
          ];
          const isPublic = options.public === true;
          if (isPublic && resourceServerFor.length > 0) {
            throw new UsageError(
              "a public client cannot be a resource server: introspection needs client authentication (RFC 7662 §2.1)",
            );
          }
          const grantTypes = clientGrantTypes(options.grantType, { redirectUris, resourceServerFor, isPublic });
          const secret = isPublic ? null : generateSecret();
          const client: Client = {
            clientId: generateId(),
            name,
            secretDigest: secret === null ? null : digest(secret),
            redirectUris,
            grantTypes,
            scopes: [...new Set(options.scope)],
            tokenEndpointAuthMethod: isPublic ? "none" : "client_secret_basic",
            createdAt: Date.now(),
            ...(resourceServerFor.length > 0 ? { resourceServerFor } : {}),
          };
          storage.transaction(() => {
            // Two clients users cannot tell apart on the consent page would let one pass for the other.
            const namesake = storage.clients.findByName(name);
            if (namesake)
              throw new UsageError(
                `a client named ${JSON.stringify(namesake.name)} already exists: ${namesake.clientId}`,
              );
            storage.clients.create(client);
          });
          print(
            options,
            { ...clientJson(client), ...(secret === null ? {} : { client_secret: secret }) },
            [
              `client_id:     ${client.clientId}`,
              ...(secret === null
                ? []
                : [`client_secret: ${secret}`, "(the secret is shown this once; only its SHA-256 digest is stored)"]),
            ].join("\n"),
          );
        }),
    );
  common(clients.command("list").description("list clients")).action((options: CommonOptions) =>
    withStorage(options, (storage) => {
      const list = storage.clients.list();
      print(
        options,
        list.map(clientJson),
        list.map((c) => `${c.clientId}\t${c.name}\t${c.grantTypes.join(",")}`).join("\n"),
      );
    }),
  );
  common(withClientId(clients.command("show")).description("show one client")).action(
    (id: string, options: CommonOptions) =>
      withStorage(options, (storage) => {
        const client = storage.clients.find(id);
        if (!client) throw new UsageError(`no such client: ${id}`);
        printClient(options, client);
      }),
  );
  common(clients.command("update").argument("<id>").description("change a client's registration"))
    .option("--redirect-uri <uri>", "the client's redirect URIs, replacing those registered (repeatable)", collect, [])
    .action((id: string, options: CommonOptions & { redirectUri: string[] }) =>
      withStorage(options, (storage) => {
        if (options.redirectUri.length === 0) throw new UsageError("nothing to update: give --redirect-uri");
        const redirectUris = [...new Set(options.redirectUri.map(checkRedirectUri))];
        const updated = storage.clients.setRedirectUris(id, redirectUris) ? storage.clients.find(id) : undefined;
        if (!updated) throw new UsageError(`no such client: ${id}`);
        printClient(options, updated);
      }),
    );
  common(withClientId(clients.command("delete")).description("delete a client and its grants")).action(
    (id: string, options: CommonOptions) =>
      withStorage(options, (storage) => {
        if (!storage.clients.delete(id)) throw new UsageError(`no such client: ${id}`);
        print(options, { client_id: id, deleted: true }, `deleted client ${id}`);
      }),
  );

  const users = program.command("users").description("manage users (resource owners)");
  common(users.command("create").argument("<username>").description("create a user; password from a prompt or stdin"))
    .option("--password-stdin", "read the password from stdin (one line)")
    .action((username: string, options: CommonOptions & { passwordStdin?: boolean }) =>
      withStorage(options, async (storage) => {
        if (!/^[A-Za-z0-9._@-]{1,64}$/.test(username)) {
          throw new UsageError("username must be 1-64 characters of letters, digits, . _ @ -");
        }
        if (storage.users.findByUsername(username)) throw new UsageError(`user already exists: ${username}`);
        const passwordHash = await newPasswordHash(options.passwordStdin);
        const user = { id: generateId(), username, passwordHash, createdAt: Date.now() };
        storage.users.create(user);
        print(
          options,
          { id: user.id, username, created_at: iso(user.createdAt) },
          `created user ${username} (sub ${user.id})`,
        );
      }),
    );
  common(users.command("list").description("list users")).action((options: CommonOptions) =>
    withStorage(options, (storage) => {
      const list = storage.users.list().map((u) => ({ id: u.id, username: u.username, created_at: iso(u.createdAt) }));
      print(options, list, list.map((u) => `${u.username}\t${u.id}`).join("\n"));
    }),
  );
  common(users.command("delete").argument("<username>").description("delete a user and their grants")).action(
    (username: string, options: CommonOptions) =>
      withStorage(options, (storage) => {
        if (!storage.users.delete(username)) throw new UsageError(`no such user: ${username}`);
        print(options, { username, deleted: true }, `deleted user ${username}`);
      }),
  );
  common(users.command("set-password").argument("<username>").description("change a user's password"))
    .option("--password-stdin", "read the password from stdin (one line)")
    .action((username: string, options: CommonOptions & { passwordStdin?: boolean }) =>
      withStorage(options, async (storage) => {
        if (!storage.users.findByUsername(username)) throw new UsageError(`no such user: ${username}`);
        storage.users.setPasswordHash(username, await newPasswordHash(options.passwordStdin));
        print(options, { username, updated: true }, `password changed for ${username}`);
      }),
    );

  const consents = program.command("consents").description("see and withdraw users' consents to clients");
  common(consents.command("list").description("list consents (user × client × scopes)"))
    .option("--user <username>", "only this user's consents")
    .option("--client <id>", "only consents to this client")
    .action((options: CommonOptions & { user?: string; client?: string }) =>
      withStorage(options, (storage) => {
        const filter: { userId?: string; clientId?: string } = {};
        if (options.user !== undefined) {
          const user = storage.users.findByUsername(options.user);
          if (!user) throw new UsageError(`no such user: ${options.user}`);
          filter.userId = user.id;
        }
        if (options.client !== undefined) filter.clientId = options.client;
        const list = storage.consents.list(filter).map((c) => ({
          user: storage.users.findById(c.userId)?.username ?? null,
          user_id: c.userId,
          client_id: c.clientId,
          client_name: storage.clients.find(c.clientId)?.name ?? null,
          scopes: c.scopes,
          granted_at: iso(c.grantedAt),
        }));
        print(
          options,
          list,
          list.length === 0
            ? "no consents"
            : list
                .map(
                  (c) =>
                    `${c.user ?? c.user_id}\t${c.client_id}\t${c.client_name ?? "-"}\t${c.scopes.join(" ")}\t${c.granted_at}`,
                )
                .join("\n"),
        );
      }),
    );
  common(
    consents
      .command("revoke")
      .description("withdraw a user's consent to a client; revokes that grant's refresh and access tokens"),
  )
    .requiredOption("--user <username>", "the user")
    .requiredOption("--client <id>", "the client")
    .action((options: CommonOptions & { user: string; client: string }) =>
      withStorage(options, (storage) => {
        const user = storage.users.findByUsername(options.user);
        if (!user) throw new UsageError(`no such user: ${options.user}`);
        // Requirement 7: withdrawal also revokes the refresh tokens of that grant (and the access tokens issued with them).
        if (!storage.consents.revoke(user.id, options.client, Date.now())) {
          throw new UsageError(`${options.user} has no consent or grant for client ${options.client}`);
        }
        print(
          options,
          { user: options.user, client_id: options.client, revoked: true },
          `withdrew ${options.user}'s consent to ${options.client}`,
        );
      }),
    );

  const keys = program.command("keys").description("manage signing keys");
  common(keys.command("list").description("list signing keys and their state")).action((options: CommonOptions) =>
    withStorage(options, async (storage) => {
      const { statusOf } = await import("./keys/keyring.js"); // jose: loaded only by the keys commands
      const status = statusOf(storage.keys.list(), Date.now(), {
        accessTokenTtl: limitTtl(),
        clockSkew: defaults.clockSkew,
      });
      const json = status.map((s) => ({
        kid: s.kid,
        alg: s.alg,
        state: s.state,
        created_at: iso(s.createdAt),
        activate_at: iso(s.activateAt),
        retired_at: iso(s.retiredAt),
        unpublish_at: iso(s.unpublishAt),
      }));
      print(options, json, json.map((k) => `${k.kid}\t${k.alg}\t${k.state}\tsigns from ${k.activate_at}`).join("\n"));
    }),
  );
  common(keys.command("rotate").description("publish a new key now; it signs after --activate-after seconds"))
    .addOption(
      secondsOption(
        "--activate-after",
        `delay before the new key signs; at least ${minimumKeyActivateAfter()} (the JWKS max-age plus a margin) unless --force`,
        defaults.keyActivateAfter,
      ),
    )
    .addOption(
      new Option("--alg <alg>", "signing algorithm").choices(signingAlgorithms).default(defaults.signingAlgorithm),
    )
    .option("--force", "accept an --activate-after below the minimum (gateways may refuse the new key's first tokens)")
    .action((options: CommonOptions & { activateAfter: number; alg: string; force?: boolean }) =>
      withStorage(options, async (storage) => {
        const alg = parseSigningAlgorithm(options.alg, "--alg");
        // With no key at all there is no cached JWKS to wait for: the first key signs at once.
        const first = storage.keys.list().length === 0;
        if (!first) checkActivationDelay(options.activateAfter, options.force === true);
        const delay = first ? 0 : options.activateAfter;
        const { rotateKey } = await import("./keys/keyring.js");
        const key = await rotateKey(storage.keys, alg, delay, Date.now());
        print(
          options,
          { kid: key.kid, alg: key.alg, created_at: iso(key.createdAt), activate_at: iso(key.activateAt) },
          `new ${key.alg} key ${key.kid} published; signs from ${iso(key.activateAt)}`,
        );
      }),
    );
  return program;
}

/**
 * A gateway may serve the key set from its cache for the JWKS max-age (endpoints/jwks.ts): a key that signs sooner may
 * reach it in tokens before it is in its copy, and those tokens are refused until the next fetch.
 */
function checkActivationDelay(delay: number, force: boolean): void {
  const minimum = minimumKeyActivateAfter();
  if (delay >= minimum) return;
  const risk =
    `--activate-after ${delay} is below the JWKS max-age (${defaults.jwksMaxAge} s) plus ${minimum - defaults.jwksMaxAge} s: ` +
    "gateways may still hold a key set without the new key when it starts signing";
  if (!force) throw new UsageError(`${risk}; use at least ${minimum}, or --force`);
  process.stderr.write(`authz-server: warning: ${risk}; until they refetch it they refuse its tokens\n`);
}

/** `keys list` runs without the server's flags: it shows retirement for the default access-token lifetime. */
function limitTtl(): number {
  return defaults.accessTokenTtl;
}

export async function main(argv: string[]): Promise<number> {
  try {
    await buildProgram().parseAsync(argv);
    return 0;
  } catch (error: unknown) {
    if (error instanceof CommanderError) return error.exitCode; // commander already printed its one line (or help)
    const message = error instanceof Error ? error.message : String(error);
    process.stderr.write(`authz-server: ${message.split("\n")[0]}\n`);
    return 1;
  }
}

const code = await main(process.argv);
if (code !== 0) process.exitCode = code;
