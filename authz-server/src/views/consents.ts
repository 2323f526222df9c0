import { html } from "./html.js";
import { renderPage, type RenderedPage } from "./layout.js";

export interface ConsentRow {
  readonly clientId: string;
  readonly clientName: string;
  readonly scopes: readonly { readonly name: string; readonly description: string }[];
  /** ISO 8601 date-time of the last grant. */
  readonly grantedAt: string;
}

export interface ConsentsViewModel {
  readonly siteName: string;
  readonly username: string;
  readonly consents: readonly ConsentRow[];
  readonly csrfToken: string;
  readonly notice?: string;
}

export function renderConsents(model: ConsentsViewModel): RenderedPage {
  const content = html`<div class="card">
<h1>Connected apps</h1>
<form method="post" action="/logout" class="who-row"><p class="who">Signed in as <strong>${model.username}</strong></p><input type="hidden" name="csrf_token" value="${model.csrfToken}"><button type="submit" class="secondary link-button">Sign out</button></form>
${model.notice ? html`<div class="alert info" role="status">${model.notice}</div>` : ""}
${
  model.consents.length === 0
    ? html`<p class="lead">No app has access to your account.</p>`
    : html`<p class="lead">These apps can access your account. Withdrawing access signs the app out at once; it must ask you again.</p>
<table>
<thead><tr><th scope="col">App</th><th scope="col">Access</th><th scope="col"><span class="visually-hidden">Action</span></th></tr></thead>
<tbody>
${model.consents.map(
  (c) => html`<tr>
<td><strong>${c.clientName}</strong><br><span class="scope-name">since ${c.grantedAt.slice(0, 10)}</span></td>
<td>${c.scopes.map((s) => html`<div>${s.description}<span class="scope-name">${s.name}</span></div>`)}</td>
<td><form method="post" action="/consents/revoke"><input type="hidden" name="csrf_token" value="${model.csrfToken}"><input type="hidden" name="client_id" value="${c.clientId}"><button type="submit" class="secondary link-button" aria-label="Withdraw access for ${c.clientName}">Withdraw</button></form></td>
</tr>`,
)}
</tbody>
</table>`
}
</div>`;
  return renderPage({ title: "Connected apps", siteName: model.siteName, content });
}
