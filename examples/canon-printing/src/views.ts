/**
 * Canon Printing's pages: server-rendered, no JavaScript, no third-party content.
 */
import { html, Html } from "./html.js";

export interface PhotoView {
  id: string;
  title: string;
  taken: string;
  image: string;
}

const STYLE = `
  :root { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #1d1d1f; }
  body { margin: 0; background: #f5f5f7; }
  header { background: #c00; color: #fff; padding: 14px 20px; display: flex; align-items: center; gap: 12px; }
  header strong { font-size: 1.3rem; letter-spacing: .02em; }
  main { max-width: 760px; margin: 24px auto; padding: 0 16px; }
  .card { background: #fff; border-radius: 12px; padding: 24px; box-shadow: 0 1px 4px rgba(0,0,0,.08); margin-bottom: 16px; }
  button { font: inherit; border: 0; border-radius: 8px; padding: 12px 20px; cursor: pointer; }
  .primary { background: #c00; color: #fff; font-weight: 600; }
  .secondary { background: #e8e8ed; color: #1d1d1f; }
  .grid { display: grid; grid-template-columns: repeat(auto-fill, minmax(200px, 1fr)); gap: 16px; }
  figure { margin: 0; background: #fff; border-radius: 10px; overflow: hidden; box-shadow: 0 1px 4px rgba(0,0,0,.08); }
  figure img { width: 100%; height: auto; display: block; }
  figcaption { padding: 8px 12px; font-size: .9rem; }
  .muted { color: #6e6e73; font-size: .9rem; }
  code { background: #f0f0f3; padding: 1px 5px; border-radius: 4px; }
  form.inline { display: inline; }
`;

export function page(title: string, body: Html): string {
  return html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${title} · Canon Printing</title>
<style>${new Html(STYLE)}</style>
</head>
<body>
<header><strong>Canon Printing</strong><span>Prints of your photos, delivered</span></header>
<main>
${body}
</main>
</body>
</html>
`.text;
}

function connectForm(csrf: string, scope: string, label: string, cls: string): Html {
  return html`<form method="post" action="/connect" class="inline">
<input type="hidden" name="csrf" value="${csrf}">
<input type="hidden" name="scope" value="${scope}">
<button type="submit" class="${cls}">${label}</button>
</form>`;
}

export function homePage(csrf: string, connected: { scope: string } | null): string {
  return page(
    "Home",
    html`<section class="card">
<h1>Print your Flickr photos</h1>
<p>Canon Printing turns the photos in your Flickr account into beautiful prints.
You sign in at Flickr's own sign-in page: Canon Printing never sees your Flickr password,
and you decide what it may read.</p>
${connectForm(csrf, "photos", "Print my Flickr photos", "primary")}
</section>
<section class="card">
<p class="muted">Demo: connect with only the <code>profile</code> permission to see what happens when
Canon Printing lacks the <code>photos</code> permission.</p>
${connectForm(csrf, "profile", "Connect with my profile only", "secondary")}
${
  connected === null
    ? html``
    : html`<p class="muted" id="connected">Connected to Flickr with permission: <code>${connected.scope}</code>.</p>
<form method="post" action="/disconnect" class="inline"><input type="hidden" name="csrf" value="${csrf}"><button type="submit" class="secondary">Disconnect</button></form>`
}
</section>`,
  );
}

export function photosPage(csrf: string, owner: string, photos: readonly PhotoView[], gatewayIdentity: string): string {
  return page(
    "Your photos",
    html`<section class="card">
<h1>Your Flickr photos</h1>
<p>Fetched from Flickr through the API gateway for <strong id="owner">${owner}</strong>.
Choose what to print.</p>
<p class="muted">The gateway told the Flickr API: <code id="gateway-identity">${gatewayIdentity}</code></p>
</section>
<form method="post" action="/print">
<input type="hidden" name="csrf" value="${csrf}">
<div class="grid" id="photos">
${photos.map(
  (p) =>
    html`<figure data-photo-id="${p.id}"><img src="${p.image}" alt="${p.title}" width="320" height="200"><figcaption><label><input type="checkbox" name="photo" value="${p.id}" checked> <strong>${p.title}</strong></label><br><span class="muted">${p.taken}</span></figcaption></figure>`,
)}
</div>
<p><button type="submit" class="primary">Print the selected photos</button></p>
</form>
<p><a href="/">Back to Canon Printing</a></p>`,
  );
}

/** Every friendly error page: a heading, an explanation, and a way back. */
export function problemPage(id: string, heading: string, explanation: string, detail?: string): string {
  return page(
    heading,
    html`<section class="card" id="${id}">
<h1>${heading}</h1>
<p>${explanation}</p>
${detail === undefined ? html`` : html`<p class="muted">Details: <code>${detail}</code></p>`}
<p><a href="/">Back to Canon Printing</a></p>
</section>`,
  );
}

export function printedPage(titles: readonly string[]): string {
  return page(
    "Printing",
    html`<section class="card" id="printing">
<h1>Your prints are on their way</h1>
<p>${String(titles.length)} ${titles.length === 1 ? "photo is" : "photos are"} being printed:</p>
<ul>${titles.map((t) => html`<li>${t}</li>`)}</ul>
<p class="muted">Canon Printing read these photos from Flickr with the permission you gave; it never saw your Flickr password.</p>
<p><a href="/">Back to Canon Printing</a></p>
</section>`,
  );
}
