#!/usr/bin/env bash
# `npm test`: every test. Checks that the Debian packages the tests need are installed (it installs
# nothing: `npm run setup` does), checks formatting, builds, lints, type-checks the tests, then runs
# node's test runner over test/**/*.test.ts (TypeScript loaded through tsx): first every file outside
# test/multi-node/, two at a time; then test/multi-node/, one file at a time, since each of those runs several
# `serve` processes on one PostgreSQL database and measures how soon the others see a change.
# TEST_LONG=1 also runs the long drills (see README).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --check
npm run format:check --silent
npm run build --silent
# After the build: ESLint's type information reads each workspace's emitted declarations.
npm run lint --silent
npx tsc -p test --noEmit
mapfile -t files < <(find test -name '*.test.ts' -not -path '*/node_modules/*' -not -path 'test/multi-node/*' | sort)
mapfile -t multi_node < <(find test/multi-node -name '*.test.ts' | sort)
node --import tsx --test --test-concurrency=2 --test-timeout=300000 "${files[@]}"
exec node --import tsx --test --test-concurrency=1 --test-timeout=300000 "${multi_node[@]}"
