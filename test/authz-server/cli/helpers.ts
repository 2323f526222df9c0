import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

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

/** A successful `--json` run: exit 0, nothing on stderr, the parsed stdout. */
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
