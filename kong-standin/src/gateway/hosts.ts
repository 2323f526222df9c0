/**
 * The stand-in's one deviation from kong.yml: kong.yml names Docker's host names (`photos`,
 * `authz`), which do not resolve on a developer's machine. This table maps `host:port` as written
 * in kong.yml to the address to use locally. It applies to the service URL the gateway proxies to
 * and to the URLs in the plugin's config (`jwks_uri` and `revocation_feed_url`, and `issuer`, which
 * tests running the authorization server on a free port remap the same way). Nothing else in
 * kong.yml changes.
 */
export type HostTable = Readonly<Partial<Record<string, string>>>;

/** `npm start`: the demo's fixed ports on the loopback interface. */
export const DEFAULT_HOST_TABLE: HostTable = {
  "photos:8080": "127.0.0.1:8080",
  "authz:9000": "127.0.0.1:9000",
};

function hostPort(url: URL): string {
  const port = url.port !== "" ? url.port : url.protocol === "https:" ? "443" : "80";
  return `${url.hostname}:${port}`;
}

/** The URL with its host and port replaced when the table names them; otherwise unchanged. */
export function mapUrl(url: string, table: HostTable): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return url;
  }
  const target = table[hostPort(parsed)];
  if (target === undefined) return url;
  const mapped = new URL(url);
  mapped.host = target;
  // Keep the written form (no trailing "/" added to a bare origin such as an issuer).
  const rest = url.slice(url.indexOf(parsed.host) + parsed.host.length);
  return `${mapped.protocol}//${mapped.host}${rest}`;
}

/** Plugin config fields that hold URLs the plugin contacts or compares. */
const URL_FIELDS = ["issuer", "jwks_uri", "revocation_feed_url"] as const;

export function mapPluginConfig(config: Readonly<Record<string, unknown>>, table: HostTable): Record<string, unknown> {
  const copy: Record<string, unknown> = { ...config };
  for (const field of URL_FIELDS) {
    const value = copy[field];
    if (typeof value === "string") copy[field] = mapUrl(value, table);
  }
  return copy;
}
