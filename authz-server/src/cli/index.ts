import { readFileSync } from "node:fs";
import { Command, CommanderError } from "commander";
import { addClientsCommands } from "./clients.js";
import { addConsentsCommands } from "./consents.js";
import { addCopyCommand } from "./copy.js";
import { addInitCommand } from "./init.js";
import { addKekCommands } from "./kek.js";
import { addKeysCommands } from "./keys.js";
import { addScopesCommands } from "./scopes.js";
import { addServeCommand } from "./serve.js";
import { addUsersCommands } from "./users.js";

/** The version in authz-server/package.json, two directories above both src/cli/ and dist/cli/. */
function packageVersion(): string {
  return (JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as { version: string })
    .version;
}

export function buildProgram(): Command {
  const program = new Command("authz-server")
    .description("OAuth 2.0 authorization server issuing RFC 9068 JWT access tokens (Kong oauth2-jwt sidecar)")
    .showSuggestionAfterError(false)
    // Long flag only: commander would read a "-V" at the start of a client id as the version flag.
    .version(packageVersion(), "--version", "print the version")
    .exitOverride();
  addServeCommand(program);
  addInitCommand(program);
  addKekCommands(program);
  addScopesCommands(program);
  addClientsCommands(program);
  addUsersCommands(program);
  addConsentsCommands(program);
  addKeysCommands(program);
  addCopyCommand(program);
  return program;
}

/**
 * Runs the CLI; returns the exit code. Every error is one line on stderr: a usage mistake (options.ts), a refused
 * registration (clients/registration.ts) or a storage failure says what to fix, never a stack trace.
 */
export async function main(argv: string[]): Promise<number> {
  try {
    await buildProgram().parseAsync(argv);
    return 0;
  } catch (error: unknown) {
    if (error instanceof CommanderError) return error.exitCode; // commander already printed its one line (or help)
    const message = error instanceof Error ? error.message : String(error);
    process.stderr.write(`authz-server: ${message.split("\n")[0] ?? ""}\n`);
    return 1;
  }
}

const code = await main(process.argv);
if (code !== 0) process.exitCode = code;
