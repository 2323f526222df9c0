#!/bin/sh
# Creates the database if needed (init is idempotent), seeds the demo data idempotently (DEMO_SEED=1), then runs the
# server in the foreground. A key-encryption key in AUTHZ_KEK_FILE or AUTHZ_KEK reaches every command through the
# environment.
# Canon's server-generated credentials go to $CANON_CLIENT_FILE on a volume Canon mounts read-only.
set -eu
node /app/authz-server/bin/authz-server.js init --db "$AUTHZ_DB"
if [ "${DEMO_SEED:-0}" = "1" ]; then
  node /app/scripts/seed-demo.mjs --db "$AUTHZ_DB" --canon-file "${CANON_CLIENT_FILE:-/run/demo/canon-client.json}" \
    --redirect-uri "${CANON_REDIRECT_URI:-http://localhost:3000/callback}"
fi
exec node /app/authz-server/bin/authz-server.js serve --db "$AUTHZ_DB" "$@"
