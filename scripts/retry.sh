#!/usr/bin/env bash
# retry.sh <seconds> <command...>: run an install step under `timeout <seconds>`; if it fails or
# times out, say so and run it once more (a registry hiccup must not fail CI, a hung download must
# not eat its time budget). Exits with the second attempt's status.
#   bash scripts/retry.sh 900 npm ci --no-audit --no-fund
set -uo pipefail
limit=${1:?usage: retry.sh <seconds> <command...>}
shift
[[ $# -gt 0 ]] || { echo "usage: retry.sh <seconds> <command...>" >&2; exit 2; }
for attempt in 1 2; do
  timeout --kill-after=30 "$limit" "$@"
  rc=$?
  ((rc == 0)) && exit 0
  why="exit $rc"
  ((rc == 124)) && why="timed out after $limit s"
  if ((attempt == 1)); then
    echo "[retry] '$*' failed ($why); trying once more" >&2
  else
    echo "[retry] '$*' failed again ($why)" >&2
  fi
done
exit "$rc"
