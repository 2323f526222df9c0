import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { describe, it } from "node:test";
import { renderConsent } from "../../../authz-server/src/views/consent.ts";
import { renderConsents } from "../../../authz-server/src/views/consents.ts";
import { renderError } from "../../../authz-server/src/views/error.ts";
import { escapeHtml, html } from "../../../authz-server/src/views/html.ts";
import { contentSecurityPolicy } from "../../../authz-server/src/views/layout.ts";
import { renderLogin } from "../../../authz-server/src/views/login.ts";

function styleHash(body: string): string {
  const match = /<style>([\s\S]*?)<\/style>/.exec(body);
  assert.ok(match, "page has one inline style");
  return `'sha256-${createHash("sha256").update(match[1]).digest("base64")}'`;
}

describe("views", () => {
  it("escapes every interpolated value", () => {
    assert.equal(escapeHtml(`<a href="x">'&'</a>`), "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;");
    assert.equal(html`<p>${"<script>"}</p>${html`<b>${1}</b>`}`.value, "<p>&lt;script&gt;</p><b>1</b>");
  });

  it("CSP allows exactly the inline style by hash, forbids framing, scripts and third-party content", () => {
    const page = renderLogin({
      siteName: "Flickr",
      clientName: "Canon Printing",
      csrfToken: "t",
      hidden: [],
      formActionOrigins: ["https://canon.example"],
    });
    assert.equal(
      page.csp,
      `default-src 'none'; style-src ${styleHash(page.body)}; form-action 'self' https://canon.example; frame-ancestors 'none'; base-uri 'none'`,
    );
    assert.doesNotMatch(page.body, /<script|https?:\/\/(?!canon)/);
    assert.equal(contentSecurityPolicy().includes("form-action 'self';"), true);
  });

  it("login page: client named, CSRF token and request carried in hidden fields, hostile names escaped", () => {
    const page = renderLogin({
      siteName: "Flickr",
      clientName: `Evil <img src=x onerror=alert(1)>`,
      csrfToken: "csrf-123",
      hidden: [
        ["state", `"><script>`],
        ["resource", "a"],
        ["resource", "b"],
      ],
      error: "The username or password is incorrect.",
      username: "alice",
    });
    assert.match(page.body, /<h1>Sign in to Flickr<\/h1>/);
    assert.match(page.body, /to continue to <strong>Evil &lt;img src=x onerror=alert\(1\)&gt;<\/strong>/);
    assert.match(page.body, /<input type="hidden" name="csrf_token" value="csrf-123">/);
    assert.match(page.body, /<input type="hidden" name="state" value="&quot;&gt;&lt;script&gt;">/);
    assert.equal(page.body.match(/name="resource"/g)?.length, 2);
    assert.match(page.body, /role="alert">The username or password is incorrect.</);
    assert.match(page.body, /name="username"[^>]*value="alice"/);
    assert.match(page.body, /<meta name="viewport" content="width=device-width, initial-scale=1">/);
  });

  it("consent page asks the seed story's question, lists scopes by description, Allow and Deny", () => {
    const page = renderConsent({
      siteName: "Flickr",
      clientName: "Canon Printing",
      username: "alice",
      scopes: [
        { name: "photos", description: "View your photos and albums", granted: false },
        { name: "profile", description: "See your name", granted: true },
      ],
      redirectUri: "https://canon.example/callback",
      csrfToken: "tok",
      hidden: [["client_id", "c"]],
    });
    assert.match(page.body, /<h1>Do you want to allow Canon Printing to access your photos\?<\/h1>/);
    assert.match(page.body, /View your photos and albums/);
    assert.match(page.body, /See your name<span class="badge">already allowed<\/span>/);
    assert.match(page.body, /<button type="submit" name="decision" value="deny" class="secondary">Deny<\/button>/);
    assert.match(page.body, /<button type="submit" name="decision" value="allow" class="primary">Allow<\/button>/);
    assert.match(page.body, /sent back to <strong>canon.example<\/strong>/);
    assert.match(page.body, /<form method="post" action="\/consent">/);
  });

  it("error and consents pages", () => {
    const error = renderError({
      siteName: "Flickr",
      title: "Unknown application",
      message: "Not registered <x>",
    });
    assert.match(error.body, /<h1>Unknown application<\/h1>/);
    assert.match(error.body, /Not registered &lt;x&gt;/);
    assert.equal(error.csp.includes("form-action 'self';"), true);
    const empty = renderConsents({ siteName: "Flickr", username: "alice", consents: [], csrfToken: "t" });
    assert.match(empty.body, /No app has access to your account/);
    const list = renderConsents({
      siteName: "Flickr",
      username: "alice",
      csrfToken: "t",
      notice: "Access for X was withdrawn.",
      consents: [
        {
          clientId: "cid",
          clientName: "Canon Printing",
          scopes: [{ name: "photos", description: "View your photos" }],
          grantedAt: "2026-01-01T00:00:00.000Z",
        },
      ],
    });
    assert.match(
      list.body,
      /<form method="post" action="\/consents\/revoke"><input type="hidden" name="csrf_token" value="t"><input type="hidden" name="client_id" value="cid">/,
    );
    assert.match(list.body, /since 2026-01-01/);
    assert.match(list.body, /role="status">Access for X was withdrawn.</);
  });
  it("account page: a password form (current password, the new one twice) and a sign-out-everywhere button", () => {
    const page = renderConsents({ siteName: "Flickr", username: "alice", consents: [], csrfToken: "t" });
    assert.match(
      page.body,
      /<form method="post" action="\/password" novalidate>\n<input type="hidden" name="csrf_token" value="t">/,
    );
    for (const [name, autocomplete] of [
      ["current_password", "current-password"],
      ["new_password", "new-password"],
      ["new_password_again", "new-password"],
    ]) {
      assert.match(
        page.body,
        new RegExp(
          `<label for="${name}">[^<]+</label>\\n<input type="password" id="${name}" name="${name}" autocomplete="${autocomplete}"`,
        ),
      );
    }
    assert.match(
      page.body,
      /<form method="post" action="\/sign-out-everywhere"><input type="hidden" name="csrf_token" value="t"><div class="actions"><button type="submit" class="secondary">Sign out everywhere<\/button>/,
    );
    assert.doesNotMatch(page.body, /role="alert"/);

    const refused = renderConsents({
      siteName: "Flickr",
      username: "alice",
      consents: [],
      csrfToken: "t",
      passwordError: "Your current password is <incorrect>.",
    });
    assert.match(
      refused.body,
      /<div class="alert error" role="alert">Your current password is &lt;incorrect&gt;.<\/div>/,
    );
    assert.match(refused.body, /name="current_password" autocomplete="current-password" required autofocus>/);
  });
});
