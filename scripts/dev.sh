#!/usr/bin/env bash
# npm run dev: a real n8n editor with this package installed from its `npm pack` tarball, the
# local mail stack (Entra-like IdP, Postfix, Dovecot), a connected sandbox credential and the
# example workflows. Runs until Ctrl-C, then stops what it started.
set -euo pipefail
cd "$(dirname "$0")/.."
REPO="$(pwd)"

say() { echo "[dev] $*"; }

N8N_STARTED=""
STACK_STARTED=""
PACK_DIR="$(mktemp -d)"
cleanup() {
  trap - INT TERM EXIT
  say "stopping"
  [ -n "$N8N_STARTED" ] && bash test/n8n/n8n.sh stop || true
  [ -n "$STACK_STARTED" ] && bash test/stack/mailstack.sh stop >/dev/null || true
  rm -rf "$PACK_DIR"
}
trap 'cleanup; exit 130' INT TERM
trap cleanup EXIT

say "n8n (cached after the first run; the first install takes ~10-15 minutes)"
bash test/n8n/n8n.sh install

say "build and pack"
npm run build >/dev/null
TARBALL="$PACK_DIR/$(npm pack --silent --pack-destination "$PACK_DIR" | tail -1)"

if ! command -v postfix >/dev/null || ! command -v dovecot >/dev/null; then
  say "installing the mail stack's Debian packages (needs root)"
  bash test/stack/mailstack.sh install
fi
STACK_STATUS="$(bash test/stack/mailstack.sh status 2>&1 || true)"
if grep -q closed <<<"$STACK_STATUS"; then
  say "starting the mail stack"
  bash test/stack/mailstack.sh start >/dev/null
  STACK_STARTED=1
else
  say "mail stack already running; leaving it running afterwards"
fi

say "starting n8n with $(basename "$TARBALL")"
bash test/n8n/n8n.sh start --package "$TARBALL"
N8N_STARTED=1

say "sandbox credential and example workflows"
npx tsx scripts/dev-sandbox.ts

PORT="${N8N_E2E_PORT:-15678}"
cat <<INFO

  n8n editor   http://127.0.0.1:$PORT/signin
  login        ${N8N_E2E_OWNER_EMAIL:-owner@example.test} / ${N8N_E2E_OWNER_PASSWORD:-Passw0rd!mailstack}
  credential   "Microsoft 365 Mail (sandbox)" (alice@example.test, connected to the local IdP)
  workflows    "Weekly service report (Microsoft 365)", "Daily mailbox health check (Microsoft 365)"
  mail         delivered to .stack/mail/<user>/Maildir (reports@, alice@, bob@, shared@example.test)
  n8n log      ${N8N_E2E_STATE_DIR:-$REPO/.stack/n8n}/n8n.log

Press Ctrl-C to stop n8n and the mail stack.
INFO

# Wait until Ctrl-C (or until n8n dies).
while bash test/n8n/n8n.sh status >/dev/null 2>&1; do sleep 2; done
say "n8n is no longer running"
