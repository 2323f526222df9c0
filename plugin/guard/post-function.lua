-- oauth2-jwt fail-closed guard, part 2 of 2 (its source: plugin/guard/post-function.lua): proxy only if the plugin echoed our nonce.
local expected = kong.ctx.shared.oauth2_jwt_nonce
local verdict = kong.request.get_header("X-OAuth2-JWT-Verdict")
kong.service.request.clear_header("X-OAuth2-JWT-Verdict")
kong.service.request.clear_header("X-OAuth2-JWT-Nonce")
if expected == nil or verdict == nil or verdict ~= expected then
  return kong.response.exit(503, { message = "authorization is temporarily unavailable" }, { ["Retry-After"] = "5" })
end
