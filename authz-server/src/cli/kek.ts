import type { Command } from "commander";
import { KeyEncryptionKey, kekSources } from "../storage/encryption.js";
import type { KeyEncryptionStatus } from "../storage/types.js";
import { common, type CommonOptions, keyEncryptionKeyOf, print, UsageError, withStorage } from "./options.js";

function keyEncryptionJson(status: KeyEncryptionStatus) {
  return {
    kek_id: status.kekId,
    encrypted: { signing_keys: status.sealed.signingKeys, server_secrets: status.sealed.serverSecrets },
    in_the_clear: { signing_keys: status.inTheClear.signingKeys, server_secrets: status.inTheClear.serverSecrets },
  };
}

function keyEncryptionText(status: KeyEncryptionStatus): string {
  const counted = (n: number, noun: string) => `${n} ${noun}${n === 1 ? "" : "s"}`;
  const counts = (c: { signingKeys: number; serverSecrets: number }) =>
    `${counted(c.signingKeys, "signing key")}, ${counted(c.serverSecrets, "server secret")}`;
  return status.kekId === null
    ? `not encrypted at rest: ${counts(status.inTheClear)} in the clear`
    : `encrypted at rest under key-encryption key ${status.kekId}: ${counts(status.sealed)}`;
}

function printStatus(options: CommonOptions, status: KeyEncryptionStatus): void {
  print(options, keyEncryptionJson(status), keyEncryptionText(status));
}

function status(options: CommonOptions): Promise<void> {
  return withStorage(options, async (storage) => {
    printStatus(options, await storage.keyEncryption.status());
  });
}

function enable(options: CommonOptions): Promise<void> {
  if (keyEncryptionKeyOf(options) === undefined)
    throw new UsageError(`kek enable needs the key-encryption key: ${kekSources}`);
  // Opening the storage with the key encrypts what is still in the clear (storage/sqlite/key-encryption.ts).
  return status(options);
}

function rotate(options: CommonOptions & { newKekFile: string }): Promise<void> {
  const current = keyEncryptionKeyOf(options);
  if (current === undefined) throw new UsageError(`kek rotate needs the current key-encryption key: ${kekSources}`);
  const next = KeyEncryptionKey.fromFile(options.newKekFile, "--new-kek-file");
  if (next.id === current.id) throw new UsageError("--new-kek-file holds the current key-encryption key");
  return withStorage(options, async (storage) => {
    printStatus(options, await storage.keyEncryption.rotate(next));
  });
}

export function addKekCommands(program: Command): void {
  const kek = program
    .command("kek")
    .description("encrypt signing keys and server secrets at rest under a key-encryption key");
  common(
    kek.command("status").description("show whether and under which key-encryption key the database is encrypted"),
  ).action(status);
  common(
    kek
      .command("enable")
      .description(`encrypt every signing key and server secret under the key given (${kekSources})`),
  ).action(enable);
  common(kek.command("rotate").description("re-encrypt everything under a new key-encryption key, in one transaction"))
    .requiredOption(
      "--new-kek-file <path>",
      "the new key-encryption key; the current one comes from --kek-file, AUTHZ_KEK_FILE or AUTHZ_KEK",
    )
    .action(rotate);
}
