#!/usr/bin/env bash
# Every test tier, in order, from an installed checkout (npm ci done). Installs and starts the
# servers each tier needs (Debian packages need root). Any failure stops the run with a non-zero exit.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n===== %s =====\n' "$*"; }

step "build, lint, types, package contents"
npm run build
npx n8n-node lint
npm run typecheck
bash scripts/check-pack.sh

step "unit + engine (npm test)"
npm test

step "faults and bad input (npm run test:faults)"
npm run test:faults

step "interop: real Postfix + Dovecot (npm run test:interop)"
bash test/stack/mailstack.sh install
npm run test:interop

step "end to end in a real n8n (npm run test:n8n)"
bash test/stack/mailstack.sh install
bash test/e2e/setup.sh
npm run test:n8n

step "queue mode: n8n main + 2 workers, Redis, PostgreSQL (npm run test:scale)"
npm run test:scale

step "the README quick start: npm run demo"
npm run demo

step "all tiers passed"
