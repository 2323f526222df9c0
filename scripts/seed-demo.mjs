#!/usr/bin/env node
// Seeds the authorization server's database with the demo's data, idempotently, through the
// `authz-server` CLI's `--json` commands (the same surface an operator uses):
//   scopes  photos, photos:write, profile — each with resource = the Flickr photos API's audience,
//           so tokens carrying them get that `aud` (RFC 8707) and the gateway accepts them;
//   user    alice, with the demo password;
//   client  Canon Printing (confidential, authorization code + refresh token, PKCE), callback
//           http://localhost:3000/callback. Its server-generated credentials are written once to a
//           git-ignored file (default ./data/canon-client.json) that the Canon app reads.
//   client  Flickr gateway, the resource server for the photos API (`clients create
//           --resource-server-for`, no grant of its own): the credential the gateway's oauth2-jwt
//           configs present to the revocation feed. Its credentials go the same way to a file beside
//           Canon's (default ./data/gateway-client.json), from which they reach the gateway as the
//           environment variables kong.yml's vault references name (GATEWAY_ENV below).
// The database is created first with `authz-server init`. Run again: nothing changes, but for a
// callback moved to another port (--redirect-uri), which becomes Canon Printing's redirect URI. Used by `npm start`, the Docker image of the sidecar and the tests.
//
//   node scripts/seed-demo.mjs [--db PATH-OR-URL] [--canon-file PATH] [--gateway-file PATH] [--redirect-uri URI]
import { spawn } from "node:child_process";
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");

export const DEMO = Object.freeze({
  username: "alice",
  password: "flickr-photos-demo",
  /** The photos API's identifier: the `aud` the gateway's oauth2-jwt config expects (kong.yml). */
  audience: "http://localhost:8000/flickr",
  scopes: Object.freeze([
    { name: "photos", description: "See your Flickr photos" },
    { name: "photos:write", description: "Upload photos to your Flickr account" },
    { name: "profile", description: "See your Flickr profile" },
  ]),
  clientName: "Canon Printing",
  clientScopes: Object.freeze(["photos", "profile"]),
  redirectUri: "http://localhost:3000/callback",
  gatewayClientName: "Flickr gateway",
});

/**
 * The environment variables Kong's env vault reads for kong.yml's `{vault://env/oauth2-jwt-feed-client-id}` and
 * `{vault://env/oauth2-jwt-feed-secret}` (the resource's "-" become "_", upper-cased), given the gateway file's
 * credentials.
 */
export function gatewayEnvironment(credentials) {
  return { OAUTH2_JWT_FEED_CLIENT_ID: credentials.client_id, OAUTH2_JWT_FEED_SECRET: credentials.client_secret };
}

/** Runs the CLI with --json; resolves with its parsed stdout, rejects with its stderr line. */
function cli(args, { db, cliPath, stdin }) {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, [cliPath, ...args, "--db", db, "--json"], {
      stdio: ["pipe", "pipe", "pipe"],
    });
    let out = "";
    let err = "";
    child.stdout.on("data", (d) => (out += d));
    child.stderr.on("data", (d) => (err += d));
    child.on("error", reject);
    child.on("close", (code) => {
      if (code !== 0) {
        reject(new Error(`authz-server ${args.slice(0, 2).join(" ")} failed (${code}): ${err.trim()}`));
        return;
      }
      try {
        resolvePromise(JSON.parse(out));
      } catch {
        reject(new Error(`authz-server ${args.slice(0, 2).join(" ")} printed no JSON: ${out.slice(0, 200)}`));
      }
    });
    child.stdin.end(stdin ?? "");
  });
}

/**
 * @param {{ db: string, canonFile: string, gatewayFile?: string, redirectUri?: string, cliPath?: string }} options
 * @returns {Promise<{ username: string, password: string, clientId: string, canonFile: string, gatewayClientId: string, gatewayFile: string, created: string[] }>}
 */
export async function seedDemo(options) {
  const ctx = { db: options.db, cliPath: options.cliPath ?? resolve(ROOT, "authz-server/bin/authz-server.js") };
  const redirectUri = options.redirectUri ?? DEMO.redirectUri;
  // Every command but init refuses a database that does not exist; init creates it (0600, in a 0700 folder) or
  // says it exists.
  await cli(["init"], ctx);
  const created = [];

  const scopes = await cli(["scopes", "list"], ctx);
  for (const scope of DEMO.scopes) {
    if (scopes.some((s) => s.name === scope.name)) continue;
    await cli(["scopes", "create", scope.name, "--description", scope.description, "--resource", DEMO.audience], ctx);
    created.push(`scope ${scope.name}`);
  }

  const users = await cli(["users", "list"], ctx);
  if (!users.some((u) => u.username === DEMO.username)) {
    await cli(["users", "create", DEMO.username, "--password-stdin"], { ...ctx, stdin: `${DEMO.password}\n` });
    created.push(`user ${DEMO.username}`);
  }

  // There is one Canon Printing (client names are unique). It is kept while the file holds its secret, its
  // redirect URI following a callback moved to another port; a Canon Printing whose secret is lost (the
  // database keeps only its digest) is replaced by a new registration.
  const clients = await cli(["clients", "list"], ctx);
  const existing = clients.find((c) => c.name === DEMO.clientName);
  const saved = readCredentialsFile(options.canonFile);
  let clientId;
  if (existing && saved?.client_id === existing.client_id && typeof saved.client_secret === "string") {
    clientId = existing.client_id;
    if (existing.redirect_uris.join(" ") !== redirectUri || saved.redirect_uri !== redirectUri) {
      await cli(["clients", "update", clientId, "--redirect-uri", redirectUri], ctx);
      writeCredentialsFile(options.canonFile, { ...saved, redirect_uri: redirectUri });
    }
  } else {
    if (existing) await cli(["clients", "delete", existing.client_id], ctx);
    const args = ["clients", "create", "--name", DEMO.clientName, "--redirect-uri", redirectUri];
    for (const s of DEMO.clientScopes) args.push("--scope", s);
    const client = await cli(args, ctx);
    clientId = client.client_id;
    writeCredentialsFile(options.canonFile, {
      client_id: client.client_id,
      client_secret: client.client_secret,
      redirect_uri: redirectUri,
    });
    created.push(`client ${DEMO.clientName} (${clientId})`);
  }
  const gatewayFile = options.gatewayFile ?? resolve(dirname(resolve(options.canonFile)), "gateway-client.json");
  const gatewayClientId = await ensureGatewayClient(ctx, clients, gatewayFile, created);
  return {
    username: DEMO.username,
    password: DEMO.password,
    clientId,
    canonFile: options.canonFile,
    gatewayClientId,
    gatewayFile,
    created,
  };
}

/**
 * The gateway's resource-server client, kept while `file` holds its secret (as Canon Printing is); otherwise a new
 * registration replaces it and its credentials are written to `file`.
 */
async function ensureGatewayClient(ctx, clients, file, created) {
  const existing = clients.find((c) => c.name === DEMO.gatewayClientName);
  const saved = readCredentialsFile(file);
  if (existing && saved?.client_id === existing.client_id && typeof saved.client_secret === "string") {
    return existing.client_id;
  }
  if (existing) await cli(["clients", "delete", existing.client_id], ctx);
  const client = await cli(
    ["clients", "create", "--name", DEMO.gatewayClientName, "--resource-server-for", DEMO.audience],
    ctx,
  );
  writeCredentialsFile(file, { client_id: client.client_id, client_secret: client.client_secret });
  created.push(`client ${DEMO.gatewayClientName} (${client.client_id})`);
  return client.client_id;
}

/** Credentials as the seed last wrote them (Canon's, the gateway's); undefined when missing or unreadable. */
function readCredentialsFile(path) {
  if (!existsSync(path)) return undefined;
  try {
    return JSON.parse(readFileSync(path, "utf8"));
  } catch {
    return undefined;
  }
}

/** Owner-only: the file holds a client secret. */
function writeCredentialsFile(path, credentials) {
  mkdirSync(dirname(resolve(path)), { recursive: true });
  writeFileSync(path, `${JSON.stringify(credentials, null, 2)}\n`, { mode: 0o600 });
  chmodSync(path, 0o600);
}

function flag(argv, name, fallback) {
  const i = argv.indexOf(name);
  return i === -1 ? fallback : argv[i + 1];
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const argv = process.argv.slice(2);
  const result = await seedDemo({
    db: flag(argv, "--db", process.env.AUTHZ_DB ?? "./data/authz.db"),
    canonFile: flag(argv, "--canon-file", process.env.CANON_CLIENT_FILE ?? "./data/canon-client.json"),
    gatewayFile: flag(argv, "--gateway-file", process.env.GATEWAY_CLIENT_FILE),
    redirectUri: flag(argv, "--redirect-uri", DEMO.redirectUri),
  }).catch((err) => {
    process.stderr.write(`seed-demo: ${err.message}\n`);
    process.exit(1);
  });
  process.stdout.write(`${JSON.stringify({ ...result, password: undefined })}\n`);
}
