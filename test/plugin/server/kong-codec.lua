-- Kong's side of the socket with Kong's own MessagePack library (lua-MessagePack, the
-- "MessagePack" module Kong's mp_rpc.lua requires), for test/plugin/server/kong-codec.test.ts.
--   luajit kong-codec.lua encode INSTANCE_ID EVENT_ID  > session bytes on stdout
--   luajit kong-codec.lua decode < reply bytes        > one canonical line per message
local mp = require "MessagePack"
local mode = arg[1]

if mode == "encode" then
  local instance_id, event_id = tonumber(arg[2]), tonumber(arg[3])
  local out = {}
  -- mp_rpc.lua Rpc:call: mp_pack({0, msg_id, method, {...}})
  local function request(id, method, payload) out[#out + 1] = mp.pack({ 0, id, method, { payload } }) end
  request(1, "plugin.HandleEvent", { InstanceId = instance_id, EventName = "access" })
  -- fix_mmap: every header value a list
  request(2, "plugin.StepMultiMap", { EventId = event_id, Data = {
    authorization = { "Bearer t" }, ["x-oauth2-jwt-nonce"] = { "lua-nonce" }, accept = { "a", "b" },
  } })
  -- set_headers returned nil: a Lua table cannot hold it, so Data is absent
  request(3, "plugin.Step", { EventId = event_id, Data = nil })
  io.write(table.concat(out))
elseif mode == "decode" then
  local function canonical(v)
    if type(v) ~= "table" then return type(v) == "string" and string.format("%q", v) or tostring(v) end
    local keys = {}
    for k in pairs(v) do keys[#keys + 1] = k end
    table.sort(keys, function(a, b) return tostring(a) < tostring(b) end)
    local parts = {}
    for _, k in ipairs(keys) do parts[#parts + 1] = tostring(k) .. "=" .. canonical(v[k]) end
    return "{" .. table.concat(parts, ",") .. "}"
  end
  -- mp_rpc.lua reads replies with mp.unpacker
  for _, message in mp.unpacker(io.read("*a")) do print(canonical(message)) end
else
  error("usage: kong-codec.lua encode INSTANCE_ID EVENT_ID | decode")
end
