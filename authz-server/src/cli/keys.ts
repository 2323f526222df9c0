import { type Command, Option } from "commander";
import { defaults, limits, minimumKeyActivateAfter } from "../config.js";
import { parseSigningAlgorithm, signingAlgorithms } from "../keys/algorithms.js";
import { common, type CommonOptions, iso, print, secondsOption, UsageError, withStorage } from "./options.js";

/**
 * The publication window `keys list` reads a retired key's state by. It runs without the flags of the server beside
 * it, which may issue tokens for up to limits.accessTokenTtl (config.ts) and keeps a retired key published that long
 * plus the clock skew (keys/keyring.ts). Reading the window for that longest lifetime never calls "expired" a key a
 * server may still publish; a server with a shorter lifetime deletes the key sooner, and it is then no longer listed.
 */
const longestPublication = { accessTokenTtl: limits.accessTokenTtl, clockSkew: defaults.clockSkew };

function list(options: CommonOptions): Promise<void> {
  return withStorage(options, async (storage) => {
    const { statusOf } = await import("../keys/keyring.js"); // jose: loaded only by the keys commands
    const status = statusOf(await storage.keys.list(), Date.now(), longestPublication);
    const json = status.map((s) => ({
      kid: s.kid,
      alg: s.alg,
      state: s.state,
      created_at: iso(s.createdAt),
      activate_at: iso(s.activateAt),
      retired_at: iso(s.retiredAt),
      unpublish_at: iso(s.unpublishAt),
    }));
    print(options, json, json.map((k) => `${k.kid}\t${k.alg}\t${k.state}\tsigns from ${k.activate_at}`).join("\n"));
  });
}

/**
 * A gateway may serve the key set from its cache for the JWKS max-age (endpoints/jwks.ts): a key that signs sooner may
 * reach it in tokens before it is in its copy, and those tokens are refused until the next fetch.
 */
function checkActivationDelay(delay: number, force: boolean): void {
  const minimum = minimumKeyActivateAfter();
  if (delay >= minimum) return;
  const risk =
    `--activate-after ${delay} is below the JWKS max-age (${defaults.jwksMaxAge} s) plus ${minimum - defaults.jwksMaxAge} s: ` +
    "gateways may still hold a key set without the new key when it starts signing";
  if (!force) throw new UsageError(`${risk}; use at least ${minimum}, or --force`);
  process.stderr.write(`authz-server: warning: ${risk}; until they refetch it they refuse its tokens\n`);
}

function rotate(options: CommonOptions & { activateAfter: number; alg: string; force?: boolean }): Promise<void> {
  return withStorage(options, async (storage) => {
    const alg = parseSigningAlgorithm(options.alg, "--alg");
    // With no key at all there is no cached JWKS to wait for: the first key signs at once.
    const first = (await storage.keys.list()).length === 0;
    if (!first) checkActivationDelay(options.activateAfter, options.force === true);
    const delay = first ? 0 : options.activateAfter;
    const { rotateKey } = await import("../keys/keyring.js");
    const key = await rotateKey(storage.keys, alg, delay, Date.now());
    print(
      options,
      { kid: key.kid, alg: key.alg, created_at: iso(key.createdAt), activate_at: iso(key.activateAt) },
      `new ${key.alg} key ${key.kid} published; signs from ${iso(key.activateAt)}`,
    );
  });
}

function revoke(kid: string, options: CommonOptions): Promise<void> {
  return withStorage(options, async (storage) => {
    const { revokeKey } = await import("../keys/keyring.js");
    const revocation = await revokeKey(storage, kid, Date.now());
    if (!revocation) throw new UsageError(`no such key: ${kid}`);
    const { replacement } = revocation;
    print(
      options,
      {
        kid,
        revoked: true,
        replacement:
          replacement === null
            ? null
            : { kid: replacement.kid, alg: replacement.alg, activate_at: iso(replacement.activateAt) },
      },
      [
        `revoked key ${kid}: unpublished, and every token it signed is refused`,
        ...(replacement === null
          ? []
          : [`new ${replacement.alg} key ${replacement.kid} published; signs from now (the revoked key was signing)`]),
      ].join("\n"),
    );
  });
}

export function addKeysCommands(program: Command): void {
  const keys = program.command("keys").description("manage signing keys");
  common(keys.command("list").description("list signing keys and their state")).action(list);
  common(keys.command("rotate").description("publish a new key now; it signs after --activate-after seconds"))
    .addOption(
      secondsOption(
        "--activate-after",
        `delay before the new key signs; at least ${minimumKeyActivateAfter()} (the JWKS max-age plus a margin) unless --force`,
        defaults.keyActivateAfter,
      ),
    )
    .addOption(
      new Option("--alg <alg>", "signing algorithm").choices(signingAlgorithms).default(defaults.signingAlgorithm),
    )
    .option("--force", "accept an --activate-after below the minimum (gateways may refuse the new key's first tokens)")
    .action(rotate);
  common(
    keys
      .command("revoke")
      .argument("<kid>")
      .description("withdraw a key at once: unpublished, and every token it signed refused")
      .addHelpText(
        "after",
        [
          "",
          "Running servers drop the key from their JWKS at their next key poll, and the revocation feed lists it, so",
          "gateways refuse its tokens and refetch the key set at once. When the key is the one signing now, a new key",
          "of the same algorithm is made and signs at once, without the --activate-after wait of keys rotate: this is",
          "the one case where immediate activation is right, since the revoked key must stop signing now and gateways",
          "meet the new key when they refetch the key set for the revoked one.",
        ].join("\n"),
      ),
  ).action(revoke);
}
