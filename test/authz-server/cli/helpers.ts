import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { freePort } from "../../helpers/ports.ts";

export const root = fileURLToPath(new URL("../../../", import.meta.url));
export const bin = join(root, "authz-server/bin/authz-server.js");

/** The test's own environment minus AUTHZ_DB, so only what a test passes selects the database. */
const environment = Object.fromEntries(Object.entries(process.env).filter(([name]) => name !== "AUTHZ_DB"));

export interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the CLI as a user would: a child process; the password, if any, on stdin (never in argv). */
export function cli(args: string[], options: { input?: string; env?: Record<string, string> } = {}): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [bin, ...args], {
      cwd: root,
      env: { ...environment, ...options.env },
      stdio: ["pipe", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill("SIGKILL"), 30_000);
    child.on("error", reject);
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
    child.stdin.end(options.input ?? "");
  });
}

/** A successful `--json` run: exit 0, nothing on stderr, the parsed stdout, in the shape the caller names. */
// eslint-disable-next-line @typescript-eslint/no-unnecessary-type-parameters -- the caller names the output's shape, as with JSON.parse
export function json<T>(run: Run): T {
  assert.equal(run.code, 0, `exit ${run.code}: ${run.stderr}`);
  assert.equal(run.stderr, "");
  return JSON.parse(run.stdout) as T;
}

/** Errors: non-zero exit, exactly one line on stderr, nothing on stdout. */
export function assertFails(run: Run, message: string): void {
  assert.notEqual(run.code, 0);
  assert.equal(run.stdout, "");
  assert.equal(run.stderr, `${message}\n`);
}

export interface ServeProcess {
  /** http://127.0.0.1:<port>, from the "listening" log line. */
  url: string;
  /** The pino log records written so far, one parsed object per stdout line. */
  logs: Record<string, unknown>[];
  stderr(): string;
  /** SIGTERM, then the exit code. */
  stop(): Promise<number | null>;
  /** SIGKILL (a crash, the kernel's OOM killer): no shutdown of its own; resolves once the process is gone. */
  kill(): Promise<void>;
}

/** `authz-server serve --port 0 <args>` as a child process, resolved once it logs "listening" (rejects if it exits first). */
export function serve(args: string[], options: { env?: Record<string, string> } = {}): Promise<ServeProcess> {
  const child = spawn(process.execPath, [bin, "serve", "--port", "0", "--host", "127.0.0.1", ...args], {
    cwd: root,
    env: { ...environment, ...options.env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const logs: Record<string, unknown>[] = [];
  let stderr = "";
  let partial = "";
  const exited = new Promise<number | null>((resolve) => child.on("exit", resolve));
  child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`serve did not start within 15 s: ${stderr}`));
    }, 15_000);
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`serve exited with ${code}: ${stderr}`));
    });
    child.stdout.on("data", (d: Buffer) => {
      const lines = (partial + d.toString()).split("\n");
      partial = lines.pop() ?? "";
      for (const line of lines) {
        const record = JSON.parse(line) as Record<string, unknown>;
        logs.push(record);
        if (record["msg"] !== "listening") continue;
        clearTimeout(timer);
        resolve({
          url: String(record["url"]),
          logs,
          stderr: () => stderr,
          stop: () => {
            child.kill("SIGTERM");
            return exited;
          },
          kill: async () => {
            child.kill("SIGKILL");
            await exited;
          },
        });
      }
    });
  });
}

/** A port nothing listens on: bound, then released. */
export const closedPort = freePort;
