// The sidecar's floor: a bare Koa app whose POST /token does nothing but drain the body and sign
// an RFC 9068-shaped JWT with node:crypto.sign. No client authentication, no storage, no
// validation: whatever the real sidecar costs beyond this is its own work.
// Usage: node --import tsx bench/servers/bare-koa.ts <alg>
import { once } from "node:events";
import http from "node:http";
import crypto from "node:crypto";
import Koa from "koa";
import { ALGORITHMS, type Algorithm, createSigner } from "../lib/jwt.js";

const alg = (process.argv[2] ?? "ES256") as Algorithm;
if (!ALGORITHMS.includes(alg)) throw new Error(`unknown algorithm ${alg}`);
const signer = createSigner(alg);
const issuer = "http://localhost:9000";

const app = new Koa();
app.use(async (ctx) => {
  if (ctx.method !== "POST" || ctx.path !== "/token") {
    ctx.status = 404;
    return;
  }
  // Drained, not parsed: the floor pays for reading the body and nothing more.
  ctx.req.resume();
  await once(ctx.req, "end");
  const now = Math.floor(Date.now() / 1000);
  ctx.set("Cache-Control", "no-store");
  ctx.body = {
    access_token: signer.mint({
      iss: issuer,
      sub: "bench-client",
      aud: "http://localhost:8000/flickr",
      exp: now + 600,
      iat: now,
      jti: crypto.randomUUID(),
      client_id: "bench-client",
      scope: "photos",
    }),
    token_type: "Bearer",
    expires_in: 600,
    scope: "photos",
  };
});

const handle = app.callback();
// Koa answers its own errors (ctx.onerror): nothing is left for a rejected promise to report.
const server = http.createServer((request, response) => void handle(request, response));
server.listen(0, "127.0.0.1", () => {
  const address = server.address() as { port: number };
  process.stdout.write(
    `READY ${JSON.stringify({ url: `http://127.0.0.1:${address.port}`, tokenPath: "/token", clientId: "bench-client", clientSecret: "unused" })}\n`,
  );
});
process.on("SIGTERM", () => server.close(() => process.exit(0)));
