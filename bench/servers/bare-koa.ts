// The sidecar's floor: a bare Koa app whose POST /token does nothing but drain the body and sign
// an RFC 9068-shaped JWT with node:crypto.sign. No client authentication, no storage, no
// validation: whatever the real sidecar costs beyond this is its own work.
// Usage: node --import tsx bench/servers/bare-koa.ts <alg>
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
  for await (const chunk of ctx.req) chunk;
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

const server = http.createServer(app.callback());
server.listen(0, "127.0.0.1", () => {
  const address = server.address() as { port: number };
  process.stdout.write(
    `READY ${JSON.stringify({ url: `http://127.0.0.1:${address.port}`, tokenPath: "/token", clientId: "bench-client", clientSecret: "unused" })}\n`,
  );
});
process.on("SIGTERM", () => server.close(() => process.exit(0)));
