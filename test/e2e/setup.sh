#!/usr/bin/env bash
# What the end-to-end tier needs from Debian besides n8n (test/n8n/n8n.sh install) and the mail
# stack (test/stack/mailstack.sh install): the `chromium` package for the browser test.
# Idempotent; needs root (or sudo) only when something is missing.
set -euo pipefail
CHROMIUM="${CHROMIUM_PATH:-/usr/bin/chromium}"
if [ -x "$CHROMIUM" ]; then
  echo "[e2e-setup] $("$CHROMIUM" --version 2>/dev/null || echo "$CHROMIUM") present"
  exit 0
fi
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
echo "[e2e-setup] installing Debian's chromium (apt-get install -y chromium)"
$SUDO apt-get install -y chromium >/dev/null || { $SUDO apt-get update >/dev/null && $SUDO apt-get install -y chromium >/dev/null; }
[ -x "$CHROMIUM" ] || { echo "[e2e-setup] ERROR: $CHROMIUM still missing after apt-get" >&2; exit 1; }
echo "[e2e-setup] $("$CHROMIUM" --version) installed"
