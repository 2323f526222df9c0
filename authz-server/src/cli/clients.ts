import type { Command } from "commander";
import { checkRedirectUris, knownGrantTypes, registerClient } from "../clients/registration.js";
import { digest, generateSecret } from "../secrets.js";
import type { Client } from "../storage/types.js";
import { collect, common, type CommonOptions, iso, print, UsageError, withStorage } from "./options.js";

interface CreateOptions extends CommonOptions {
  name: string;
  redirectUri: string[];
  scope: string[];
  grantType: string[];
  public?: boolean;
  resourceServerFor: string[];
}

/** A client's registration in RFC 7591 §2 metadata names, without the secret (only its digest is stored). */
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

/** `clients show` and `clients update`: the registration, one `name: value` line each. */
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

/** The secret line `clients create` and `clients rotate-secret` print, and why it is shown only then. */
function secretLines(secret: string): string[] {
  return [`client_secret: ${secret}`, "(the secret is shown this once; only its SHA-256 digest is stored)"];
}

function create(options: CreateOptions): Promise<void> {
  return withStorage(options, async (storage) => {
    const { client, secret } = await registerClient(
      storage,
      {
        name: options.name,
        redirectUris: options.redirectUri,
        scopes: options.scope,
        grantTypes: options.grantType,
        isPublic: options.public === true,
        resourceServerFor: options.resourceServerFor,
      },
      Date.now(),
    );
    print(
      options,
      { ...clientJson(client), ...(secret === null ? {} : { client_secret: secret }) },
      [`client_id:     ${client.clientId}`, ...(secret === null ? [] : secretLines(secret))].join("\n"),
    );
  });
}

function list(options: CommonOptions): Promise<void> {
  return withStorage(options, async (storage) => {
    const clients = await storage.clients.list();
    print(
      options,
      clients.map(clientJson),
      clients.map((c) => `${c.clientId}\t${c.name}\t${c.grantTypes.join(",")}`).join("\n"),
    );
  });
}

function show(id: string, options: CommonOptions): Promise<void> {
  return withStorage(options, async (storage) => {
    const client = await storage.clients.find(id);
    if (!client) throw new UsageError(`no such client: ${id}`);
    printClient(options, client);
  });
}

function update(id: string, options: CommonOptions & { redirectUri: string[] }): Promise<void> {
  return withStorage(options, async (storage) => {
    if (options.redirectUri.length === 0) throw new UsageError("nothing to update: give --redirect-uri");
    const redirectUris = checkRedirectUris(options.redirectUri);
    const updated = (await storage.clients.setRedirectUris(id, redirectUris))
      ? await storage.clients.find(id)
      : undefined;
    if (!updated) throw new UsageError(`no such client: ${id}`);
    printClient(options, updated);
  });
}

function remove(id: string, options: CommonOptions): Promise<void> {
  return withStorage(options, async (storage) => {
    if (!(await storage.clients.delete(id, Date.now()))) throw new UsageError(`no such client: ${id}`);
    print(options, { client_id: id, deleted: true }, `deleted client ${id}`);
  });
}

/**
 * `clients rotate-secret`: a new secret, generated as `clients create` does; the store replaces the digest, revokes
 * the client's refresh tokens and lists the client in the revocation feed, so every token issued to it before is
 * refused. The old secret is refused at once here and by running servers when their clients copy next checks the table.
 */
function rotateSecret(id: string, options: CommonOptions): Promise<void> {
  return withStorage(options, async (storage) => {
    const client = await storage.clients.find(id);
    if (!client) throw new UsageError(`no such client: ${id}`);
    if (client.secretDigest === null) throw new UsageError(`client ${id} is public: it has no secret to rotate`);
    const secret = generateSecret();
    if (!(await storage.clients.rotateSecret(id, digest(secret), Date.now())))
      throw new UsageError(`no such client: ${id}`);
    print(
      options,
      { client_id: id, client_secret: secret },
      [`client_id:     ${id}`, ...secretLines(secret)].join("\n"),
    );
  });
}

/**
 * The `<id>` of `clients show` and `clients delete`. Ids generated before they began with a letter may start with "-":
 * an argument naming none of the command's options is taken as the id (`clients show -Xk3…`); `-- <id>` works too.
 */
function withClientId(command: Command): Command {
  return command.argument("<id>").allowUnknownOption();
}

export function addClientsCommands(program: Command): void {
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
    .action(create);
  common(clients.command("list").description("list clients")).action(list);
  common(withClientId(clients.command("show")).description("show one client")).action(show);
  common(clients.command("update").argument("<id>").description("change a client's registration"))
    .option("--redirect-uri <uri>", "the client's redirect URIs, replacing those registered (repeatable)", collect, [])
    .action(update);
  common(withClientId(clients.command("delete")).description("delete a client and its grants")).action(remove);
  common(
    withClientId(clients.command("rotate-secret")).description(
      "give a confidential client a new secret, printed once; the old one and every token issued before are refused",
    ),
  ).action(rotateSecret);
}
