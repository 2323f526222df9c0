// A small model of the Kong PDK calls the serverless snippets use, in Lua, for running the real
// snippet text under Debian's luajit beside its TypeScript mirror: kong.request.get_headers /
// get_header, kong.service.request.clear_header / set_header, kong.response.exit, kong.ctx.shared,
// and ngx.var.request_id returning a new value on every read. The request's header lines are the
// global H, in order; a snippet's exit is recorded in `exited`.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";

/** ngx.var.request_id's reads count up from here, as 32 hex digits. */
export const NONCE_BASE = 0x5eed;

export function luaString(s: string): string {
  return `"${s.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n")}"`;
}

/** The model, with H holding these header lines; defines `run(code)` and `print_result()`. */
export function luaPdkModel(headers: readonly (readonly [string, string])[]): string {
  const input = `{ ${headers.map(([n, v]) => `{ ${luaString(n)}, ${luaString(v)} }`).join(", ")} }`;
  return `
H = ${input}
local reads = 0
exited = nil
kong = {
  request = {
    get_headers = function(max)
      local t, n = {}, 0
      for _, h in ipairs(H) do
        n = n + 1
        if n > max then return t, "truncated" end
        local k = h[1]:lower()
        local cur = t[k]
        if cur == nil then t[k] = h[2] elseif type(cur) == "table" then cur[#cur + 1] = h[2] else t[k] = { cur, h[2] } end
      end
      return t
    end,
    -- kong.tools.http.get_header (Kong 3.9.3): nginx's $http_<name> (case-insensitive, "-" equal
    -- to "_", repeated lines joined with ", " since nginx 1.23); when that holds ", ", the first
    -- value of ngx.req.get_headers() (100 lines) under the name lower-cased with "_" as "-".
    get_header = function(name)
      local want = name:lower():gsub("-", "_")
      local values = {}
      for _, h in ipairs(H) do
        if h[1]:lower():gsub("-", "_") == want then values[#values + 1] = h[2] end
      end
      if #values == 0 then return nil end
      local value = table.concat(values, ", ")
      if not value:find(", ", 1, true) then return value end
      local v = kong.request.get_headers(100)[(name:lower():gsub("_", "-"))]
      if type(v) == "table" then return v[1] end
      return v
    end,
  },
  service = { request = {} },
  response = {
    exit = function(status, body, headers)
      exited = "EXIT " .. status .. " " .. body.message .. " " .. ((headers and headers["Retry-After"]) or "-")
    end,
  },
  ctx = { shared = {} },
}
-- ngx.req.clear_header: every line of that name, compared case-insensitively ("_" is not "-").
kong.service.request.clear_header = function(name)
  local keep = {}
  for _, h in ipairs(H) do
    if h[1]:lower() ~= name:lower() then keep[#keep + 1] = h end
  end
  H = keep
end
kong.service.request.set_header = function(name, value)
  kong.service.request.clear_header(name)
  H[#H + 1] = { name, value }
end
ngx = { var = setmetatable({}, { __index = function(_, key)
  if key == "request_id" then
    reads = reads + 1
    return string.format("%032x", reads + ${NONCE_BASE})
  end
end }) }

function run(code)
  local chunk = assert(loadstring(code))
  chunk()
end

-- "PASS" and the remaining header lines (name lower-cased, sorted), or the exit.
function print_result()
  if exited then print(exited) return end
  local lines = {}
  for _, h in ipairs(H) do lines[#lines + 1] = h[1]:lower() .. "=" .. h[2] end
  table.sort(lines)
  print("PASS")
  for _, l in ipairs(lines) do print(l) end
end
`;
}

/** Runs a Lua script under luajit and returns its trimmed output. */
export function runLuajit(dir: string, script: string): string {
  const file = join(dir, "snippet-model.lua");
  writeFileSync(file, script);
  const result = spawnSync("luajit", [file], { encoding: "utf8", timeout: 10_000 });
  assert.equal(result.status, 0, result.stderr);
  return result.stdout.trimEnd();
}
