#!/usr/bin/env bash
# The whole scale tier from a clean machine: build + pack, install Redis/PostgreSQL/n8n (cached),
# a private mail stack on its own ports, the burst in queue mode (main + 2 workers), a Mail Trigger
# burst in queue mode, the same webhook burst on one n8n in regular mode, then the figures and the
# throughput ratio. Stops everything it started.
#   test/scale/run.sh            (npm run test:scale)
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
STATE=${SCALE_STATE_DIR:-$REPO/.stack/scale}
export SCALE_STATE_DIR=$STATE
cd "$REPO"

# The private mail stack: own directory and ports, so the IdP's request log and bob's Maildir hold
# only this tier's traffic (the other tiers use test/stack/mailstack.sh on the default ports).
export MAILSTACK_DIR=$STATE/mail MAILSTACK_IDP_PORT=${SCALE_IDP_PORT:-28080}
export MAILSTACK_IMAP_PORT=20143 MAILSTACK_IMAPS_PORT=20993 MAILSTACK_M365_IMAP_PORT=21143 MAILSTACK_M365_IMAPS_PORT=21993
export MAILSTACK_DOVECOT_SUBMISSION_PORT=21587 MAILSTACK_SMTP_RELAY_PORT=21025 MAILSTACK_SUBMISSION_PORT=22587 MAILSTACK_SMTPS_PORT=22465

t0=$SECONDS
step() { printf '[scale] %s (%d s)\n' "$*" $((SECONDS - t0)) >&2; }

cleanup() {
  bash "$HERE/queue.sh" stop || true
  # Output to a file: daemons started by mailstack.sh keep inherited pipes open.
  bash "$REPO/test/stack/mailstack.sh" stop >"$STATE/mailstack-stop.log" 2>&1 || true
}
trap cleanup EXIT

mkdir -p "$STATE/pkg"
step "build and pack"
npm run build >"$STATE/build.log" 2>&1 || { tail -30 "$STATE/build.log" >&2; exit 1; }
rm -f "$STATE"/pkg/*.tgz
npm pack --pack-destination "$STATE/pkg" >"$STATE/pack.log" 2>&1 || { cat "$STATE/pack.log" >&2; exit 1; }
TARBALL=$(ls "$STATE"/pkg/*.tgz)

step "install (apt: redis-server, postgresql, mail stack; n8n cache)"
bash "$REPO/test/stack/mailstack.sh" install >"$STATE/mailstack-install.log" 2>&1 || { cat "$STATE/mailstack-install.log" >&2; exit 1; }
bash "$HERE/queue.sh" install

step "mail stack on private ports"
bash "$REPO/test/stack/mailstack.sh" start >"$STATE/mailstack-start.log" 2>&1 || { cat "$STATE/mailstack-start.log" >&2; exit 1; }
rm -f "$STATE"/result-*.json
rc=0

step "queue mode: Redis, PostgreSQL, main + 2 workers"
bash "$HERE/queue.sh" start --package "$TARBALL"
step "burst in queue mode"
(eval "$(bash "$HERE/queue.sh" env queue)"; node --import tsx "$HERE/burst.ts") || rc=1
step "trigger burst in queue mode (Mail Trigger on the main, executions on the workers)"
(eval "$(bash "$HERE/queue.sh" env queue)"; node --import tsx "$HERE/trigger-burst.ts") || rc=1
bash "$HERE/queue.sh" stop-n8n

step "regular mode: one n8n process"
bash "$HERE/queue.sh" start-single --package "$TARBALL"
step "burst on one process"
(eval "$(bash "$HERE/queue.sh" env single)"; node --import tsx "$HERE/burst.ts") || rc=1

step "summary"
node --import tsx "$HERE/burst.ts" --summary || rc=1
step "done"
exit $rc
