import { html, type SafeHtml } from "./html.js";
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
  /** Why the password form was refused, shown above it. */
  readonly passwordError?: string;
}

/**
 * The current password proves it is the user at the keyboard, not someone at a browser left signed in; the new one is
 * typed twice, as `users set-password` asks for it (endpoints/password.ts).
 */
function passwordForm(model: ConsentsViewModel): SafeHtml {
  return html`<h2>Change password</h2>
<p class="lead">You stay signed in here; every other device is signed out, and apps must ask you to sign in again.</p>
${model.passwordError ? html`<div class="alert error" role="alert">${model.passwordError}</div>` : ""}
<form method="post" action="/password" novalidate>
<input type="hidden" name="csrf_token" value="${model.csrfToken}">
<input type="text" name="username" autocomplete="username" value="${model.username}" hidden readonly>
<label for="current_password">Current password</label>
<input type="password" id="current_password" name="current_password" autocomplete="current-password" required${model.passwordError ? html` autofocus` : ""}>
<label for="new_password">New password</label>
<input type="password" id="new_password" name="new_password" autocomplete="new-password" minlength="8" required>
<label for="new_password_again">New password again</label>
<input type="password" id="new_password_again" name="new_password_again" autocomplete="new-password" minlength="8" required>
<div class="actions"><button type="submit" class="primary">Change password</button></div>
</form>`;
}

function signOutEverywhereForm(model: ConsentsViewModel): SafeHtml {
  return html`<h2>Sign out everywhere</h2>
<p class="lead">Ends every sign-in to your account on every device, this one included. Apps keep the access you gave them but must ask you to sign in again.</p>
<form method="post" action="/sign-out-everywhere"><input type="hidden" name="csrf_token" value="${model.csrfToken}"><div class="actions"><button type="submit" class="secondary">Sign out everywhere</button></div></form>`;
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
${passwordForm(model)}
${signOutEverywhereForm(model)}
</div>`;
  return renderPage({ title: "Connected apps", siteName: model.siteName, content });
}
