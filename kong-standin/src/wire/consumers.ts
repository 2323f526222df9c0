// Kong's consumers as the PDK's kong.client.load_consumer sees them (kong/pdk/client.lua, Kong
// 3.9.3): a select by primary key (`id`) and one by the unique `username`, nothing else
// (custom_id is not a lookup key of the PDK). The gateway builds a directory from kong.yml's
// `consumers:`; tests of the wire harness pass their own, or one whose lookups throw.

/** A consumer entity as Kong's DAO returns it (kong/db/schema/entities/consumers.lua). */
export interface Consumer {
  id: string;
  /** Seconds since the epoch (typedefs.auto_timestamp_s). */
  created_at: number;
  updated_at: number;
  username?: string;
  custom_id?: string;
  tags?: string[];
}

/**
 * The consumers Kong's database (or LMDB, in DB-less mode) holds. A lookup that throws is a
 * failure Kong raises as a Lua error: in DB-less mode a stored entry is decoded with LuaJIT's
 * string.buffer (kong/db/declarative/marshaller.lua `unmarshall`), which raises on bytes it
 * cannot decode, and the error ends the request with Kong's 500. (A failure the DAO *returns*,
 * `nil, err`, reaches a plugin server as a plain nil, exactly like "no such consumer": Kong keeps
 * only the first return value of a PDK function, mp_rpc.lua `call_pdk_method`, pb_rpc.lua
 * `call_pdk`.)
 */
export interface ConsumerDirectory {
  byId(id: string): Consumer | undefined;
  byUsername(username: string): Consumer | undefined;
}

/**
 * A directory over a fixed list, as DB-less Kong holds kong.yml's consumers: LMDB keys are the
 * strings as loaded, so an id matches exactly (kong/db/strategies/off/init.lua `select`).
 */
export function consumerDirectory(consumers: readonly Consumer[]): ConsumerDirectory {
  const byId = new Map(consumers.map((consumer) => [consumer.id, consumer]));
  const byUsername = new Map(
    consumers.flatMap((consumer) => (consumer.username === undefined ? [] : [[consumer.username, consumer] as const])),
  );
  return {
    byId: (id) => byId.get(id),
    byUsername: (username) => byUsername.get(username),
  };
}

/** No consumers at all (a request without a directory). */
export const NO_CONSUMERS: ConsumerDirectory = consumerDirectory([]);

// kong/tools/uuid.lua is_valid_uuid: 36 characters matching this regex, case-insensitively ('ioj').
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function isKongUuid(value: string): boolean {
  return value.length === 36 && UUID.test(value);
}
