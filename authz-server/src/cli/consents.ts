import type { Command } from "commander";
import { common, type CommonOptions, iso, print, UsageError, withStorage } from "./options.js";

function list(options: CommonOptions & { user?: string; client?: string }): Promise<void> {
  return withStorage(options, async (storage) => {
    const filter: { userId?: string; clientId?: string } = {};
    if (options.user !== undefined) {
      const user = await storage.users.findByUsername(options.user);
      if (!user) throw new UsageError(`no such user: ${options.user}`);
      filter.userId = user.id;
    }
    if (options.client !== undefined) filter.clientId = options.client;
    const consents = [];
    for (const c of await storage.consents.list(filter)) {
      consents.push({
        user: (await storage.users.findById(c.userId))?.username ?? null,
        user_id: c.userId,
        client_id: c.clientId,
        client_name: (await storage.clients.find(c.clientId))?.name ?? null,
        scopes: c.scopes,
        granted_at: iso(c.grantedAt),
      });
    }
    print(
      options,
      consents,
      consents.length === 0
        ? "no consents"
        : consents
            .map(
              (c) =>
                `${c.user ?? c.user_id}\t${c.client_id}\t${c.client_name ?? "-"}\t${c.scopes.join(" ")}\t${c.granted_at}`,
            )
            .join("\n"),
    );
  });
}

function revoke(options: CommonOptions & { user: string; client: string }): Promise<void> {
  return withStorage(options, async (storage) => {
    const user = await storage.users.findByUsername(options.user);
    if (!user) throw new UsageError(`no such user: ${options.user}`);
    // RFC 7009 §2.1: withdrawing the grant revokes its refresh tokens and the access tokens issued with them.
    if (!(await storage.consents.revoke(user.id, options.client, Date.now()))) {
      throw new UsageError(`${options.user} has no consent or grant for client ${options.client}`);
    }
    print(
      options,
      { user: options.user, client_id: options.client, revoked: true },
      `withdrew ${options.user}'s consent to ${options.client}`,
    );
  });
}

export function addConsentsCommands(program: Command): void {
  const consents = program.command("consents").description("see and withdraw users' consents to clients");
  common(consents.command("list").description("list consents (user × client × scopes)"))
    .option("--user <username>", "only this user's consents")
    .option("--client <id>", "only consents to this client")
    .action(list);
  common(
    consents
      .command("revoke")
      .description("withdraw a user's consent to a client; revokes that grant's refresh and access tokens"),
  )
    .requiredOption("--user <username>", "the user")
    .requiredOption("--client <id>", "the client")
    .action(revoke);
}
