// The metric families the two processes expose, read from their metrics listeners as Prometheus reads them: a real
// authorization server (in this process, on a fresh SQLite file) and a real plugin server (spawned as Kong spawns it).
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startServer } from "../../authz-server/src/server.ts";
import { spawnPluginServer } from "../../kong-standin/src/wire/index.ts";
import type { Closers } from "../helpers/closers.ts";
import { exposedFamilies } from "../helpers/exposition.ts";
import { freePort } from "../helpers/ports.ts";

/** The metric families a metrics listener names, as Prometheus scrapes them. */
async function scrapeFamilies(url: string): Promise<Map<string, string>> {
  const response = await fetch(url);
  if (response.status !== 200) throw new Error(`${url} answered ${response.status}`);
  return exposedFamilies(await response.text());
}

/** Every metric family either process exposes, name → type; what was started is closed by `closers`. */
export async function exposedMetrics(closers: Closers): Promise<Map<string, string>> {
  const dir = mkdtempSync(join(tmpdir(), "metrics-sources-"));
  closers.add(() => rmSync(dir, { recursive: true, force: true }));
  const authz = await startServer({
    db: join(dir, "authz.db"),
    port: 0,
    host: "127.0.0.1",
    logLevel: "silent",
    metrics: { port: 0 },
  });
  closers.add(() => authz.close());
  const port = await freePort();
  const plugins = await spawnPluginServer({ args: ["--metrics-port", String(port)] });
  closers.add(() => plugins.close());
  if (authz.metricsUrl === undefined) throw new Error("the authorization server has no metrics listener");
  return new Map([
    ...(await scrapeFamilies(`${authz.metricsUrl}/metrics`)),
    ...(await scrapeFamilies(`http://127.0.0.1:${port}/metrics`)),
  ]);
}
