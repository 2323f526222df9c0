import { hiddenFields, html, type HiddenField } from "./html.js";
import { renderPage, type RenderedPage } from "./layout.js";

export interface ConsentScope {
  readonly name: string;
  readonly description: string;
  /** Already granted to this client by this user (shown, but not asked again). */
  readonly granted: boolean;
}

export interface ConsentViewModel {
  readonly siteName: string;
  readonly clientName: string;
  readonly username: string;
  readonly scopes: readonly ConsentScope[];
  /** Where the user's browser will be sent afterwards (shown so the user can judge it). */
  readonly redirectUri: string;
  readonly csrfToken: string;
  readonly hidden: readonly HiddenField[];
  readonly formActionOrigins?: readonly string[];
}

/**
 * The heading's noun phrase from the scopes being asked: "photos" → "photos", "photos:write"
 * → "photos", "photos profile" → "photos and profile" (the resource part of each name).
 */
function scopeNouns(scopes: readonly ConsentScope[]): string {
  const words = [
    ...new Set(
      scopes.map((s) => (s.name.split(/[:./]/)[0] ?? "").replace(/[_-]+/g, " ").trim()).filter((w) => w.length > 0),
    ),
  ];
  if (words.length === 0) return "account";
  if (words.length === 1) return words[0] ?? "account";
  return `${words.slice(0, -1).join(", ")} and ${words[words.length - 1] ?? ""}`;
}

export function renderConsent(model: ConsentViewModel): RenderedPage {
  const asked = model.scopes.filter((s) => !s.granted);
  const first = model.clientName.trim().charAt(0);
  const initial = (first === "" ? "?" : first).toUpperCase();
  let host = model.redirectUri;
  try {
    host = new URL(model.redirectUri).host;
  } catch {
    // Registered redirect URIs are absolute; keep the raw text if one is not.
  }
  const content = html`<div class="card">
<div class="client"><div class="avatar" aria-hidden="true">${initial}</div><div><strong>${model.clientName}</strong><br><span class="lead">wants access to your ${model.siteName} account</span></div></div>
<h1>Do you want to allow ${model.clientName} to access your ${scopeNouns(asked.length > 0 ? asked : model.scopes)}?</h1>
<p class="who">Signed in as <strong>${model.username}</strong></p>
<p>${model.clientName} will be able to:</p>
<ul class="scopes">
${model.scopes.map(
  (s) =>
    html`<li><span class="check" aria-hidden="true">✓</span><span>${s.description}${s.granted ? html`<span class="badge">already allowed</span>` : ""}<span class="scope-name">${s.name}</span></span></li>`,
)}
</ul>
<form method="post" action="/consent">
<input type="hidden" name="csrf_token" value="${model.csrfToken}">
${hiddenFields(model.hidden)}
<div class="actions">
<button type="submit" name="decision" value="deny" class="secondary">Deny</button>
<button type="submit" name="decision" value="allow" class="primary">Allow</button>
</div>
</form>
<p class="fine">You will be sent back to <strong>${host}</strong>. You can withdraw this access at any time on <a href="/consents">your connected apps</a> page.</p>
</div>`;
  return renderPage({
    title: `Allow ${model.clientName}?`,
    siteName: model.siteName,
    content,
    ...(model.formActionOrigins ? { formActionOrigins: model.formActionOrigins } : {}),
  });
}
