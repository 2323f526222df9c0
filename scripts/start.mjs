#!/usr/bin/env node
// `npm start`: the whole story on this machine, without Docker.
//
//   1. builds (tsc -b: does nothing when dist is up to date),
//   2. seeds ./data/authz.db with the demo data, idempotently (scripts/seed-demo.mjs),
//   3. starts the authorization server (9000), the Flickr photos API (8080), Canon Printing (3000)
//      and the LOCAL STAND-IN for Kong (8000): kong-standin/ routes by the real kong.yml and runs
//      the same oauth2-jwt plugin through the same plugin-server protocol Kong uses, with the
//      identity-header stripping mirrored from kong.yml's Lua. Production runs Kong (docker-compose.yml).
//   4. prints the URL to open and the demo credentials. Ctrl-C stops everything it started.
import { spawn, spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { createServer } from "node:net";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { DEMO, gatewayEnvironment, seedDemo } from "./seed-demo.mjs";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const DATA = resolve(ROOT, "data");
const DB = process.env.AUTHZ_DB ?? resolve(DATA, "authz.db");
const CANON_FILE = process.env.CANON_CLIENT_FILE ?? resolve(DATA, "canon-client.json");
// The demo's fixed ports (the same as docker-compose.yml). The environment may move them (the
// start-up test runs this script on free ports); kong.yml's addresses then follow through the
// stand-in's host table.
const PORTS = {
  authz: portFrom("AUTHZ_PORT", 9000),
  photos: portFrom("PHOTOS_PORT", 8080),
  canon: portFrom("CANON_PORT", 3000),
  gateway: portFrom("GATEWAY_PORT", 8000),
};
// What each port is for and the variable that moves it, for the one-line message when it is taken.
const PORT_OWNERS = {
  authz: ["authorization server", "AUTHZ_PORT"],
  photos: ["photos API", "PHOTOS_PORT"],
  canon: ["Canon Printing", "CANON_PORT"],
  gateway: ["gateway", "GATEWAY_PORT"],
};
const ISSUER = `http://localhost:${PORTS.authz}`;
const started = Date.now();
const children = [];
let stopping = false;

function portFrom(variable, fallback) {
  const value = process.env[variable] ?? String(fallback);
  const port = /^\d{1,5}$/.test(value) ? Number(value) : 0;
  if (port < 1 || port > 65535) {
    process.stderr.write(`[start] ${variable} must be a port number from 1 to 65535; got ${JSON.stringify(value)}\n`);
    process.exit(1);
  }
  return port;
}

function log(line) {
  process.stdout.write(`[start] ${line}\n`);
}

function build() {
  const tsc = resolve(ROOT, "node_modules/typescript/bin/tsc");
  if (!existsSync(tsc)) {
    process.stderr.write("TypeScript is missing: run `npm ci` first.\n");
    process.exit(1);
  }
  log("building (tsc -b; quick when nothing changed)…");
  const result = spawnSync(process.execPath, [tsc, "-b"], { cwd: ROOT, stdio: "inherit" });
  if (result.status !== 0) {
    process.stderr.write("build failed\n");
    process.exit(1);
  }
}

function prefixLines(name, stream, target) {
  let pending = "";
  stream.setEncoding("utf8");
  stream.on("data", (chunk) => {
    pending += chunk;
    const lines = pending.split("\n");
    pending = lines.pop() ?? "";
    for (const line of lines) target.write(`[${name}] ${line}\n`);
  });
}

function run(name, args, env = {}) {
  const child = spawn(process.execPath, args, {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  prefixLines(name, child.stdout, process.stdout);
  prefixLines(name, child.stderr, process.stderr);
  child.on("exit", (code, signal) => {
    if (!stopping) {
      process.stderr.write(`[start] ${name} exited unexpectedly (${signal ?? code}); stopping everything\n`);
      void stop(1);
    }
  });
  children.push({ name, child });
  return child;
}

async function waitFor(name, url, deadlineMs) {
  while (Date.now() < deadlineMs) {
    try {
      const response = await fetch(url, { signal: AbortSignal.timeout(1000) });
      if (response.ok) return;
    } catch {
      // not listening yet
    }
    if (stopping) return;
    await new Promise((r) => setTimeout(r, 150));
  }
  throw new Error(`${name} did not become ready at ${url}`);
}

async function stop(code) {
  if (stopping) return;
  stopping = true;
  for (const { child } of children) if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
  const deadline = Date.now() + 5000;
  for (const { name, child } of children) {
    while (child.exitCode === null && child.signalCode === null && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 50));
    if (child.exitCode === null && child.signalCode === null) {
      process.stderr.write(`[start] ${name} did not stop; killing it\n`);
      child.kill("SIGKILL");
    }
  }
  process.exit(code);
}

/** Resolves with the listen error for 127.0.0.1:`port` (where every process binds), or undefined when it is free. */
function probe(port) {
  return new Promise((resolve) => {
    const server = createServer();
    server.once("error", resolve);
    server.listen(port, "127.0.0.1", () => server.close(() => resolve(undefined)));
  });
}

/**
 * A taken port would make its process die with a stack trace after the others started: check all four first and
 * say which one is taken and which variable moves it.
 */
async function checkPorts() {
  for (const [key, port] of Object.entries(PORTS)) {
    const error = await probe(port);
    if (error === undefined) continue;
    const [what, variable] = PORT_OWNERS[key];
    const problem = error.code === "EADDRINUSE" ? "is in use" : `cannot be used (${error.code ?? error.message})`;
    process.stderr.write(`[start] port ${port} ${problem} (${what}); set ${variable} to move it\n`);
    process.exit(1);
  }
}

process.on("SIGINT", () => void stop(0));
process.on("SIGTERM", () => void stop(0));

await checkPorts();
build();
// The photos API needs nothing from the database: it starts while the database is seeded.
run("photos", ["examples/photos-api/dist/main.js"], { PORT: String(PORTS.photos), HOST: "127.0.0.1" });
log("seeding the demo data (idempotent)…");
let seeded;
try {
  seeded = await seedDemo({ db: DB, canonFile: CANON_FILE, redirectUri: `http://localhost:${PORTS.canon}/callback` });
} catch (err) {
  process.stderr.write(`[start] seeding failed: ${err.message}\n`);
  await stop(1);
}
log(seeded.created.length === 0 ? "demo data already present" : `created: ${seeded.created.join(", ")}`);

// The gateway presents the seeded gateway client to the revocation feed: kong.yml's vault references
// ({vault://env/oauth2-jwt-feed-client-id}, …) read these variables from the gateway's environment, as
// Kong's env vault reads Kong's.
run(
  "gateway",
  [
    "kong-standin/dist/gateway/main.js",
    "--config",
    resolve(ROOT, "kong.yml"),
    "--port",
    String(PORTS.gateway),
    "--map",
    `photos:8080=127.0.0.1:${PORTS.photos}`,
    "--map",
    `authz:9000=127.0.0.1:${PORTS.authz}`,
    "--map",
    `localhost:9000=localhost:${PORTS.authz}`,
  ],
  gatewayEnvironment(JSON.parse(readFileSync(seeded.gatewayFile, "utf8"))),
);

run("authz", [
  "authz-server/bin/authz-server.js",
  "serve",
  "--port",
  String(PORTS.authz),
  "--host",
  "127.0.0.1",
  "--issuer",
  ISSUER,
  "--db",
  DB,
  "--log-level",
  "warn",
]);
run("canon", ["examples/canon-printing/dist/main.js"], {
  PORT: String(PORTS.canon),
  HOST: "127.0.0.1",
  CANON_PUBLIC_URL: `http://localhost:${PORTS.canon}`,
  AUTHZ_ISSUER: ISSUER,
  GATEWAY_URL: `http://localhost:${PORTS.gateway}`,
  CANON_CLIENT_FILE: CANON_FILE,
});

try {
  const deadline = Date.now() + 30_000;
  await Promise.all([
    waitFor("authorization server", `http://127.0.0.1:${PORTS.authz}/healthz`, deadline),
    waitFor("photos API", `http://127.0.0.1:${PORTS.photos}/healthz`, deadline),
    // The public route, through the gateway: proves kong.yml loaded and the upstream answers.
    waitFor("gateway", `http://127.0.0.1:${PORTS.gateway}/flickr/explore`, deadline),
    waitFor("Canon Printing", `http://127.0.0.1:${PORTS.canon}/healthz`, deadline),
  ]);
} catch (err) {
  process.stderr.write(`[start] ${err.message}\n`);
  await stop(1);
}

if (!stopping) {
  const seconds = ((Date.now() - started) / 1000).toFixed(1);
  process.stdout.write(`
  Ready in ${seconds} s. Open  http://localhost:${PORTS.canon}  (Canon Printing) and press "Print my Flickr photos".
  Sign in at the authorization server as  ${DEMO.username}  /  ${DEMO.password}

    authorization server  ${ISSUER}            (metadata: ${ISSUER}/.well-known/oauth-authorization-server)
    gateway (stand-in)    http://localhost:${PORTS.gateway}   routes from kong.yml, e.g. /flickr/photos
    photos API            http://localhost:${PORTS.photos}   (behind the gateway; in Docker not reachable directly)
    Canon Printing        http://localhost:${PORTS.canon}

  The gateway is a LOCAL STAND-IN for Kong: same kong.yml, same oauth2-jwt plugin, same plugin-server
  protocol. Production runs Kong (see docker-compose.yml). Ctrl-C stops everything.
`);
}
