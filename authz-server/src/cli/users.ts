import { createInterface } from "node:readline";
import { Writable } from "node:stream";
import type { Command } from "commander";
import { checkPasswordPolicy, hashPassword } from "../passwords.js";
import { generateId } from "../secrets.js";
import { common, type CommonOptions, iso, print, UsageError, withStorage } from "./options.js";

type PasswordOptions = CommonOptions & { passwordStdin?: boolean };

/** The first line of stdin, for --password-stdin. */
async function passwordFromStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  const password = Buffer.concat(chunks)
    .toString("utf8")
    .replace(/\r?\n$/, "");
  if (password === "") throw new UsageError("no password on stdin: --password-stdin reads it from the first line");
  if (password.includes("\n")) throw new UsageError("the password on stdin must be a single line");
  return password;
}

/** One answer typed at the terminal, not echoed. */
async function askWithoutEcho(question: string): Promise<string> {
  let muted = false;
  const output = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      if (!muted) process.stderr.write(chunk);
      callback();
    },
  });
  const rl = createInterface({ input: process.stdin, output, terminal: true });
  const answer = new Promise<string>((resolve) => {
    rl.question(question, resolve);
  });
  muted = true;
  const value = await answer;
  rl.close();
  process.stderr.write("\n");
  return value;
}

/** Passwords never come from argv (visible in `ps` and shell history): from stdin, or a prompt without echo. */
async function readPassword(fromStdin: boolean | undefined): Promise<string> {
  if (fromStdin) return passwordFromStdin();
  // Without a terminal there is nobody to prompt; stdin is read only when asked for, never whatever happens to be on it.
  if (!process.stdin.isTTY) {
    throw new UsageError("no password given: pipe it with --password-stdin, or run in a terminal to be prompted");
  }
  const first = await askWithoutEcho("Password: ");
  const second = await askWithoutEcho("Repeat password: ");
  if (first !== second) throw new UsageError("the passwords do not match");
  return first;
}

async function newPasswordHash(fromStdin: boolean | undefined): Promise<string> {
  const password = await readPassword(fromStdin);
  try {
    checkPasswordPolicy(password);
  } catch (error: unknown) {
    throw new UsageError((error as Error).message);
  }
  return hashPassword(password);
}

function create(username: string, options: PasswordOptions): Promise<void> {
  return withStorage(options, async (storage) => {
    if (!/^[A-Za-z0-9._@-]{1,64}$/.test(username)) {
      throw new UsageError("username must be 1-64 characters of letters, digits, . _ @ -");
    }
    if (await storage.users.findByUsername(username)) throw new UsageError(`user already exists: ${username}`);
    const passwordHash = await newPasswordHash(options.passwordStdin);
    const user = { id: generateId(), username, passwordHash, createdAt: Date.now() };
    await storage.users.create(user);
    print(
      options,
      { id: user.id, username, created_at: iso(user.createdAt) },
      `created user ${username} (sub ${user.id})`,
    );
  });
}

function list(options: CommonOptions): Promise<void> {
  return withStorage(options, async (storage) => {
    const users = (await storage.users.list()).map((u) => ({
      id: u.id,
      username: u.username,
      created_at: iso(u.createdAt),
    }));
    print(options, users, users.map((u) => `${u.username}\t${u.id}`).join("\n"));
  });
}

function remove(username: string, options: CommonOptions): Promise<void> {
  return withStorage(options, async (storage) => {
    if (!(await storage.users.delete(username, Date.now()))) throw new UsageError(`no such user: ${username}`);
    print(options, { username, deleted: true }, `deleted user ${username}`);
  });
}

function setPassword(username: string, options: PasswordOptions): Promise<void> {
  return withStorage(options, async (storage) => {
    if (!(await storage.users.findByUsername(username))) throw new UsageError(`no such user: ${username}`);
    await storage.users.setPasswordHash(username, await newPasswordHash(options.passwordStdin), Date.now());
    print(options, { username, updated: true }, `password changed for ${username}`);
  });
}

export function addUsersCommands(program: Command): void {
  const users = program.command("users").description("manage users (resource owners)");
  common(users.command("create").argument("<username>").description("create a user; password from a prompt or stdin"))
    .option("--password-stdin", "read the password from stdin (one line)")
    .action(create);
  common(users.command("list").description("list users")).action(list);
  common(users.command("delete").argument("<username>").description("delete a user and their grants")).action(remove);
  common(users.command("set-password").argument("<username>").description("change a user's password"))
    .option("--password-stdin", "read the password from stdin (one line)")
    .action(setPassword);
}
