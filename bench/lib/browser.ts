// Just enough of a browser to log in once and consent at the sidecar's own pages, so the
// authorization-code load can then mint codes over HTTP with the session cookie, as Canon
// Printing's users would after their first visit. Forms are read from our own views (one
// attribute order), the way the flow tests read them.
import crypto from "node:crypto";

export interface FlowClient {
  clientId: string;
  clientSecret: string;
  redirectUri: string;
  username: string;
  password: string;
}

export interface LoggedIn {
  cookie: string;
  /** Path and query of an authorization request that, with `cookie`, answers 303 with a fresh code. */
  authorizePath: string;
  codeVerifier: string;
}

const unescape = (text: string): string =>
  text.replace(
    /&(amp|lt|gt|quot|#39);/g,
    (_m, e: string) => ({ amp: "&", lt: "<", gt: ">", quot: '"', "#39": "'" })[e] ?? "",
  );

/** PKCE (RFC 7636 §4.1–4.2): a random verifier and its S256 challenge. */
export function pkcePair(): { verifier: string; challenge: string } {
  const verifier = crypto.randomBytes(32).toString("base64url");
  return { verifier, challenge: crypto.createHash("sha256").update(verifier).digest("base64url") };
}

export function codeFromLocation(location: string | undefined, redirectUri: string): string | undefined {
  if (location === undefined || !location.startsWith(redirectUri)) return undefined;
  return new URL(location).searchParams.get("code") ?? undefined;
}

/** Walks authorize → login → consent → redirect once, and returns what later code requests need. */
export async function logInAndConsent(base: string, client: FlowClient): Promise<LoggedIn> {
  const cookies = new Map<string, string>();
  const cookieHeader = (): string => [...cookies].map(([k, v]) => `${k}=${v}`).join("; ");
  const { verifier, challenge } = pkcePair();
  const authorizePath = `/authorize?${new URLSearchParams({
    response_type: "code",
    client_id: client.clientId,
    redirect_uri: client.redirectUri,
    scope: "photos",
    state: "bench",
    code_challenge: challenge,
    code_challenge_method: "S256",
  })}`;
  let next: { method: "GET" | "POST"; url: string; body?: string } = {
    method: "GET",
    url: new URL(authorizePath, base).href,
  };
  for (let step = 0; step < 8; step++) {
    const response = await fetch(next.url, {
      method: next.method,
      redirect: "manual",
      headers: {
        ...(cookies.size > 0 ? { cookie: cookieHeader() } : {}),
        ...(next.body !== undefined ? { "content-type": "application/x-www-form-urlencoded" } : {}),
      },
      ...(next.body !== undefined ? { body: next.body } : {}),
    });
    for (const line of response.headers.getSetCookie()) {
      const first = line.split(";", 1)[0] ?? "";
      const eq = first.indexOf("=");
      if (eq > 0) cookies.set(first.slice(0, eq).trim(), first.slice(eq + 1).trim());
    }
    const body = await response.text();
    const location = response.headers.get("location");
    if (response.status === 303 || response.status === 302) {
      const target = new URL(location ?? "", next.url).href;
      if (codeFromLocation(target, client.redirectUri) !== undefined) {
        return { cookie: cookieHeader(), authorizePath, codeVerifier: verifier };
      }
      if (target.startsWith(client.redirectUri)) throw new Error(`the authorization server refused: ${target}`);
      next = { method: "GET", url: target };
      continue;
    }
    const form = /<form method="post" action="([^"]+)"[^>]*>([\s\S]*?)<\/form>/.exec(body);
    if (response.status !== 200 || form === null) {
      throw new Error(`unexpected answer ${response.status} at ${new URL(next.url).pathname}: ${body.slice(0, 160)}`);
    }
    const fields = new URLSearchParams();
    for (const input of form[2].matchAll(/<input type="hidden" name="([^"]*)" value="([^"]*)">/g)) {
      fields.append(unescape(input[1]), unescape(input[2]));
    }
    if (/name="password"/.test(form[2])) {
      fields.set("username", client.username);
      fields.set("password", client.password);
    }
    if (/name="decision"/.test(form[2])) fields.set("decision", "allow");
    next = { method: "POST", url: new URL(unescape(form[1]), next.url).href, body: fields.toString() };
  }
  throw new Error("no code after 8 steps of the authorization flow");
}
