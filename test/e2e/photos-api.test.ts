// The demo's Flickr photos API on its own: it trusts only the identity headers the gateway sets.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { startPhotosApi, type RunningPhotosApi } from "../../examples/photos-api/src/server.ts";

const IDENTITY = {
  "x-authenticated-userid": "alice-sub",
  "x-authenticated-client-id": "canon",
  "x-authenticated-scope": "photos photos:write",
};

describe("examples/photos-api", () => {
  let api: RunningPhotosApi;
  before(async () => {
    api = await startPhotosApi({ port: 0, now: () => new Date(Date.UTC(2026, 10, 29)) });
  });
  after(() => api.close());

  it("protected routes refuse a request that did not come through the gateway", async () => {
    for (const [method, path] of [
      ["GET", "/flickr/photos"],
      ["POST", "/flickr/photos"],
      ["GET", "/flickr/profile"],
    ]) {
      const response = await fetch(`${api.url}${path}`, { method });
      assert.equal(response.status, 401, `${method} ${path}`);
      assert.deepEqual(await response.json(), {
        error: "unauthenticated",
        message: "this API is reached through the gateway, which forwards the caller's identity",
      });
    }
  });

  it("lists the photos with their SVG image data and echoes the gateway's identity headers", async () => {
    const response = await fetch(`${api.url}/flickr/photos`, { headers: IDENTITY });
    assert.equal(response.status, 200);
    const body = (await response.json()) as {
      owner: string;
      photos: { id: string; title: string; image: string }[];
      gateway: unknown;
    };
    assert.equal(body.owner, "alice-sub");
    assert.deepEqual(body.gateway, { userid: "alice-sub", client_id: "canon", scope: ["photos", "photos:write"] });
    assert.deepEqual(
      body.photos.map((p) => p.id),
      ["p-1001", "p-1002", "p-1003", "p-1004"],
    );
    for (const photo of body.photos) {
      assert.match(photo.image, /^data:image\/svg\+xml;base64,/);
      const svg = Buffer.from(photo.image.slice(photo.image.indexOf(",") + 1), "base64").toString("utf8");
      assert.match(svg, /^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg" width="320" height="200"/);
      assert.ok(svg.includes(photo.title), photo.title);
    }
  });

  it("uploads a photo into the caller's own library", async () => {
    const created = await fetch(`${api.url}/flickr/photos`, {
      method: "POST",
      headers: { ...IDENTITY, "content-type": "application/json" },
      body: JSON.stringify({ title: "  Osaka <castle>  " }),
    });
    assert.equal(created.status, 201);
    const body = (await created.json()) as { photo: { id: string; title: string; taken: string; image: string } };
    assert.deepEqual(
      { id: body.photo.id, title: body.photo.title, taken: body.photo.taken },
      { id: "u-1", title: "Osaka <castle>", taken: "2026-11-29" },
    );
    // Escaped inside the SVG.
    assert.ok(
      Buffer.from(body.photo.image.split(",")[1], "base64").toString("utf8").includes("Osaka &#60;castle&#62;"),
    );
    const mine = (await (await fetch(`${api.url}/flickr/photos`, { headers: IDENTITY })).json()) as {
      photos: { id: string }[];
    };
    assert.equal(mine.photos.at(-1)?.id, "u-1");
    const others = (await (
      await fetch(`${api.url}/flickr/photos`, { headers: { ...IDENTITY, "x-authenticated-userid": "bob" } })
    ).json()) as { photos: unknown[] };
    assert.equal(others.photos.length, 4);
    const profile = await fetch(`${api.url}/flickr/profile`, { headers: IDENTITY });
    assert.deepEqual(await profile.json(), {
      profile: { sub: "alice-sub", photo_count: 5 },
      gateway: { userid: "alice-sub", client_id: "canon", scope: ["photos", "photos:write"] },
    });
  });

  it("rejects bad uploads with the exact status", async () => {
    const post = (headers: Record<string, string>, body: string) =>
      fetch(`${api.url}/flickr/photos`, { method: "POST", headers: { ...IDENTITY, ...headers }, body });
    const cases: [Record<string, string>, string, number, string][] = [
      [{ "content-type": "text/plain" }, "x", 415, "unsupported_media_type"],
      [{ "content-type": "application/json" }, "{", 400, "invalid_request"],
      [{ "content-type": "application/json" }, JSON.stringify({ title: "" }), 400, "invalid_request"],
      [{ "content-type": "application/json" }, JSON.stringify({ title: 5 }), 400, "invalid_request"],
      [{ "content-type": "application/json" }, JSON.stringify({ title: "x".repeat(101) }), 400, "invalid_request"],
      [{ "content-type": "application/json" }, JSON.stringify({ title: "x".repeat(5000) }), 413, "payload_too_large"],
    ];
    for (const [headers, body, status, error] of cases) {
      const response = await post(headers, body);
      assert.equal(response.status, status, body.slice(0, 20));
      assert.equal(((await response.json()) as { error: string }).error, error);
    }
  });

  it("explore is public; unknown paths are 404", async () => {
    const explore = await fetch(`${api.url}/flickr/explore`);
    assert.equal(explore.status, 200);
    assert.deepEqual(
      ((await explore.json()) as { photos: { id: string }[] }).photos.map((p) => p.id),
      ["e-2001", "e-2002"],
    );
    const missing = await fetch(`${api.url}/nope`);
    assert.deepEqual(
      { status: missing.status, body: (await missing.json()) as unknown },
      { status: 404, body: { error: "not_found" } },
    );
  });
});
