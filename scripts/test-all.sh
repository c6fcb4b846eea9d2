#!/usr/bin/env bash
# Every test tier, in order, each timed. Installs and starts the servers each tier needs (Debian
# packages need root). The first failing tier stops the run with its exit code; the table of
# durations is printed either way.
#   bash scripts/test-all.sh             from an installed checkout (npm ci done)
#   bash scripts/test-all.sh --install   npm ci first, as a timed step too (.ci/run)
#
# Adding a tier: one line below, `step "<what it proves>" <command...>` (a tier of several commands
# goes through `bash -c '...'`). Install steps go through `bash scripts/retry.sh <seconds> ...`
# (timeout + one retry). The n8n releases come from test/n8n/versions.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
source test/n8n/versions.sh # N8N_OLDEST, N8N_NEWEST
export CI=${CI:-}

RUN_T0=$SECONDS
RESULTS=()
summary() {
  local line passed=0
  printf '\n===== durations =====\n'
  for line in "${RESULTS[@]}"; do printf '%s\n' "$line"; done
  for line in "${RESULTS[@]}"; do [[ $line == *' ok' ]] && passed=$((passed + 1)); done
  printf '%-72s %5d s\n' "total" $((SECONDS - RUN_T0))
  printf 'tiers: %d passed, %d failed\n' "$passed" $((${#RESULTS[@]} - passed))
}
# step "<label>" <command...>: runs one tier, records its duration; a failure ends the run.
step() {
  local label=$1 t0=$SECONDS rc=0
  shift
  printf '\n===== %s =====\n' "$label"
  "$@" || rc=$?
  local status=ok
  ((rc == 0)) || status="FAILED (exit $rc)"
  RESULTS+=("$(printf '%-72s %5d s  %s' "$label" $((SECONDS - t0)) "$status")")
  if ((rc != 0)); then summary; exit "$rc"; fi
}

if [[ ${1:-} == --install ]]; then
  step "install: npm ci" bash scripts/retry.sh 900 npm ci --no-audit --no-fund
fi

step "build (gulp + esbuild)" npm run build
step "n8n community-node lint" npx n8n-node lint
step "typecheck" npm run typecheck
step "workflow files pass actionlint" bash scripts/lint-workflows.sh
step "package contents, npm publish --dry-run" bash scripts/check-pack.sh
step "unit + engine, n8n-core/n8n-workflow as devDependencies (npm test)" npm test
step "engine on n8n $N8N_OLDEST's n8n-core/n8n-workflow/n8n-nodes-base" bash scripts/engine-oldest.sh
step "faults and bad input (npm run test:faults)" npm run test:faults
step "install: Postfix, Dovecot (apt)" bash scripts/retry.sh 900 bash test/stack/mailstack.sh install
step "interop: real Postfix + Dovecot (npm run test:interop)" npm run test:interop
step "install: Chromium (apt)" bash scripts/retry.sh 900 bash test/e2e/setup.sh
step "install: n8n $N8N_NEWEST + Node 24" env N8N_E2E_VERSION="$N8N_NEWEST" bash test/n8n/n8n.sh install
step "end to end in real n8n $N8N_NEWEST (npm run test:n8n)" env N8N_E2E_VERSION="$N8N_NEWEST" npm run test:n8n
step "install: n8n $N8N_OLDEST + Node 24" env N8N_E2E_VERSION="$N8N_OLDEST" bash test/n8n/n8n.sh install
step "end to end in real n8n $N8N_OLDEST (npm run test:n8n)" env N8N_E2E_VERSION="$N8N_OLDEST" npm run test:n8n
step "install: Redis, PostgreSQL (apt)" bash scripts/retry.sh 900 bash test/scale/queue.sh install
step "queue mode on n8n $N8N_NEWEST: main + 2 workers, Redis, PostgreSQL (npm run test:scale)" npm run test:scale
step "the README quick start (npm run demo)" npm run demo

summary
