import type { Command } from "commander";
import { checkResourceIndicator } from "../clients/registration.js";
import { isScopeToken } from "../tokens/scope.js";
import { common, type CommonOptions, print, UsageError, withStorage } from "./options.js";

function create(name: string, options: CommonOptions & { description: string; resource?: string }): Promise<void> {
  return withStorage(options, async (storage) => {
    if (!isScopeToken(name)) throw new UsageError(`invalid scope name (RFC 6749 §3.3): ${name}`);
    if (await storage.scopes.find(name)) throw new UsageError(`scope already exists: ${name}`);
    const resource = options.resource === undefined ? null : checkResourceIndicator("--resource", options.resource);
    const scope = { name, description: options.description, resource };
    await storage.scopes.create(scope);
    print(options, scope, `created scope ${name}`);
  });
}

function list(options: CommonOptions): Promise<void> {
  return withStorage(options, async (storage) => {
    const scopes = await storage.scopes.list();
    print(options, scopes, scopes.map((s) => `${s.name}\t${s.resource ?? "-"}\t${s.description}`).join("\n"));
  });
}

export function addScopesCommands(program: Command): void {
  const scopes = program.command("scopes").description("manage scopes");
  common(scopes.command("create").argument("<name>").description("register a scope"))
    .requiredOption("--description <text>", "shown to users on the consent page")
    .option("--resource <uri>", "RFC 8707 resource indicator: tokens with this scope get it as aud")
    .action(create);
  common(scopes.command("list").description("list scopes")).action(list);
}
