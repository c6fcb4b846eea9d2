#!/usr/bin/env bash
# The published tarball holds only what n8n needs: dist/, README, LICENSE, package.json; and
# `npm publish --dry-run` accepts it. Needs a build (npm run build) first.
set -euo pipefail
cd "$(dirname "$0")/.."
files=$(npm pack --dry-run --json 2>/dev/null | node -e 'const j=JSON.parse(require("fs").readFileSync(0,"utf8"));for(const f of j[0].files)console.log(f.path)')
echo "$files"
bad=$(echo "$files" | grep -vE '^(dist/|README\.md$|LICENSE$|package\.json$)' || true)
[ -z "$bad" ] || { echo "pack check: unexpected files in the tarball:"; echo "$bad"; exit 1; }
# Every file package.json's "n8n" section names (credentials, nodes), plus README and LICENSE.
needed=$(node -e 'const n=require("./package.json").n8n;console.log([...n.credentials,...n.nodes,"README.md","LICENSE"].join("\n"))')
for need in $needed; do
  echo "$files" | grep -qx "$need" || { echo "pack check: $need is missing"; exit 1; }
done
deps=$(node -e 'console.log(Object.keys(require("./package.json").dependencies||{}).join(" "))')
[ -z "$deps" ] || { echo "pack check: runtime dependencies are not allowed for community nodes: $deps"; exit 1; }
# What the publish workflow runs, without uploading: npm's own checks of package.json and the tarball.
out=$(npm publish --dry-run --provenance=false --access public 2>&1) || { echo "$out"; echo "pack check: npm publish --dry-run failed"; exit 1; }
echo "$out" | grep -E 'Publishing to|total files|package size' || true
echo "pack check: ok ($(echo "$files" | wc -l) files, no runtime dependencies, npm publish --dry-run passes)"
