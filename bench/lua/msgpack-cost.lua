-- Kong's side of MessagePack-RPC, timed: the CPU Kong's worker spends in its MessagePack library
-- (lua-MessagePack, the "MessagePack" module kong/runloop/plugin_servers/rpc/mp_rpc.lua requires)
-- on the messages of one request, as bench/sections/cost-model.ts recorded them on the socket.
--
--   luajit msgpack-cost.lua ROUNDS ITERATIONS LABEL SENT_FILE RECEIVED_FILE [LABEL SENT RECEIVED ...]
--
-- SENT_FILE holds what Kong wrote for the request (its msgpack-RPC requests, back to back),
-- RECEIVED_FILE what it read (the plugin server's replies). Each request is decoded once, outside
-- the clock, into the Lua table Kong built it from; the clock then covers, ITERATIONS times,
--   encode: mp.pack of each such table (mp_rpc.lua Rpc:call: mp_pack({0, msg_id, method, {...}}))
--   decode: one mp.unpacker per reply, fed by a function returning reads of at most 4096 bytes,
--           and one message read from it (Rpc:call: mp_unpacker(function() return
--           c:receiveany(4096) end), then reader())
-- in ROUNDS rounds, the labels interleaved in each; the median round counts. The clock is
-- os.clock(), the process's CPU time. Prints one JSON object per label on stdout.
local mp = require "MessagePack"

local rounds, iterations = tonumber(arg[1]), tonumber(arg[2])
if not rounds or not iterations or #arg < 5 or (#arg - 2) % 3 ~= 0 then
  io.stderr:write("usage: luajit msgpack-cost.lua ROUNDS ITERATIONS LABEL SENT_FILE RECEIVED_FILE ...\n")
  os.exit(2)
end

local function read_file(path)
  local file = assert(io.open(path, "rb"))
  local bytes = file:read("*a")
  file:close()
  return bytes
end

-- The messages of a stream, each as its own byte string (the string unpacker yields the
-- position where each message starts).
local function split(stream)
  local starts = {}
  for start in mp.unpacker(stream) do starts[#starts + 1] = start end
  local messages = {}
  for i, start in ipairs(starts) do
    local stop = (starts[i + 1] or #stream + 1) - 1
    messages[i] = stream:sub(start, stop)
  end
  return messages
end

local function receive_any(bytes)
  local offset = 1
  return function()
    if offset > #bytes then return nil end
    local chunk = bytes:sub(offset, offset + 4095)
    offset = offset + 4096
    return chunk
  end
end

local cases = {}
for i = 3, #arg, 3 do
  local sent = split(read_file(arg[i + 1]))
  local received = split(read_file(arg[i + 2]))
  local tables, packed_bytes = {}, 0
  for k, message in ipairs(sent) do
    tables[k] = mp.unpack(message)
    packed_bytes = packed_bytes + #mp.pack(tables[k])
  end
  for _, reply in ipairs(received) do
    local ok, value = mp.unpacker(receive_any(reply))()
    assert(ok and type(value) == "table" and value[1] == 1, "not a msgpack-RPC reply")
  end
  cases[#cases + 1] = {
    label = arg[i], tables = tables, replies = received, packed_bytes = packed_bytes,
    encode = {}, decode = {},
  }
end

local function encode_all(case)
  local pack, tables = mp.pack, case.tables
  for _ = 1, iterations do
    for k = 1, #tables do pack(tables[k]) end
  end
end

local function decode_all(case)
  local unpacker, replies = mp.unpacker, case.replies
  for _ = 1, iterations do
    for k = 1, #replies do
      local reader = unpacker(receive_any(replies[k]))
      reader()
    end
  end
end

local function timed(f, case)
  collectgarbage()
  local start = os.clock()
  f(case)
  return (os.clock() - start) * 1e6 / iterations
end

for round = 0, rounds do
  for k = 1, #cases do
    local case = cases[(round + k - 1) % #cases + 1]
    local encode_us, decode_us = timed(encode_all, case), timed(decode_all, case)
    -- Round 0 warms LuaJIT's traces and is not counted.
    if round > 0 then
      case.encode[#case.encode + 1] = encode_us
      case.decode[#case.decode + 1] = decode_us
    end
  end
end

local function median(values)
  table.sort(values)
  local n = #values
  if n % 2 == 1 then return values[(n + 1) / 2] end
  return (values[n / 2] + values[n / 2 + 1]) / 2
end

for _, case in ipairs(cases) do
  io.write(string.format(
    '{"label":%q,"messagesSent":%d,"messagesReceived":%d,"bytesPackedByLua":%d,"encodeUs":%.4f,"decodeUs":%.4f,"rounds":%d,"iterations":%d,"library":%q}\n',
    case.label, #case.tables, #case.replies, case.packed_bytes, median(case.encode), median(case.decode),
    rounds, iterations, mp._VERSION))
end
