// The whole story on free ports: the authorization server (seeded through the same script as
// `npm start`), the Flickr photos API, the local stand-in gateway over the real kong.yml with the
// real plugin server, and Canon Printing.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { pino } from "pino";
import { startServer, type RunningServer } from "../../authz-server/src/server.ts";
import { readClientFile } from "../../examples/canon-printing/src/config.ts";
import { startCanon, type RunningCanon } from "../../examples/canon-printing/src/server.ts";
import { startPhotosApi, type RunningPhotosApi } from "../../examples/photos-api/src/server.ts";
import { startGateway, type RunningGateway } from "../../kong-standin/src/gateway/gateway.ts";
import { spawnPluginServer, type PluginServerProcess } from "../../kong-standin/src/wire/index.ts";
import { DEMO, seedDemo } from "../../scripts/seed-demo.mjs";
import { Closers } from "../helpers/closers.ts";

export const ROOT = resolve(fileURLToPath(new URL(".", import.meta.url)), "../..");

export interface Story {
  authz: RunningServer;
  photos: RunningPhotosApi;
  plugins: PluginServerProcess;
  gateway: RunningGateway;
  canon: RunningCanon;
  /** alice's `sub` (her user id at the authorization server). */
  aliceSub: string;
  canonClientId: string;
  dir: string;
  close(): Promise<void>;
}

/** Real clock throughout: the plugin server is another process and checks `exp` with its own. */
export async function startStory(): Promise<Story> {
  const dir = mkdtempSync(join(tmpdir(), "e2e-story-"));
  const db = join(dir, "authz.db");
  const closers = new Closers();
  try {
    const authz = await startServer({ port: 0, host: "127.0.0.1", db, logger: pino({ level: "silent" }) });
    closers.add(() => authz.close());
    const photos = await startPhotosApi({ port: 0 });
    closers.add(() => photos.close());
    const plugins = await spawnPluginServer();
    closers.add(() => plugins.close());
    const gateway = await startGateway({
      config: join(ROOT, "kong.yml"),
      plugins,
      port: 0,
      hostTable: {
        "photos:8080": `127.0.0.1:${photos.port}`,
        "authz:9000": `127.0.0.1:${authz.port}`,
        "localhost:9000": `localhost:${authz.port}`,
      },
    });
    closers.add(() => gateway.close());
    const canonFile = join(dir, "canon-client.json");
    const canon = await startCanon({
      port: 0,
      issuer: authz.issuer,
      gatewayUrl: gateway.url,
      // Seeded once Canon's callback URL (with its free port) is known, through the CLI like `npm start`.
      register: async (redirectUri) => {
        await seedDemo({ db, canonFile, redirectUri });
        const saved = readClientFile(canonFile);
        return { clientId: saved.client_id, clientSecret: saved.client_secret };
      },
    });
    closers.add(() => canon.close());
    const alice = await authz.services.storage.users.findByUsername(DEMO.username);
    if (alice === undefined) throw new Error("seeding did not create alice");
    return {
      authz,
      photos,
      plugins,
      gateway,
      canon,
      aliceSub: alice.id,
      canonClientId: readClientFile(canonFile).client_id,
      dir,
      async close() {
        await closers.closeAll();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  } catch (err) {
    await closers.closeAll().catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
}
