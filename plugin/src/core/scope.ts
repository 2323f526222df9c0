// The scope-token grammar, written once (RFC 6749 §3.3):
//   scope-token = 1*( %x21 / %x23-5B / %x5D-7E )
// that is, printable ASCII without space, `"` and `\`. The configuration check (plugin/src/config.ts)
// tests it here; Kong's schema (plugin/src/schema.ts) writes the same ranges as a Lua pattern.

/** The characters a scope-token may hold, as inclusive code point ranges. */
export const SCOPE_TOKEN_RANGES: readonly (readonly [number, number])[] = [
  [0x21, 0x21],
  [0x23, 0x5b],
  [0x5d, 0x7e],
];

const inRanges = (code: number): boolean => SCOPE_TOKEN_RANGES.some(([low, high]) => code >= low && code <= high);

/** One non-empty scope-token. */
export function isScopeToken(value: string): boolean {
  if (value.length === 0) return false;
  for (let i = 0; i < value.length; i++) if (!inRanges(value.charCodeAt(i))) return false;
  return true;
}
