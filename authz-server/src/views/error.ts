import { html } from "./html.js";
import { renderPage, type RenderedPage } from "./layout.js";

export interface ErrorViewModel {
  readonly siteName: string;
  readonly title: string;
  readonly message: string;
}

/**
 * The page of every PageError (errors.ts): an unreadable or forged form, and a request whose redirect URI cannot be
 * trusted (unknown client, unregistered redirect URI), where redirecting would make the server an open redirector
 * (RFC 6749 §4.1.2.1, RFC 9700 §4.11).
 */
export function renderError(model: ErrorViewModel): RenderedPage {
  const content = html`<div class="card">
<h1>${model.title}</h1>
<div class="alert error" role="alert">${model.message}</div>
<p class="lead">If you followed a link from an app, go back to that app and try again, or contact its developer.</p>
</div>`;
  return renderPage({ title: model.title, siteName: model.siteName, content });
}
