// How long a key set response may be used, read from its own Cache-Control (RFC 9111 §5.2) and
// Age (RFC 9111 §5.1) fields. A strict, minimal reading of what a key server says about the key
// set — max-age, no-cache, no-store — not a general HTTP cache: no Expires, no heuristic
// freshness, no s-maxage (the plugin is the only user of what it fetches, a private cache in
// RFC 9111 §3's terms). Unknown directives are ignored (RFC 9111 §5.2.3).

/** RFC 9111 §1.2.2: a delta-seconds too large to represent is taken as 2^31. */
const DELTA_SECONDS_MAX = 2 ** 31;
/** RFC 9111 §1.2.2: delta-seconds = 1*DIGIT. */
const DELTA_SECONDS = /^[0-9]+$/;

/** RFC 9110 §5.6.2 token. */
const TOKEN = "[!#$%&'*+\\-.^_`|~0-9A-Za-z]+";
/** RFC 9110 §5.6.4 quoted-string: qdtext and quoted-pair. */
const QUOTED_STRING = '"((?:[\\t !#-\\[\\]-~\\x80-\\xff]|\\\\[\\t -~\\x80-\\xff])*)"';
/**
 * One element of the #list (RFC 9110 §5.6.1): cache-directive = token [ "=" ( token /
 * quoted-string ) ] (RFC 9111 §5.2), with optional whitespace around it, up to its comma or the end.
 */
const DIRECTIVE = new RegExp(`[ \\t]*(${TOKEN})(?:=(?:(${TOKEN})|${QUOTED_STRING}))?[ \\t]*(?:,|$)`, "y");
/** An empty list element, which a recipient accepts and ignores (RFC 9110 §5.6.1). */
const EMPTY_ELEMENT = /[ \t]*,/y;

/** Directive names (lower case, RFC 9111 §5.2) to the argument of each occurrence (undefined: none). */
type Directives = Map<string, (string | undefined)[]>;

/** The directives of a Cache-Control value, or undefined when it does not follow the grammar. */
function parseCacheControl(value: string): Directives | undefined {
  const directives: Directives = new Map();
  let position = 0;
  while (position < value.length) {
    EMPTY_ELEMENT.lastIndex = position;
    if (EMPTY_ELEMENT.test(value)) {
      position = EMPTY_ELEMENT.lastIndex;
      continue;
    }
    DIRECTIVE.lastIndex = position;
    const match = DIRECTIVE.exec(value);
    if (match === null) return undefined;
    const name = match[1];
    // RFC 9111 §5.2: recipients accept both argument forms; a quoted-pair stands for its character.
    const argument = match.at(2) ?? match.at(3)?.replace(/\\(.)/g, "$1");
    const lower = name.toLowerCase();
    directives.set(lower, [...(directives.get(lower) ?? []), argument]);
    position = DIRECTIVE.lastIndex;
  }
  return directives;
}

/** A delta-seconds value (RFC 9111 §1.2.2), or undefined when it is not one. */
function deltaSeconds(value: string | undefined): number | undefined {
  if (value === undefined || !DELTA_SECONDS.test(value)) return undefined;
  return Math.min(Number(value), DELTA_SECONDS_MAX);
}

/**
 * Seconds the response may be used, counted from when it was requested: its max-age less its Age
 * (RFC 9111 §4.2.1, §4.2.3), so a key set that waited in an intermediary cache is not trusted for
 * longer than its origin allows. 0 for no-store, an unqualified no-cache (RFC 9111 §5.2.2.4-5),
 * an unreadable Cache-Control or a max-age that is repeated or not delta-seconds (RFC 9111 §4.2.1
 * encourages treating invalid freshness information as stale). Undefined when the response sets
 * no max-age: then it sets no bound.
 */
export function freshnessLifetime(headers: Headers): number | undefined {
  const value = headers.get("cache-control");
  if (value === null) return undefined;
  const directives = parseCacheControl(value);
  if (directives === undefined) return 0;
  if (directives.has("no-store")) return 0;
  // no-cache="field-name" restricts only the named header fields, not the key set itself.
  if (directives.get("no-cache")?.includes(undefined) === true) return 0;
  const maxAge = directives.get("max-age");
  if (maxAge === undefined) return undefined;
  const lifetime = maxAge.length === 1 ? deltaSeconds(maxAge[0]) : undefined;
  if (lifetime === undefined) return 0;
  // RFC 9111 §5.1: the first member of a list-valued Age counts; an invalid Age is ignored.
  const age = deltaSeconds(headers.get("age")?.split(",", 1).at(0)?.trim()) ?? 0;
  return Math.max(0, lifetime - age);
}
