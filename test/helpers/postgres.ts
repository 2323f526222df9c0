// A throwaway PostgreSQL database for one test run. When AUTHZ_TEST_POSTGRES_URL names a server, a fresh database is
// created on it and dropped at the end; otherwise a cluster is initialised in a temporary folder from Debian's
// `postgresql` package (scripts/setup.sh installs it), listening on 127.0.0.1 on a free port with trust
// authentication for the superuser, and stopped and removed at the end. PostgreSQL refuses to run as root, so under root the cluster's
// programs run as the unprivileged user `nobody`, owner of the folder.
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import {
  chmodSync,
  chownSync,
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { tmpdir, userInfo } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import pg from "pg";
import { freePort } from "./ports.ts";

const run = promisify(execFile);

export interface TestPostgres {
  /** A URL of a fresh, empty database, as the superuser `postgres` (trust authentication: no password). */
  url: string;
  /** The server's URL without a database name, e.g. to add `?sslmode=…` parameters to. */
  host: string;
  port: number;
  /** Creates another fresh database on the same server; dropped by close(). */
  createDatabase(): Promise<string>;
  /**
   * Takes the server away (its open connections are cut, its data kept) and, with `resume`, brings it back on the same
   * port. Only a cluster the helper started can do this (`own: true`).
   */
  interrupt(): Promise<{ resume(): Promise<void> }>;
  close(): Promise<void>;
}

/** TLS material for a cluster: PEM files the server reads (server.crt, server.key). */
export interface ClusterTls {
  certPem: string;
  keyPem: string;
}

/** The newest installed server binaries, e.g. /usr/lib/postgresql/15/bin. */
function binDir(): string {
  const root = "/usr/lib/postgresql";
  const versions = existsSync(root)
    ? readdirSync(root)
        .map(Number)
        .filter((v) => Number.isInteger(v))
    : [];
  if (versions.length === 0)
    throw new Error("PostgreSQL is not installed: run `npm run setup` (Debian package postgresql)");
  return join(root, String(Math.max(...versions)), "bin");
}

/** Runs a cluster program, as `nobody` under root (initdb and postgres refuse root). */
async function runAsClusterOwner(program: string, args: string[]): Promise<void> {
  const command = join(binDir(), program);
  if (userInfo().uid === 0) await run("runuser", ["-u", "nobody", "--", command, ...args]);
  else await run(command, args);
}

function databaseName(): string {
  return `authz_test_${randomBytes(6).toString("hex")}`;
}

async function withAdmin<T>(url: string, fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

/** A server (the given one or a new cluster) and a fresh database on it. */
export async function startTestPostgres(options: { tls?: ClusterTls; own?: boolean } = {}): Promise<TestPostgres> {
  const given = options.tls === undefined && options.own !== true ? process.env.AUTHZ_TEST_POSTGRES_URL : undefined;
  const server = given !== undefined && given !== "" ? fromUrl(given) : await startCluster(options.tls);
  const created: string[] = [];
  const createDatabase = async (): Promise<string> => {
    const name = databaseName();
    await withAdmin(server.adminUrl, (client) => client.query(`CREATE DATABASE ${name}`));
    created.push(name);
    const url = new URL(server.adminUrl);
    url.pathname = `/${name}`;
    return url.toString();
  };
  try {
    const url = await createDatabase();
    const { hostname, port } = new URL(url);
    return {
      url,
      host: `postgres://postgres@${hostname}:${port}`,
      port: Number(port),
      createDatabase,
      interrupt: () => server.interrupt(),
      close: async () => {
        try {
          await withAdmin(server.adminUrl, async (client) => {
            for (const name of created) await client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
          });
        } finally {
          await server.stop();
        }
      },
    };
  } catch (error) {
    await server.stop();
    throw error;
  }
}

interface Server {
  /** A URL of the maintenance database `postgres`, with rights to create and drop databases. */
  adminUrl: string;
  interrupt(): Promise<{ resume(): Promise<void> }>;
  stop(): Promise<void>;
}

function fromUrl(given: string): Server {
  const url = new URL(given);
  url.pathname = "/postgres";
  return {
    adminUrl: url.toString(),
    interrupt: () => Promise.reject(new Error("only a cluster the tests started can be interrupted")),
    stop: async () => {},
  };
}

async function startCluster(tls: ClusterTls | undefined): Promise<Server> {
  const dir = mkdtempSync(join(tmpdir(), "authz-pg-"));
  const data = join(dir, "data");
  if (userInfo().uid === 0) chownSync(dir, 65534, 65534);
  const remove = (): void => rmSync(dir, { recursive: true, force: true });
  try {
    await runAsClusterOwner("initdb", ["-D", data, "-U", "postgres", "-A", "trust", "--no-sync", "-E", "UTF8"]);
    writeHba(data);
    const port = await freePort();
    const settings = [
      `-c listen_addresses=127.0.0.1`,
      `-p ${port}`,
      `-k ${dir}`,
      // A throwaway cluster: durability buys nothing and costs the tests their speed.
      `-c fsync=off -c synchronous_commit=off -c full_page_writes=off`,
    ];
    if (tls !== undefined) {
      writeTlsFiles(data, tls);
      settings.push("-c ssl=on");
    }
    const start = () =>
      runAsClusterOwner("pg_ctl", [
        "-D",
        data,
        "-l",
        join(dir, "log"),
        "-o",
        settings.join(" "),
        "-w",
        "-t",
        "30",
        "start",
      ]);
    const stopNow = () => runAsClusterOwner("pg_ctl", ["-D", data, "-m", "immediate", "-w", "stop"]);
    await start();
    return {
      adminUrl: `postgres://postgres@127.0.0.1:${port}/postgres`,
      interrupt: async () => {
        // Fast: sessions are cut, as by a failover, but the commits are kept (synchronous_commit is off).
        await runAsClusterOwner("pg_ctl", ["-D", data, "-m", "fast", "-w", "stop"]);
        return { resume: start };
      },
      stop: async () => {
        try {
          await stopNow();
        } finally {
          remove();
        }
      },
    };
  } catch (error) {
    remove();
    throw error;
  }
}

/**
 * The superuser `postgres` connects without a password (the tests' administration); every other role must give its
 * password (SCRAM), so a test can see a refused one.
 */
function writeHba(data: string): void {
  writeFileSync(
    join(data, "pg_hba.conf"),
    [
      "local all postgres trust",
      "host all postgres 127.0.0.1/32 trust",
      "host all all 127.0.0.1/32 scram-sha-256",
      "",
    ].join("\n"),
  );
}

/** The server reads server.crt and server.key from its data folder; the key must be private to its owner. */
function writeTlsFiles(data: string, tls: ClusterTls): void {
  const cert = join(data, "server.crt");
  const key = join(data, "server.key");
  writeFileSync(cert, tls.certPem);
  writeFileSync(key, tls.keyPem, { mode: 0o600 });
  chmodSync(key, 0o600);
  if (userInfo().uid === 0) {
    chownSync(cert, 65534, 65534);
    chownSync(key, 65534, 65534);
  }
}

/** A CA and a server certificate it signed for 127.0.0.1 and localhost; the CA's certificate is at `caFile`. */
export interface TestCertificates {
  caFile: string;
  server: ClusterTls;
}

/** Generates a self-signed CA and a server certificate under `dir` with openssl (one day of validity). */
export async function testCertificates(dir: string, name = "test"): Promise<TestCertificates> {
  const file = (suffix: string) => join(dir, `${name}-${suffix}`);
  const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
  await run("openssl", [
    "req",
    "-x509",
    ...ec,
    "-subj",
    `/CN=${name} CA`,
    "-days",
    "1",
    "-keyout",
    file("ca.key"),
    "-out",
    file("ca.crt"),
  ]);
  await run("openssl", [
    "req",
    ...ec,
    "-subj",
    "/CN=localhost",
    "-keyout",
    file("server.key"),
    "-out",
    file("server.csr"),
  ]);
  const extensions = file("server.ext");
  writeFileSync(extensions, "subjectAltName=IP:127.0.0.1,DNS:localhost\n");
  await run("openssl", [
    "x509",
    "-req",
    "-in",
    file("server.csr"),
    "-CA",
    file("ca.crt"),
    "-CAkey",
    file("ca.key"),
    "-CAcreateserial",
    "-days",
    "1",
    "-extfile",
    extensions,
    "-out",
    file("server.crt"),
  ]);
  return {
    caFile: file("ca.crt"),
    server: { certPem: readFileSync(file("server.crt"), "utf8"), keyPem: readFileSync(file("server.key"), "utf8") },
  };
}
