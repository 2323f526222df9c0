// The peer: panva's oidc-provider 9 (OpenID certified), configured as the sidecar is used: the
// client credentials grant for one confidential client (client_secret_basic), issuing JWT access
// tokens through the resource indicators feature (RFC 8707, accessTokenFormat "jwt") signed with
// the same algorithm. Default in-memory adapter.
// Usage: node --import tsx bench/servers/oidc-provider.ts <alg>
import http from "node:http";
import Provider from "oidc-provider";
import { ALGORITHMS, type Algorithm, createSigner } from "../lib/jwt.js";

const alg = (process.argv[2] ?? "ES256") as Algorithm;
if (!ALGORITHMS.includes(alg)) throw new Error(`unknown algorithm ${alg}`);
const signer = createSigner(alg, "oidc-bench");
const audience = "http://localhost:8000/flickr";
const clientId = "bench-client";
const clientSecret = "bench-secret-0123456789abcdef0123456789abcdef";

const server = http.createServer();
server.listen(0, "127.0.0.1", () => {
  const port = (server.address() as { port: number }).port;
  const provider = new Provider(`http://localhost:${port}`, {
    clients: [
      {
        client_id: clientId,
        client_secret: clientSecret,
        grant_types: ["client_credentials"],
        redirect_uris: [],
        response_types: [],
        token_endpoint_auth_method: "client_secret_basic",
        scope: "photos",
        // The JWT access token's default signing algorithm follows this client default.
        id_token_signed_response_alg: alg,
      },
    ],
    jwks: { keys: [{ ...signer.privateKey.export({ format: "jwk" }), kid: signer.kid, alg, use: "sig" }] },
    scopes: ["photos"],
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      resourceIndicators: {
        enabled: true,
        defaultResource: () => audience,
        useGrantedResource: () => true,
        getResourceServerInfo: () => ({
          scope: "photos",
          audience,
          accessTokenTTL: 600,
          accessTokenFormat: "jwt",
          jwt: { sign: { alg } },
        }),
      },
    },
    enabledJWA: {
      idTokenSigningAlgValues: [alg],
    },
  });
  server.on("request", provider.callback());
  process.stdout.write(
    `READY ${JSON.stringify({ url: `http://127.0.0.1:${port}`, tokenPath: "/token", clientId, clientSecret })}\n`,
  );
});
process.on("SIGTERM", () => server.close(() => process.exit(0)));
