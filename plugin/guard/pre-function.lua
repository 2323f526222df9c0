-- oauth2-jwt fail-closed guard, part 1 of 2 (its source: plugin/guard/pre-function.lua).
-- Drop any client-sent nonce or verdict header, in every spelling (nginx accepts "_").
local headers, err = kong.request.get_headers(1000)
if err then
  return kong.response.exit(400, { message = "too many request headers" })
end
for name in pairs(headers) do
  local folded = name:lower():gsub("_", "-")
  if folded == "x-oauth2-jwt-nonce" or folded == "x-oauth2-jwt-verdict" then
    kong.service.request.clear_header(name)
  end
end
-- 128 random bits from OpenSSL, a new value on every read: read it once.
local nonce = ngx.var.request_id
kong.ctx.shared.oauth2_jwt_nonce = nonce
kong.service.request.set_header("X-OAuth2-JWT-Nonce", nonce)
