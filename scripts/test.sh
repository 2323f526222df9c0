#!/usr/bin/env bash
# `npm test`: every test. Checks that the Debian packages the tests need are installed (it installs
# nothing: `npm run setup` does), checks formatting, builds, lints, type-checks the tests, then runs
# node's test runner over test/**/*.test.ts (TypeScript loaded through tsx).
# TEST_LONG=1 also runs the long drills (see README).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --check
npm run format:check --silent
npm run build --silent
# After the build: ESLint's type information reads each workspace's emitted declarations.
npm run lint --silent
npx tsc -p test --noEmit
mapfile -t files < <(find test -name '*.test.ts' -not -path '*/node_modules/*' | sort)
exec node --import tsx --test --test-concurrency=2 --test-timeout=300000 "${files[@]}"
