// Runs a server under test in its own process, so that the load generator (in the bench
// process) and the server each get one of the machine's two cores. A server announces itself
// with one line `READY <json>` on stdout.
import { spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import readline from "node:readline";

/** The line of a child's stderr that names its error, not the whole stack. */
function firstErrorLine(stderr: string): string {
  const lines = stderr.split("\n").map((l) => l.trim());
  return lines.find((l) => /^\w*Error\b|Error:/.test(l)) ?? lines.filter(Boolean).at(-1) ?? "(no output)";
}

export interface ChildServer<Info> {
  info: Info;
  pid: number;
  /** Resident set size of the child in MB, from /proc (Linux). */
  rssMB(): number;
  close(): Promise<void>;
}

/** Resident set size of a process in MB, read from /proc/<pid>/status (Linux); NaN if unreadable. */
export function readRssMB(pid: number): number {
  let status = "";
  try {
    status = fs.readFileSync(`/proc/${pid}/status`, "utf8");
  } catch {
    return Number.NaN;
  }
  const match = /VmRSS:\s+(\d+) kB/.exec(status);
  return match ? Number(match[1]) / 1024 : Number.NaN;
}

/**
 * CPU time (user + system) a process has used so far, in ms, from /proc/<pid>/stat (Linux; the
 * kernel counts in clock ticks, usually 10 ms, so measure over loads of a second or more).
 */
export function readCpuMs(pid: number): number {
  let stat = "";
  try {
    stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
  } catch {
    return Number.NaN;
  }
  // Fields after the parenthesised command name (which may itself contain spaces): state is
  // field 3, utime 14 and stime 15 (proc(5)).
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const ticks = Number(fields[11]) + Number(fields[12]);
  return (ticks * 1000) / CLOCK_TICKS_PER_SECOND;
}

/** sysconf(_SC_CLK_TCK); 100 on every Linux platform Node.js supports. */
const CLOCK_TICKS_PER_SECOND = 100;

export async function startChild<Info>(
  script: string,
  args: string[] = [],
  options: { nodeArgs?: string[]; env?: NodeJS.ProcessEnv; readyTimeoutMs?: number } = {},
): Promise<ChildServer<Info>> {
  const child: ChildProcess = spawn(
    process.execPath,
    [...(options.nodeArgs ?? []), "--import", "tsx", script, ...args],
    {
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...process.env, ...options.env },
    },
  );
  const stderr: string[] = [];
  child.stderr?.setEncoding("utf8").on("data", (chunk: string) => {
    stderr.push(chunk);
    if (stderr.length > 50) stderr.shift();
  });
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const info = await new Promise<Info>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(
        new Error(
          `${path.basename(script)} did not become ready within ${options.readyTimeoutMs ?? 30000} ms: ${firstErrorLine(stderr.join(""))}`,
        ),
      );
    }, options.readyTimeoutMs ?? 30000);
    const lines = readline.createInterface({ input: child.stdout as NodeJS.ReadableStream });
    lines.on("line", (line) => {
      if (line.startsWith("READY ")) {
        clearTimeout(timer);
        resolve(JSON.parse(line.slice(6)) as Info);
      }
    });
    child.once("exit", (code, signal) => {
      clearTimeout(timer);
      reject(
        new Error(
          `${path.basename(script)} exited (${code ?? signal}) before it was ready: ${firstErrorLine(stderr.join(""))}`,
        ),
      );
    });
  });
  const pid = child.pid as number;
  return {
    info,
    pid,
    rssMB: () => readRssMB(pid),
    async close() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), 5000);
      await exited;
      clearTimeout(timer);
    },
  };
}
