// `npm start` (scripts/start.mjs) on free ports: it builds, seeds a fresh database, starts the four
// processes, prints the URL and the demo credentials once everything answers, and Ctrl-C (SIGINT)
// stops everything it started.
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, statSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { DEMO } from "../../scripts/seed-demo.mjs";
import { freePorts } from "../helpers/ports.ts";
import { ROOT } from "./helpers.ts";

async function refused(port: number): Promise<boolean> {
  try {
    await fetch(`http://127.0.0.1:${port}/`, { signal: AbortSignal.timeout(2000) });
    return false;
  } catch {
    return true;
  }
}

describe("npm start (scripts/start.mjs)", { timeout: 120_000 }, () => {
  it("names a port that is in use and the variable that moves it, in one line and before starting anything", async () => {
    const processes = {
      AUTHZ_PORT: "authorization server",
      PHOTOS_PORT: "photos API",
      CANON_PORT: "Canon Printing",
      GATEWAY_PORT: "gateway",
    };
    for (const [variable, name] of Object.entries(processes)) {
      const [authz, photos, canon, gateway] = (await freePorts(4)) as [number, number, number, number];
      const ports: Record<string, number> = {
        AUTHZ_PORT: authz,
        PHOTOS_PORT: photos,
        CANON_PORT: canon,
        GATEWAY_PORT: gateway,
      };
      const busy = ports[variable];
      const holder = createServer();
      await new Promise<void>((resolve) => holder.listen(busy, "127.0.0.1", resolve));
      const dir = mkdtempSync(join(tmpdir(), "npm-start-busy-"));
      try {
        const run = spawnSync(process.execPath, [join(ROOT, "scripts/start.mjs")], {
          cwd: ROOT,
          env: {
            ...process.env,
            AUTHZ_DB: join(dir, "authz.db"),
            ...Object.fromEntries(Object.entries(ports).map(([k, v]) => [k, String(v)])),
          },
          encoding: "utf8",
          timeout: 60_000,
        });
        assert.deepEqual(
          { status: run.status, stdout: run.stdout, stderr: run.stderr },
          { status: 1, stdout: "", stderr: `[start] port ${busy} is in use (${name}); set ${variable} to move it\n` },
        );
      } finally {
        holder.close();
        rmSync(dir, { recursive: true, force: true });
      }
    }
    const run = spawnSync(process.execPath, [join(ROOT, "scripts/start.mjs")], {
      cwd: ROOT,
      env: { ...process.env, AUTHZ_PORT: "99999" },
      encoding: "utf8",
      timeout: 60_000,
    });
    assert.deepEqual(
      { status: run.status, stdout: run.stdout, stderr: run.stderr },
      { status: 1, stdout: "", stderr: '[start] AUTHZ_PORT must be a port number from 1 to 65535; got "99999"\n' },
    );
  });

  it("is ready with everything answering, prints what to open, and stops everything on Ctrl-C", async () => {
    const [authz, photos, canon, gateway] = (await freePorts(4)) as [number, number, number, number];
    const dir = mkdtempSync(join(tmpdir(), "npm-start-"));
    const canonFile = join(dir, "canon-client.json");
    const child = spawn(process.execPath, [join(ROOT, "scripts/start.mjs")], {
      cwd: ROOT,
      env: {
        ...process.env,
        AUTHZ_DB: join(dir, "authz.db"),
        CANON_CLIENT_FILE: canonFile,
        AUTHZ_PORT: String(authz),
        PHOTOS_PORT: String(photos),
        CANON_PORT: String(canon),
        GATEWAY_PORT: String(gateway),
      },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let output = "";
    child.stdout.setEncoding("utf8").on("data", (d: string) => (output += d));
    child.stderr.setEncoding("utf8").on("data", (d: string) => (output += d));
    const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
    try {
      const deadline = Date.now() + 90_000;
      while (!/Ready in [\d.]+ s/.test(output)) {
        assert.ok(child.exitCode === null, `start.mjs exited early:\n${output}`);
        assert.ok(Date.now() < deadline, `not ready in time:\n${output}`);
        await new Promise((r) => setTimeout(r, 100));
      }
      const ready = /Ready in ([\d.]+) s/.exec(output);
      assert.ok(ready, output);
      const seconds = Number(ready[1]);
      assert.ok(seconds < 30, `ready in ${seconds} s`);
      assert.ok(output.includes(`Open  http://localhost:${canon}  (Canon Printing)`), output);
      assert.ok(output.includes(`as  ${DEMO.username}  /  ${DEMO.password}`), output);
      assert.ok(output.includes("LOCAL STAND-IN for Kong"), output);
      assert.equal(statSync(canonFile).mode & 0o777, 0o600);

      // Through the gateway: the public route answers, the protected one wants a token.
      assert.equal((await fetch(`http://127.0.0.1:${gateway}/flickr/explore`)).status, 200);
      const photosWithoutToken = await fetch(`http://127.0.0.1:${gateway}/flickr/photos`);
      assert.equal(photosWithoutToken.status, 401);
      const metadata = (await (
        await fetch(`http://127.0.0.1:${authz}/.well-known/oauth-authorization-server`)
      ).json()) as { issuer: string };
      assert.equal(metadata.issuer, `http://localhost:${authz}`);
      // Canon sends the browser to the authorization server with its seeded client and callback.
      const home = await fetch(`http://127.0.0.1:${canon}/`);
      const cookie = home.headers.getSetCookie()[0].split(";")[0];
      const csrfField = /name="csrf" value="([^"]+)"/.exec(await home.text());
      assert.ok(csrfField, "Canon's home page carries its CSRF token");
      const csrf = csrfField[1];
      const connect = await fetch(`http://127.0.0.1:${canon}/connect`, {
        method: "POST",
        redirect: "manual",
        headers: { cookie, "content-type": "application/x-www-form-urlencoded" },
        body: new URLSearchParams({ csrf, scope: "photos" }),
      });
      assert.equal(connect.status, 303);
      const location = new URL(connect.headers.get("location") ?? "");
      assert.equal(`${location.origin}${location.pathname}`, `http://localhost:${authz}/authorize`);
      assert.equal(location.searchParams.get("redirect_uri"), `http://localhost:${canon}/callback`);

      // The gateway polls the revocation feed with the seeded gateway client (kong.yml's vault references, resolved
      // from the environment npm start gives it): a revoked token is refused within about the default poll interval.
      assert.ok(!output.includes("revocation feed is off"), output);
      const created = spawnSync(
        process.execPath,
        [
          join(ROOT, "authz-server/bin/authz-server.js"),
          ...["clients", "create", "--name", "Tour", "--scope", "photos", "--json", "--db", join(dir, "authz.db")],
        ],
        { encoding: "utf8" },
      );
      assert.equal(created.status, 0, created.stderr);
      const tour = JSON.parse(created.stdout) as { client_id: string; client_secret: string };
      const basic = `Basic ${Buffer.from(`${tour.client_id}:${tour.client_secret}`).toString("base64")}`;
      const form = (fields: Record<string, string>) => ({
        method: "POST",
        headers: { authorization: basic, "content-type": "application/x-www-form-urlencoded" },
        body: new URLSearchParams(fields),
      });
      const issued = (await (
        await fetch(`http://127.0.0.1:${authz}/token`, form({ grant_type: "client_credentials", scope: "photos" }))
      ).json()) as { access_token: string };
      const photosWith = () =>
        fetch(`http://127.0.0.1:${gateway}/flickr/photos`, {
          headers: { authorization: `Bearer ${issued.access_token}` },
        });
      assert.equal((await photosWith()).status, 200);
      assert.equal((await fetch(`http://127.0.0.1:${authz}/revoke`, form({ token: issued.access_token }))).status, 200);
      const revokedAt = Date.now();
      let answer = await photosWith();
      while (answer.status === 200 && Date.now() - revokedAt < 5000) {
        await new Promise((r) => setTimeout(r, 100));
        answer = await photosWith();
      }
      assert.equal(answer.status, 401, `still served ${Date.now() - revokedAt} ms after the revocation`);
      assert.match(answer.headers.get("www-authenticate") ?? "", /error_description="the token has been revoked"/);

      child.kill("SIGINT");
      assert.equal(await Promise.race([exited, new Promise((r) => setTimeout(() => r("timeout"), 15_000))]), 0);
      for (const port of [authz, photos, canon, gateway])
        assert.ok(await refused(port), `port ${port} still answers after Ctrl-C`);
    } finally {
      if (child.exitCode === null) child.kill("SIGKILL");
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
