/**
 * Request headers as the stand-in carries them between steps: lower-case names (as Kong's
 * `kong.request.get_headers` returns them), each with every value the client sent. Names keep
 * their `_` or `-` spelling, because nginx (with Kong's `underscores_in_headers on`) does.
 */
export type HeaderMap = Record<string, string[]>;

/** From Node's `rawHeaders` (name, value, name, value, …), keeping repeated headers. */
export function headerMapFromRaw(raw: readonly string[]): HeaderMap {
  const map: HeaderMap = {};
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = (raw[i] ?? "").toLowerCase();
    (map[name] ??= []).push(raw[i + 1] ?? "");
  }
  return map;
}

/** Header names compared as nginx's `$http_*` variables do: case-insensitive, `_` equal to `-`. */
export { foldHeaderName } from "oauth2-jwt/guard";

/** A copy without the headers whose (received) name `drop` picks. */
export function withoutHeaders(headers: HeaderMap, drop: (name: string) => boolean): HeaderMap {
  const copy: HeaderMap = {};
  for (const [name, values] of Object.entries(headers)) if (!drop(name)) copy[name] = [...values];
  return copy;
}

export function cloneHeaders(headers: HeaderMap): HeaderMap {
  const copy: HeaderMap = {};
  for (const [name, values] of Object.entries(headers)) copy[name] = [...values];
  return copy;
}
