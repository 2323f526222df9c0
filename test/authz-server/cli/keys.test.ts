// `keys list` runs without the flags of the server beside it, so it cannot know the access-token lifetime that server
// uses. A retired key stays published for that lifetime plus the clock skew after its last signature
// (keys/keyring.ts): the list must never call "expired" a key a server may still publish, so it reads the window for
// the longest lifetime any server may be configured with (config.ts, limits.accessTokenTtl).
import assert from "node:assert/strict";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { defaults, limits } from "../../../authz-server/src/config.ts";
import { tempDir } from "../helpers.ts";
import { cli, json } from "./helpers.ts";

interface ListedKey {
  kid: string;
  state: string;
  retired_at: string | null;
  unpublish_at: string | null;
}

describe("authz-server keys list", () => {
  const temp = tempDir();
  const db = join(temp.dir, "keys.db");
  const withDb = (...args: string[]) => [...args, "--db", db, "--json"];

  before(async () => {
    json(await cli(withDb("init")));
    json(await cli(withDb("keys", "rotate")));
  });
  after(() => temp.remove());

  it("keeps a retired key published for the longest access-token lifetime a server may use, plus the clock skew", async () => {
    const rotated = await cli(withDb("keys", "rotate", "--activate-after", "0", "--force"));
    assert.equal(rotated.code, 0, rotated.stderr);
    const [retired, active] = json<ListedKey[]>(await cli(withDb("keys", "list")));
    assert.equal(retired.state, "retired");
    assert.equal(active.state, "active");
    assert.ok(retired.retired_at !== null && retired.unpublish_at !== null);
    assert.equal(
      Date.parse(retired.unpublish_at) - Date.parse(retired.retired_at),
      (limits.accessTokenTtl + defaults.clockSkew) * 1000,
    );
  });
});
