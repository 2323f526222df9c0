#!/bin/sh
# Creates the database if needed (init is idempotent), seeds the demo data idempotently (DEMO_SEED=1), then runs the
# server in the foreground. A key-encryption key in AUTHZ_KEK_FILE or AUTHZ_KEK reaches every command through the
# environment.
# Canon's server-generated credentials go to $CANON_CLIENT_FILE on a volume Canon mounts read-only.
# A PostgreSQL password in the file AUTHZ_DB_PASSWORD_FILE (a Docker secret) reaches node-postgres as PGPASSWORD, which
# it uses when the AUTHZ_DB URL names no password: the URL, shown in messages and `ps`, then never holds it.
if [ -n "${AUTHZ_DB_PASSWORD_FILE:-}" ]; then
  if [ ! -r "$AUTHZ_DB_PASSWORD_FILE" ] || [ ! -s "$AUTHZ_DB_PASSWORD_FILE" ]; then
    echo "authz-entrypoint: AUTHZ_DB_PASSWORD_FILE $AUTHZ_DB_PASSWORD_FILE is missing, empty or unreadable" >&2
    exit 1
  fi
  PGPASSWORD=$(cat "$AUTHZ_DB_PASSWORD_FILE") || exit 1
  export PGPASSWORD
fi
set -eu
node /app/authz-server/bin/authz-server.js init --db "$AUTHZ_DB"
if [ "${DEMO_SEED:-0}" = "1" ]; then
  node /app/scripts/seed-demo.mjs --db "$AUTHZ_DB" --canon-file "${CANON_CLIENT_FILE:-/run/demo/canon-client.json}" \
    --redirect-uri "${CANON_REDIRECT_URI:-http://localhost:3000/callback}"
fi
exec node /app/authz-server/bin/authz-server.js serve --db "$AUTHZ_DB" "$@"
