import { createHash } from "node:crypto";
import { html, SafeHtml } from "./html.js";

/**
 * The one stylesheet of every page, inlined so that the pages load nothing from anywhere
 * (no third-party content). The CSP allows exactly this text by
 * its SHA-256 hash (CSP3 §2.3.1 hash-source), so no 'unsafe-inline' is needed.
 */
const STYLE = `
:root{color-scheme:light;--ink:#1d2330;--muted:#5b6475;--line:#dfe3ea;--bg:#f3f5f8;--card:#fff;--accent:#0063dc;--accent-ink:#fff;--danger:#b3261e;--ok:#1b7f3b}
*{box-sizing:border-box}
html{-webkit-text-size-adjust:100%}
body{margin:0;min-height:100vh;background:var(--bg);color:var(--ink);font:16px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif;display:flex;flex-direction:column;align-items:center}
header.top{width:100%;display:flex;justify-content:center;padding:28px 16px 8px}
.brand{display:flex;align-items:center;gap:10px;font-weight:700;font-size:1.35rem;letter-spacing:-.01em;color:var(--ink)}
.dots{display:inline-flex;gap:3px}
.dots i{display:block;width:14px;height:14px;border-radius:50%;background:#0063dc}
.dots i+i{background:#ff0084}
main{width:100%;max-width:440px;padding:12px 16px 32px}
.card{background:var(--card);border:1px solid var(--line);border-radius:14px;padding:28px 24px;box-shadow:0 1px 2px rgba(16,24,40,.04),0 8px 24px rgba(16,24,40,.06)}
h1{font-size:1.4rem;line-height:1.3;margin:0 0 8px}
p{margin:0 0 16px}
a{color:var(--accent);text-underline-offset:2px}
.lead{color:var(--muted)}
label{display:block;font-weight:600;font-size:.95rem;margin:16px 0 6px}
input[type=text],input[type=password]{width:100%;font:inherit;padding:11px 12px;border:1px solid #c4cad4;border-radius:8px;background:#fff;color:var(--ink)}
input:focus-visible,button:focus-visible,a:focus-visible{outline:3px solid #8ab4f8;outline-offset:2px}
.actions{display:flex;gap:12px;margin-top:24px;flex-wrap:wrap}
.actions form{display:contents}
button{flex:1 1 140px;font:inherit;font-weight:600;padding:12px 16px;border-radius:8px;border:1px solid transparent;cursor:pointer;min-height:48px}
.primary{background:var(--accent);color:var(--accent-ink)}
.primary:hover{background:#0052b6}
.secondary{background:#fff;color:var(--ink);border-color:#c4cad4}
.secondary:hover{background:#f6f7f9}
.link-button{flex:none;min-height:0;padding:6px 12px;font-size:.9rem}
.alert{border-radius:8px;padding:12px 14px;margin:0 0 16px;font-size:.95rem}
.alert.error{background:#fdecea;color:var(--danger);border:1px solid #f5c2bd}
.alert.info{background:#e8f0fe;color:#174ea6;border:1px solid #c6dafc}
.client{display:flex;align-items:center;gap:12px;margin:0 0 18px}
.avatar{flex:none;width:44px;height:44px;border-radius:10px;background:#eef2f8;border:1px solid var(--line);display:flex;align-items:center;justify-content:center;font-weight:700;color:var(--accent);font-size:1.2rem}
ul.scopes{list-style:none;margin:0 0 8px;padding:0;border:1px solid var(--line);border-radius:10px}
ul.scopes li{padding:12px 14px;display:flex;gap:10px;align-items:flex-start}
ul.scopes li+li{border-top:1px solid var(--line)}
.check{flex:none;color:var(--ok);font-weight:700}
.scope-name{display:block;font-size:.8rem;color:var(--muted);font-family:ui-monospace,SFMono-Regular,Menlo,monospace}
.badge{display:inline-block;font-size:.75rem;padding:1px 8px;border-radius:999px;background:#e6f4ea;color:var(--ok);margin-left:6px;vertical-align:middle}
.fine{font-size:.85rem;color:var(--muted);margin-top:18px}
.who{font-size:.9rem;color:var(--muted);margin:0 0 16px}
.who-row{display:flex;justify-content:space-between;align-items:baseline;gap:12px}
table{width:100%;border-collapse:collapse;font-size:.95rem}
th,td{text-align:left;padding:10px 6px;border-bottom:1px solid var(--line);vertical-align:top}
th{font-size:.8rem;text-transform:uppercase;letter-spacing:.04em;color:var(--muted)}
.visually-hidden{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0);white-space:nowrap}
footer{color:var(--muted);font-size:.8rem;padding:0 16px 24px;text-align:center}
@media (max-width:480px){.card{padding:22px 18px;border-radius:12px}header.top{padding-top:18px}}
`;

const STYLE_HASH = `'sha256-${createHash("sha256").update(STYLE).digest("base64")}'`;

export interface PageOptions {
  /** The page title (also the document title). */
  readonly title: string;
  /** The product name shown in the header, e.g. "Flickr". */
  readonly siteName: string;
  readonly content: SafeHtml;
  /**
   * Origins a form on this page may end up at. Chromium applies `form-action` to every
   * redirect that follows a form submission (CSP3 §6.3.1), so the login and consent pages,
   * whose POST ends in a 303 to the client's registered redirect URI, must list its origin.
   */
  readonly formActionOrigins?: readonly string[];
}

export interface RenderedPage {
  readonly body: string;
  /** The Content-Security-Policy for this page. */
  readonly csp: string;
}

export function contentSecurityPolicy(formActionOrigins: readonly string[] = []): string {
  const formAction = ["'self'", ...new Set(formActionOrigins)].join(" ");
  // default-src 'none': nothing loads but the hashed inline style; frame-ancestors 'none'
  // forbids framing (clickjacking of the consent button, RFC 9700 §4.16).
  return [
    "default-src 'none'",
    `style-src ${STYLE_HASH}`,
    `form-action ${formAction}`,
    "frame-ancestors 'none'",
    "base-uri 'none'",
  ].join("; ");
}

export function renderPage(options: PageOptions): RenderedPage {
  const page = html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>${options.title} · ${options.siteName}</title>
<style>${new SafeHtml(STYLE)}</style>
</head>
<body>
<header class="top"><div class="brand"><span class="dots" aria-hidden="true"><i></i><i></i></span>${options.siteName}</div></header>
<main>
${options.content}
</main>
<footer>${options.siteName} · secure sign-in</footer>
</body>
</html>
`;
  return { body: page.value, csp: contentSecurityPolicy(options.formActionOrigins) };
}
