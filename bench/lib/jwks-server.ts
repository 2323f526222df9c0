// A loopback stand-in for the sidecar's key publication: RFC 8414 metadata and the JWKS, so the
// plugin-server benchmark measures the gateway alone. Counts fetches, so a run can show that the
// plugin's JWKS cache held (one fetch per process, not one per request).
import http from "node:http";
import type { Signer } from "./jwt.js";

export interface JwksServer {
  issuer: string;
  jwksUri: string;
  fetches(): number;
  close(): Promise<void>;
}

export function startJwksServer(signers: Signer[]): Promise<JwksServer> {
  let fetches = 0;
  const server = http.createServer((request, response) => {
    const port = (server.address() as { port: number }).port;
    const issuer = `http://127.0.0.1:${port}`;
    if (request.url === "/jwks.json") {
      fetches++;
      response.writeHead(200, { "content-type": "application/jwk-set+json", "cache-control": "max-age=300" });
      response.end(JSON.stringify({ keys: signers.map((s) => s.jwk) }));
    } else if (request.url === "/.well-known/oauth-authorization-server") {
      response.writeHead(200, { "content-type": "application/json" });
      response.end(JSON.stringify({ issuer, jwks_uri: `${issuer}/jwks.json`, token_endpoint: `${issuer}/token` }));
    } else {
      response.writeHead(404).end();
    }
  });
  return new Promise((resolve) => {
    server.listen(0, "127.0.0.1", () => {
      const port = (server.address() as { port: number }).port;
      resolve({
        issuer: `http://127.0.0.1:${port}`,
        jwksUri: `http://127.0.0.1:${port}/jwks.json`,
        fetches: () => fetches,
        close: () =>
          new Promise<void>((done) => {
            server.closeAllConnections();
            server.close(() => done());
          }),
      });
    });
  });
}
