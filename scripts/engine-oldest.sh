#!/usr/bin/env bash
# The engine tier (test/engine: workflows through n8n-core's WorkflowExecute) against the n8n-core,
# n8n-workflow and n8n-nodes-base of the OLDEST n8n the package supports (N8N_OLDEST in
# test/n8n/versions.sh), so an n8n API the package uses that older n8n lacks fails here, without a
# full n8n. Those three are installed (scripts off) into a cache outside the repository and
# swapped in for the project's own copies by the jest project `engine-oldest` (jest.config.js).
#   bash scripts/engine-oldest.sh [jest args...]       N8N_ENGINE_VERSION=2.x.y to pick another
set -euo pipefail
cd "$(dirname "$0")/.."
source test/n8n/versions.sh
version=${N8N_ENGINE_VERSION:-$N8N_OLDEST}
dir=${N8N_CACHE_DIR:-$HOME/.cache/n8n-nodes-m365-mail}/engine-n8n-$version
marker=$dir/.complete

if [[ ! -f $marker ]]; then
  t0=$(date +%s)
  rm -rf "$dir"
  mkdir -p "$dir"
  # N8N_NPM_OVERRIDES (versions.sh): xlsx from the npm registry for n8n < 2.32.
  echo "{\"name\":\"m365-mail-engine-n8n\",\"private\":true,\"overrides\":$N8N_NPM_OVERRIDES}" >"$dir/package.json"
  # The three at the versions n8n $version itself pins (n8n publishes them together).
  (cd "$dir" && bash "$OLDPWD/scripts/retry.sh" 900 npm install --no-audit --no-fund --ignore-scripts \
    --loglevel=error "n8n-core@$version" "n8n-workflow@$version" "n8n-nodes-base@$version")
  echo "n8n $version engine packages installed $(date -u +%FT%TZ) in $(($(date +%s) - t0)) s" >"$marker"
  echo "[engine-oldest] installed n8n-core/n8n-workflow/n8n-nodes-base $version in $(($(date +%s) - t0)) s"
fi
export N8N_ENGINE_DIR=$dir N8N_ENGINE_VERSION=$version
# Paths first: --selectProjects takes every word after it as a project name. --forceExit: n8n-core
# 2.0 leaves a handle open that jest cannot name, so an in-band run would never end (the `engine`
# project, on the current n8n-core, still runs without it and catches the package's own leaks).
exec npx jest "$@" --forceExit --selectProjects engine-oldest
