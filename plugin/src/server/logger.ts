// Logging to stderr only: Kong parses the query command's stdout as JSON and merges the
// running server's stdout and stderr into its own log at INFO level.
//
// Everything here is total: a log line is written for whatever a peer sent or a plugin threw
// (a value nested 4,000 deep, an object whose toString throws, a thrown non-Error), because a
// diagnostic that throws in an event handler would end the process and fail every request open.

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
  const log =
    (at: LogLevel) =>
    (message: string): void => {
      if (!enabled(at)) return;
      try {
        write(`${new Date().toISOString()} [${at}] ${message}\n`);
      } catch {
        // stderr is gone (Kong closed the pipe): there is nowhere left to say so.
      }
    };
  return { error: log("error"), warn: log("warn"), info: log("info"), debug: log("debug"), enabled };
}

function writeStderr(line: string): void {
  process.stderr.write(line);
}

/** Characters of a value shown in a log line. */
const PREVIEW_CHARS = 300;
/** Arrays and maps shown inside one another before "[…]" or "{…}" stands for the rest. */
const PREVIEW_DEPTH = 8;

/**
 * A short JSON-like rendering of a decoded message (or any value) for a log line: at most
 * PREVIEW_CHARS characters, built without visiting more than needed to fill them.
 */
export function preview(value: unknown): string {
  const out = { text: "" };
  try {
    render(value, 0, out);
  } catch {
    out.text += "<unprintable>";
  }
  return out.text.length > PREVIEW_CHARS ? `${out.text.slice(0, PREVIEW_CHARS)}…` : out.text;
}

function render(value: unknown, depth: number, out: { text: string }): void {
  if (out.text.length > PREVIEW_CHARS) return;
  if (typeof value === "string") {
    out.text += JSON.stringify(value.length > PREVIEW_CHARS ? value.slice(0, PREVIEW_CHARS) : value);
  } else if (
    typeof value === "number" ||
    typeof value === "boolean" ||
    typeof value === "bigint" ||
    value === null ||
    value === undefined
  ) {
    out.text += String(value);
  } else if (ArrayBuffer.isView(value)) {
    out.text += `<${value.byteLength} bytes>`;
  } else if (typeof value !== "object") {
    out.text += `<${typeof value}>`;
  } else if (Array.isArray(value)) {
    if (depth === PREVIEW_DEPTH) {
      out.text += "[…]";
      return;
    }
    out.text += "[";
    for (let i = 0; i < value.length && out.text.length <= PREVIEW_CHARS; i++) {
      if (i > 0) out.text += ",";
      render(value[i], depth + 1, out);
    }
    out.text += "]";
  } else {
    if (depth === PREVIEW_DEPTH) {
      out.text += "{…}";
      return;
    }
    out.text += "{";
    let first = true;
    for (const key in value) {
      if (out.text.length > PREVIEW_CHARS) break;
      if (!Object.prototype.hasOwnProperty.call(value, key)) continue;
      out.text += `${first ? "" : ","}${JSON.stringify(key)}:`;
      first = false;
      render((value as Record<string, unknown>)[key], depth + 1, out);
    }
    out.text += "}";
  }
}

/** What went wrong, for a log line or an RPC error: the message of an Error, else the value. */
export function errorText(error: unknown, { stack = false } = {}): string {
  try {
    if (typeof error === "string") return error;
    if (error instanceof Error) {
      const text: unknown = stack ? (error.stack ?? error.message) : error.message;
      if (typeof text === "string") return text;
    }
    return String(error);
  } catch {
    return `<unprintable ${typeof error}>`;
  }
}
