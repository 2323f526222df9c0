import type { Context } from "koa";
import { OAuthError } from "./errors.js";
import { readForm, type FormParams } from "./form.js";
import { matchesDigest } from "./secrets.js";
import type { Services } from "./services.js";
import type { Client, Storage } from "./storage/types.js";

/**
 * The first steps of the introspection and revocation endpoints (RFC 7662 §2.1, RFC 7009 §2.1): a response never
 * cached (it may describe a token), a form body, and the client authenticated.
 */
export async function readAuthenticatedForm(
  ctx: Context,
  services: Services,
): Promise<{ form: FormParams; client: Client }> {
  ctx.set("Cache-Control", "no-store");
  ctx.set("Pragma", "no-cache");
  const form = await readForm(ctx, { limit: services.bodyLimit });
  return { form, client: await authenticateClient(ctx, form, services.storage) };
}

/**
 * Client authentication at the token, introspection and revocation endpoints (RFC 6749 §2.3):
 * client_secret_basic, client_secret_post, or `none` for a public client that only names itself.
 * Every failure is invalid_client (401 + WWW-Authenticate, rendered by errors.ts) with one description,
 * so the answer does not reveal whether the client exists.
 */
export async function authenticateClient(ctx: Context, form: FormParams, storage: Storage): Promise<Client> {
  const basic = parseBasic(ctx.get("Authorization"));
  const postId = form.get("client_id");
  const postSecret = form.get("client_secret");
  if (basic && (postSecret !== undefined || (postId !== undefined && postId !== basic.clientId))) {
    // RFC 6749 §2.3: a client MUST NOT use more than one authentication method in each request.
    throw new OAuthError("invalid_request", "more than one client authentication method was used");
  }
  const clientId = basic?.clientId ?? postId;
  if (clientId === undefined) throw new OAuthError("invalid_client", "client authentication failed");
  const client = await storage.clients.find(clientId);
  const method = basic ? "client_secret_basic" : postSecret !== undefined ? "client_secret_post" : "none";
  const secret = basic?.secret ?? postSecret;
  if (!client) throw new OAuthError("invalid_client", "client authentication failed");
  if (client.secretDigest === null) {
    // A public client cannot keep a secret; one that sends any secret is misconfigured (RFC 6749 §2.1).
    if (method !== "none") throw new OAuthError("invalid_client", "client authentication failed");
    return client;
  }
  // A confidential client must authenticate with a secret; `none` is not enough. Basic and post are both accepted.
  if (method === "none" || secret === undefined || !matchesDigest(secret, client.secretDigest)) {
    throw new OAuthError("invalid_client", "client authentication failed");
  }
  return client;
}

/**
 * RFC 7617 Basic credentials; RFC 6749 §2.3.1: client_id and secret are form-urlencoded before base64.
 * Absent header → undefined. A present but malformed Basic header is invalid_request (as node-oidc-provider does).
 */
function parseBasic(header: string): { clientId: string; secret: string } | undefined {
  if (header === "") return undefined;
  const match = /^Basic +([A-Za-z0-9+/]+={0,2}) *$/i.exec(header);
  if (!match) {
    if (/^Basic(\s|$)/i.test(header)) throw new OAuthError("invalid_request", "malformed Basic authorization header");
    return undefined; // another scheme (e.g. Bearer) is not client authentication here
  }
  const decoded = Buffer.from(match[1], "base64").toString("utf8");
  const colon = decoded.indexOf(":");
  if (colon <= 0) throw new OAuthError("invalid_request", "malformed Basic authorization header");
  try {
    const clientId = formDecode(decoded.slice(0, colon));
    const secret = formDecode(decoded.slice(colon + 1));
    if (secret === "") throw new OAuthError("invalid_request", "malformed Basic authorization header");
    return { clientId, secret };
  } catch (error: unknown) {
    if (error instanceof OAuthError) throw error;
    throw new OAuthError("invalid_request", "malformed Basic authorization header");
  }
}

/** application/x-www-form-urlencoded decoding of one component; the server's own ids and secrets need none. */
function formDecode(value: string): string {
  if (!value.includes("%") && !value.includes("+")) return value;
  return decodeURIComponent(value.replace(/\+/g, " "));
}
