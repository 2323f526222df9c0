/**
 * `node examples/canon-printing/dist/main.js`. Environment: PORT (3000), HOST (127.0.0.1),
 * CANON_PUBLIC_URL (http://localhost:3000), AUTHZ_ISSUER (http://localhost:9000),
 * AUTHZ_INTERNAL_URL (default: the issuer; http://authz:9000 in Docker), GATEWAY_URL
 * (http://localhost:8000; http://kong:8000 in Docker), CANON_CLIENT_FILE (./data/canon-client.json)
 * or CANON_CLIENT_ID + CANON_CLIENT_SECRET.
 */
import { canonConfigFromEnv } from "./config.js";
import { startCanon } from "./server.js";

try {
  const canon = await startCanon(canonConfigFromEnv(process.env));
  console.log(`Canon Printing listening on ${canon.url}`);
  const stop = (): void => {
    void canon.close().then(() => process.exit(0));
  };
  process.on("SIGINT", stop);
  process.on("SIGTERM", stop);
} catch (err) {
  console.error(`canon-printing: ${(err as Error).message}`);
  process.exit(1);
}
