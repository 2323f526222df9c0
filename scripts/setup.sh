#!/usr/bin/env bash
# `npm run setup`: installs the Debian packages the test suite needs, only those that are missing
# (as root, or through sudo). `npm test` runs `setup.sh --check`, which installs nothing: it names
# what is missing and exits 1.
#   chromium        browser tests (driven by playwright-core; never a downloaded browser)
#   deck            `deck validate -s kong.yml`
#   docker-compose  `docker-compose config` (Docker itself cannot run on the development machines)
#   luajit          syntax check of the fail-closed guard's Lua
#   lua-messagepack Kong's own MessagePack codec, to check our plugin server's bytes against it under LuaJIT
#   protobuf-compiler, libprotobuf-dev  protoc and the google/protobuf/*.proto it reads, to decode our ProtoBuf:1 bytes
#   postgresql      initdb and pg_ctl for the throwaway PostgreSQL cluster the storage tests run against
#                   (test/helpers/postgres.ts; not needed when AUTHZ_TEST_POSTGRES_URL names a server)
set -euo pipefail

missing=()   # Debian packages
reasons=()   # one line each: what was looked for and not found
need_command() { # <command> <package>
  command -v "$1" >/dev/null 2>&1 && return
  missing+=("$2")
  reasons+=("$1: command not found (package $2)")
}
need_package() { # <package>
  # Only "install ok installed" counts: a removed package keeps a status line for its conffiles.
  [ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null)" = "install ok installed" ] && return
  missing+=("$1")
  reasons+=("$1: package not installed")
}
need_file() { # <file> <package>
  [ -f "$1" ] && return
  missing+=("$2")
  reasons+=("$1: no such file (package $2)")
}

need_command chromium chromium
need_command deck deck
need_command docker-compose docker-compose
need_command luajit luajit
need_package lua-messagepack
need_command protoc protobuf-compiler
need_file /usr/include/google/protobuf/struct.proto libprotobuf-dev
[ -n "${AUTHZ_TEST_POSTGRES_URL:-}" ] || need_package postgresql

[ ${#missing[@]} -eq 0 ] && exit 0

if [ "${1:-}" = "--check" ]; then
  echo "the tests need Debian packages that are not installed: ${missing[*]}" >&2
  printf '  %s\n' "${reasons[@]}" >&2
  echo "run: npm run setup" >&2
  exit 1
fi

echo "installing Debian packages: ${missing[*]}" >&2
sudo=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null 2>&1 || { echo "npm run setup: installing them needs root, or sudo" >&2; exit 1; }
  sudo="sudo"
fi
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
