// Logging to stderr only: Kong parses the query command's stdout as JSON and merges the
// running server's stdout and stderr into its own log at INFO level.

export type LogLevel = "error" | "warn" | "info" | "debug";

const RANK: Record<LogLevel, number> = { error: 0, warn: 1, info: 2, debug: 3 };

export interface Logger {
  error(message: string): void;
  warn(message: string): void;
  info(message: string): void;
  debug(message: string): void;
  enabled(level: LogLevel): boolean;
}

export function createLogger(level: LogLevel, write: (line: string) => void = writeStderr): Logger {
  const enabled = (at: LogLevel): boolean => RANK[at] <= RANK[level];
  const log = (at: LogLevel) => (message: string): void => {
    if (enabled(at)) write(`${new Date().toISOString()} [${at}] ${message}\n`);
  };
  return { error: log("error"), warn: log("warn"), info: log("info"), debug: log("debug"), enabled };
}

function writeStderr(line: string): void {
  process.stderr.write(line);
}
