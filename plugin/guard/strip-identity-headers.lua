-- No client-sent identity header reaches the upstream, on any route of this service
-- (its source: plugin/guard/strip-identity-headers.lua). Every spelling: nginx accepts "_".
local headers, err = kong.request.get_headers(1000)
if err then
  return kong.response.exit(400, { message = "too many request headers" })
end
for name in pairs(headers) do
  local folded = name:lower():gsub("_", "-")
  if folded:find("^x%-authenticated%-") or folded:find("^x%-consumer%-")
      or folded == "x-credential-identifier" or folded == "x-anonymous-consumer" then
    kong.service.request.clear_header(name)
  end
end
