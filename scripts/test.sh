#!/usr/bin/env bash
# `npm test`: every test. Installs missing Debian packages, builds, type-checks the tests,
# then runs node's test runner over test/**/*.test.ts (TypeScript loaded through tsx).
# TEST_LONG=1 also runs the long drills (see README).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-test-deps.sh
npm run build --silent
npx tsc -p test --noEmit
mapfile -t files < <(find test -name '*.test.ts' -not -path '*/node_modules/*' | sort)
exec node --import tsx --test --test-concurrency=2 --test-timeout=300000 "${files[@]}"
