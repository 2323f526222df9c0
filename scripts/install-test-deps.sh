#!/usr/bin/env bash
# Installs the Debian packages the test suite needs, only when they are missing:
#   chromium        browser tests (driven by playwright-core; never a downloaded browser)
#   deck            `deck validate -s kong.yml`
#   docker-compose  `docker-compose config` (Docker itself cannot run on the development machines)
#   luajit          syntax check of the fail-closed guard's Lua
#   lua-messagepack Kong's own MessagePack codec, to check our plugin server's bytes against it under LuaJIT
#   protobuf-compiler, libprotobuf-dev  protoc and the google/protobuf/*.proto it reads, to decode our ProtoBuf:1 bytes
set -euo pipefail
missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v deck >/dev/null 2>&1 || missing+=(deck)
command -v docker-compose >/dev/null 2>&1 || missing+=(docker-compose)
command -v luajit >/dev/null 2>&1 || missing+=(luajit)
dpkg -s lua-messagepack >/dev/null 2>&1 || missing+=(lua-messagepack)
command -v protoc >/dev/null 2>&1 || missing+=(protobuf-compiler)
[ -f /usr/include/google/protobuf/struct.proto ] || missing+=(libprotobuf-dev)
[ ${#missing[@]} -eq 0 ] && exit 0
echo "installing Debian packages: ${missing[*]}" >&2
sudo=""
[ "$(id -u)" -ne 0 ] && sudo="sudo"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
