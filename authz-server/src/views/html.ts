/**
 * A minimal HTML template tag: every interpolated value is escaped unless it is already
 * `SafeHtml` (produced by this tag). Pages are built only through it, so user- or
 * client-controlled text (client names, usernames, scope descriptions) can never inject
 * markup or script (defence in depth beside the CSP in ./layout.ts).
 */
export class SafeHtml {
  constructor(readonly value: string) {}
  toString(): string {
    return this.value;
  }
}

const ESCAPES: Record<string, string> = {
  "&": "&amp;",
  "<": "&lt;",
  ">": "&gt;",
  '"': "&quot;",
  "'": "&#39;",
};

/** Escapes text for use in element content and in double- or single-quoted attributes. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ESCAPES[c] ?? c);
}

export type HtmlValue = SafeHtml | string | number | null | undefined | false | readonly HtmlValue[];

function render(value: HtmlValue): string {
  if (value === null || value === undefined || value === false) return "";
  if (value instanceof SafeHtml) return value.value;
  if (Array.isArray(value)) return value.map((v: HtmlValue) => render(v)).join("");
  return escapeHtml(String(value));
}

export function html(strings: TemplateStringsArray, ...values: HtmlValue[]): SafeHtml {
  // A template has one more string than values: strings[0] and strings[i + 1] always exist.
  let out = strings[0];
  for (let i = 0; i < values.length; i++) {
    out += render(values[i]) + strings[i + 1];
  }
  return new SafeHtml(out);
}

/** Hidden inputs that carry the validated authorization request through login and consent. */
export function hiddenFields(fields: readonly HiddenField[]): SafeHtml {
  return html`${fields.map(([name, value]) => html`<input type="hidden" name="${name}" value="${value}">`)}`;
}

/** A name/value pair; a name may repeat (e.g. RFC 8707 `resource`). */
export type HiddenField = readonly [name: string, value: string];
