// Condenses a run's JSON (bench/results/latest.json by default) into a Markdown block for bench/RESULTS.md: the same
// figures as the full printed report, fewer rows, headed by the run's date and machine. Prints only; writes nothing.
// Usage: node --import tsx bench/summary.ts [report.json]
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { PLUGIN_DEFAULT_ALGORITHM } from "./lib/plugin-core.js";
import { fmt, type Report, type SectionResult } from "./lib/report.js";

interface AlgorithmFigures {
  alg: string;
  floorNs: number;
  joseNs: number;
  pluginFreshNs: number | null;
  pluginFreshFullNs: number | null;
  pluginRepeatedNs: number | null;
}
interface LoadFigures {
  requestsPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  roundTripsPerRequest: number;
  serverCpuUsPerRequest: number;
}
interface LoadRow {
  server: string;
  scenario: string;
  connections: number;
  result: LoadFigures | null;
  error: string | null;
}
interface MemoryRow {
  server: string;
  rssStartMB: number;
  drillRefusals: number;
  growthMB: number;
  bytesPerRefusal: number;
}
interface FlowRow {
  name: string;
  perSecond: number;
  error: string | null;
}
interface SidecarRow {
  server: string;
  alg: string;
  tokensPerSecond: number;
  error: string | null;
  flows?: FlowRow[];
}

const here = path.dirname(fileURLToPath(import.meta.url));
const file = process.argv[2] ?? path.join(here, "results", "latest.json");
const report = JSON.parse(fs.readFileSync(file, "utf8")) as Report;
const section = (id: string): SectionResult | undefined => report.sections.find((s) => s.id === id);
const x = (a: number | null | undefined, b: number | null | undefined): string =>
  a == null || b == null || !Number.isFinite(a) || !Number.isFinite(b) || b === 0 ? "–" : `${(a / b).toFixed(2)}×`;
const us = (ns: number | null): string => fmt(ns === null ? null : ns / 1000);
const algLabel = (alg: string): string => (alg === PLUGIN_DEFAULT_ALGORITHM ? `**${alg}** (default)` : alg);
const out: string[] = [];
const m = report.machine;
out.push(
  `Run of ${report.startedAt.slice(0, 16).replace("T", " ")} UTC (${report.mode}, ${report.durationSeconds.toFixed(0)} s): ${m.cpus} × ${m.cpuModel}, ${(m.totalMemoryMB / 1024).toFixed(0)} GB, ${m.os}, Node.js ${m.node}, load average ${m.loadAverageAtStart[0]} at the start.`,
  "",
);

const verification = section("verification");
if (verification) {
  const algorithms = (verification.figures["algorithms"] ?? []) as AlgorithmFigures[];
  out.push(
    "**1. Verification, CPU µs per token**",
    "",
    "| alg | `crypto.verify` (floor) | plugin, fresh token | fresh, full token cache | `jose.jwtVerify` | plugin, repeated token |",
    "| --- | ---: | ---: | ---: | ---: | ---: |",
    ...algorithms.map(
      (a) =>
        `| ${algLabel(a.alg)} | ${us(a.floorNs)} | ${us(a.pluginFreshNs)} (${x(a.pluginFreshNs, a.floorNs)}) | ${us(a.pluginFreshFullNs)} (${x(a.pluginFreshFullNs, a.floorNs)}) | ${us(a.joseNs)} (${x(a.joseNs, a.floorNs)}) | ${us(a.pluginRepeatedNs)} (${x(a.pluginRepeatedNs, a.floorNs)}) |`,
    ),
    "",
  );
}

const pluginServer = section("plugin-server");
if (pluginServer) {
  const loads = (pluginServer.figures["loads"] ?? []) as LoadRow[];
  const memory = (pluginServer.figures["memory"] ?? []) as MemoryRow[];
  const labels: Record<string, string> = {
    ours: "oauth2-jwt, our server",
    trivial: "trivial plugin, our server (floor)",
    stock: "oauth2-jwt, kong-pdk stock server",
  };
  const scenarios: Record<string, string> = {
    repeated: "repeated valid token",
    fresh: "fresh token every request",
    refused: "refused (no token)",
  };
  const connections = 8;
  out.push(
    `**2. Through the plugin server** (${connections} connections; 1 and 32 in the full report)`,
    "",
    "| load | server | req/s | p50 / p99 ms | RPCs per request | server CPU µs per request |",
    "| --- | --- | ---: | ---: | ---: | ---: |",
  );
  for (const scenario of Object.keys(scenarios)) {
    let first = true;
    const trivial = loads.find(
      (l) => l.server === "trivial" && l.scenario === scenario && l.connections === connections,
    );
    for (const server of ["ours", "trivial", "stock"]) {
      const row = loads.find((l) => l.server === server && l.scenario === scenario && l.connections === connections);
      if (!row?.result || (server === "trivial" && scenario === "fresh")) continue;
      const r = row.result;
      const versus =
        server === "ours" && trivial?.result
          ? ` (${x(r.requestsPerSecond, trivial.result.requestsPerSecond)} trivial)`
          : "";
      out.push(
        `| ${first ? scenarios[scenario] : ""} | ${labels[server]} | ${row.error ? "failed" : fmt(r.requestsPerSecond) + versus} | ${fmt(r.p50Ms)} / ${fmt(r.p99Ms)} | ${fmt(r.roundTripsPerRequest)} | ${fmt(r.serverCpuUsPerRequest)} |`,
      );
      first = false;
    }
  }
  const ratios = (metric: (r: LoadFigures) => number, invert: boolean): string =>
    [1, 8, 32]
      .map((c) => {
        const ours = loads.find((l) => l.server === "ours" && l.scenario === "repeated" && l.connections === c)?.result;
        const floor = loads.find(
          (l) => l.server === "trivial" && l.scenario === "repeated" && l.connections === c,
        )?.result;
        if (!ours || !floor) return `– at ${c}`;
        return `${invert ? x(metric(floor), metric(ours)) : x(metric(ours), metric(floor))} at ${c}`;
      })
      .join(", ");
  out.push(
    "",
    `Repeated valid tokens against the trivial plugin, requests per second: ${ratios((r) => r.requestsPerSecond, false)} connections; by server CPU per request: ${ratios((r) => r.serverCpuUsPerRequest, true)}.`,
    "",
    "| resident memory after a forced GC | after warm-up | refusals counted | growth | per refusal |",
    "| --- | ---: | ---: | ---: | ---: |",
    ...memory.map(
      (row) =>
        `| ${labels[row.server] ?? row.server} | ${fmt(row.rssStartMB)} MB | ${row.drillRefusals.toLocaleString("en-US")} | ${row.growthMB >= 0 ? "+" : ""}${row.growthMB.toFixed(1)} MB | ${Math.max(0, Math.round(row.bytesPerRefusal)).toLocaleString("en-US")} bytes |`,
    ),
    "",
  );
}

const sidecar = section("sidecar");
if (sidecar) {
  const measured = (sidecar.figures["measured"] ?? []) as SidecarRow[];
  const algs = [...new Set(measured.map((r) => r.alg))];
  const get = (server: string, alg: string): SidecarRow | undefined =>
    measured.find((r) => r.server === server && r.alg === alg);
  const rate = (r: SidecarRow | undefined): string =>
    r === undefined ? "–" : r.error ? "failed" : fmt(r.tokensPerSecond);
  const connections = sidecar.figures["connections"];
  out.push(
    `**3. Sidecar, client-credentials tokens per second at ${typeof connections === "number" ? connections : 10} connections**`,
    "",
    "| alg | bare Koa + `node:crypto.sign` (floor) | oidc-provider 9, JWT access tokens | authz-server (ours) | ours × floor | ours × oidc-provider |",
    "| --- | ---: | ---: | ---: | ---: | ---: |",
  );
  for (const alg of algs) {
    const ours = get("sidecar", alg);
    const quiet = get("sidecarQuiet", alg);
    out.push(
      `| ${algLabel(alg)} | ${rate(get("floor", alg))} | ${rate(get("oidcProvider", alg))} | ${rate(ours)}${quiet ? ` (${rate(quiet)} with \`--log-level warn\`)` : ""} | ${x(ours?.tokensPerSecond, get("floor", alg)?.tokensPerSecond)} | ${x(ours?.tokensPerSecond, get("oidcProvider", alg)?.tokensPerSecond)} |`,
    );
  }
  const withFlows = measured.find((r) => r.flows !== undefined);
  const flow = (name: string): FlowRow | undefined => withFlows?.flows?.find((f) => f.name === name);
  const code = flow("authorization_code");
  const refresh = flow("refresh_token");
  if (withFlows && code && refresh) {
    out.push(
      "",
      `Authorization-code exchanges (code minted by GET \`/authorize\` with a session, then redeemed with PKCE): **${code.error ? "failed" : fmt(code.perSecond)} per second** (${x(code.perSecond, withFlows.tokensPerSecond)} our client-credentials rate); refresh-token rotations: **${refresh.error ? "failed" : fmt(refresh.perSecond)} per second** (${x(refresh.perSecond, withFlows.tokensPerSecond)}).`,
    );
  }
  out.push("");
}

out.push("**Targets, this run**", "", "| target | result |", "| --- | --- |");
for (const t of report.targets) {
  out.push(`| ${t.target} | ${t.met === null ? "not measured" : t.met ? "**met**" : "**missed**"}: ${t.measured} |`);
}
process.stdout.write(out.join("\n") + "\n");
