#!/usr/bin/env bash
# The published tarball holds only what n8n needs: dist/, README, LICENSE, package.json.
set -euo pipefail
cd "$(dirname "$0")/.."
files=$(npm pack --dry-run --json 2>/dev/null | node -e 'const j=JSON.parse(require("fs").readFileSync(0,"utf8"));for(const f of j[0].files)console.log(f.path)')
echo "$files"
bad=$(echo "$files" | grep -vE '^(dist/|README\.md$|LICENSE$|package\.json$)' || true)
[ -z "$bad" ] || { echo "pack check: unexpected files in the tarball:"; echo "$bad"; exit 1; }
for need in dist/credentials/MicrosoftMailOAuth2Api.credentials.js dist/nodes/SendReportEmail/SendReportEmail.node.js dist/nodes/VerifyMailbox/VerifyMailbox.node.js README.md LICENSE; do
  echo "$files" | grep -qx "$need" || { echo "pack check: $need is missing"; exit 1; }
done
deps=$(node -e 'console.log(Object.keys(require("./package.json").dependencies||{}).join(" "))')
[ -z "$deps" ] || { echo "pack check: runtime dependencies are not allowed for community nodes: $deps"; exit 1; }
echo "pack check: ok ($(echo "$files" | wc -l) files, no runtime dependencies)"
