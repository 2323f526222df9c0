import { hiddenFields, html, type HiddenField } from "./html.js";
import { renderPage, type RenderedPage } from "./layout.js";

export interface LoginViewModel {
  readonly siteName: string;
  /** The client the user is signing in for, if any (absent when signing in to manage consents). */
  readonly clientName?: string;
  readonly csrfToken: string;
  /** Fields posted back unchanged (the authorization request being continued). */
  readonly hidden: readonly HiddenField[];
  /** Pre-filled username after a failed attempt. */
  readonly username?: string;
  readonly error?: string;
  /** Origins the form may end up at after the 303 (see layout.ts). */
  readonly formActionOrigins?: readonly string[];
}

export function renderLogin(model: LoginViewModel): RenderedPage {
  const content = html`<div class="card">
<h1>Sign in to ${model.siteName}</h1>
${model.clientName ? html`<p class="lead">to continue to <strong>${model.clientName}</strong></p>` : html`<p class="lead">to manage the apps connected to your account</p>`}
${model.error ? html`<div class="alert error" role="alert">${model.error}</div>` : ""}
<form method="post" action="/login" novalidate>
<input type="hidden" name="csrf_token" value="${model.csrfToken}">
${hiddenFields(model.hidden)}
<label for="username">Username</label>
<input type="text" id="username" name="username" autocomplete="username" autocapitalize="none" spellcheck="false" required value="${model.username ?? ""}"${model.username ? "" : html` autofocus`}>
<label for="password">Password</label>
<input type="password" id="password" name="password" autocomplete="current-password" required${model.username ? html` autofocus` : ""}>
<div class="actions"><button type="submit" class="primary">Sign in</button></div>
</form>
${model.clientName ? html`<p class="fine">${model.siteName} never shares your password with ${model.clientName}.</p>` : ""}
</div>`;
  return renderPage({
    title: "Sign in",
    siteName: model.siteName,
    content,
    ...(model.formActionOrigins ? { formActionOrigins: model.formActionOrigins } : {}),
  });
}
