#!/usr/bin/env bash
# Real mail stack on loopback for protocol tests: test IdP + Dovecot (3 instances) + Postfix.
#   test/stack/mailstack.sh install   apt-get install dovecot-imapd dovecot-submissiond postfix openssl (idempotent)
#   test/stack/mailstack.sh start     render configs into $MAILSTACK_DIR (default <repo>/.stack), start everything, wait for ports
#   test/stack/mailstack.sh stop      stop exactly what start started (PID files, never by name)
#   test/stack/mailstack.sh status    show what runs
#   test/stack/mailstack.sh env       print `export MAILSTACK_...` lines for tests:  eval "$(test/stack/mailstack.sh env)"
# Ports are overridable with the MAILSTACK_*_PORT variables below. Runs as root (or with sudo).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
STACK="${MAILSTACK_DIR:-$REPO/.stack}"

IDP_HOST=127.0.0.1
IDP_PORT="${MAILSTACK_IDP_PORT:-18080}"
IMAP_PORT="${MAILSTACK_IMAP_PORT:-10143}"                           # full: STARTTLS, XOAUTH2 + OAUTHBEARER
IMAPS_PORT="${MAILSTACK_IMAPS_PORT:-10993}"                         # full: implicit TLS
M365_IMAP_PORT="${MAILSTACK_M365_IMAP_PORT:-11143}"                 # m365: STARTTLS, AUTH=XOAUTH2 only
M365_IMAPS_PORT="${MAILSTACK_M365_IMAPS_PORT:-11993}"               # m365: implicit TLS
DOVECOT_SUBMISSION_PORT="${MAILSTACK_DOVECOT_SUBMISSION_PORT:-11587}" # Dovecot submission -> Postfix relay
SMTP_RELAY_PORT="${MAILSTACK_SMTP_RELAY_PORT:-11025}"               # Postfix, plain, no auth
SUBMISSION_PORT="${MAILSTACK_SUBMISSION_PORT:-12587}"               # Postfix, STARTTLS required + XOAUTH2
SMTPS_PORT="${MAILSTACK_SMTPS_PORT:-12465}"                         # Postfix, implicit TLS + XOAUTH2
BENCH_IMAPS_PORT="${MAILSTACK_BENCH_IMAPS_PORT:-13993}"             # bench: implicit TLS, password, bench mailbox only
IDP_URL="http://$IDP_HOST:$IDP_PORT"
CLIENTS_FILE="${MAILSTACK_IDP_CLIENTS:-$HERE/idp-clients.json}"
# npm run bench: n8n's Email Trigger (IMAP) logs in with this password on BENCH_IMAPS_PORT; the
# Microsoft 365 Mail Trigger watches BENCH_M365_USER over XOAUTH2 on the m365 instance.
BENCH_IMAP_USER=bench-imap@example.test
BENCH_IMAP_PASSWORD=bench-imap-password

PACKAGES=(dovecot-imapd dovecot-submissiond postfix openssl)
USERS=(alice@example.test bob@example.test carol@example.test reports@example.test shared@example.test bench-m365@example.test "$BENCH_IMAP_USER")
ALL_PORTS=("$IDP_PORT" "$IMAP_PORT" "$IMAPS_PORT" "$M365_IMAP_PORT" "$M365_IMAPS_PORT" "$DOVECOT_SUBMISSION_PORT" "$SMTP_RELAY_PORT" "$SUBMISSION_PORT" "$SMTPS_PORT" "$BENCH_IMAPS_PORT")
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"

say() { echo "[mailstack] $*"; }
die() { echo "[mailstack] ERROR: $*" >&2; exit 1; }

missing_packages() {
  local p
  for p in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed$' || echo "$p"
  done
}

cmd_install() {
  local missing
  missing="$(missing_packages | tr '\n' ' ')"
  if [ -z "${missing// /}" ]; then say "packages already installed: ${PACKAGES[*]}"; return 0; fi
  say "installing: $missing"
  echo "postfix postfix/main_mailer_type select No configuration" | $SUDO debconf-set-selections
  # keep apt from starting system-wide daemons on 25/143/993; this stack runs its own instances
  local policy=/usr/sbin/policy-rc.d added_policy=""
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$policy" >/dev/null && $SUDO chmod 755 "$policy" && added_policy=1
  fi
  export DEBIAN_FRONTEND=noninteractive
  # shellcheck disable=SC2086
  if ! $SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null 2>&1; then
    say "apt-get update (package lists missing or stale)"
    $SUDO apt-get update -qq
    # shellcheck disable=SC2086
    $SUDO apt-get install -y -qq --no-install-recommends $missing
  fi
  [ -z "$added_policy" ] || $SUDO rm -f "$policy"
  [ -z "$(missing_packages)" ] || die "still missing: $(missing_packages | tr '\n' ' ')"
  say "installed: $(dovecot --version | cut -d' ' -f1) dovecot, postfix $(postconf -d -h mail_version 2>/dev/null)"
}

render() { # template -> destination, substituting @VARS@
  sed -e "s|@STACK@|$STACK|g" -e "s|@IDP_URL@|$IDP_URL|g" \
      -e "s|@IMAP_PORT@|$IMAP_PORT|g" -e "s|@IMAPS_PORT@|$IMAPS_PORT|g" \
      -e "s|@M365_IMAP_PORT@|$M365_IMAP_PORT|g" -e "s|@M365_IMAPS_PORT@|$M365_IMAPS_PORT|g" \
      -e "s|@DOVECOT_SUBMISSION_PORT@|$DOVECOT_SUBMISSION_PORT|g" -e "s|@SMTP_RELAY_PORT@|$SMTP_RELAY_PORT|g" \
      -e "s|@SUBMISSION_PORT@|$SUBMISSION_PORT|g" -e "s|@SMTPS_PORT@|$SMTPS_PORT|g" \
      -e "s|@BENCH_IMAPS_PORT@|$BENCH_IMAPS_PORT|g" -e "s|@BENCH_IMAP_USER@|$BENCH_IMAP_USER|g" \
      -e "s|@BENCH_IMAP_PASSWORD@|$BENCH_IMAP_PASSWORD|g" "$1" > "$2"
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
pid_alive() { [ -s "$1" ] && kill -0 "$(head -1 "$1" | tr -d ' ')" 2>/dev/null; }

wait_ports() { # wait_ports <seconds> port...
  local deadline=$((SECONDS + $1)) port; shift
  for port in "$@"; do
    until port_open "$port"; do
      [ $SECONDS -lt $deadline ] || return 1
      sleep 0.2
    done
  done
}

make_certs() {
  local c="$STACK/certs"
  [ -s "$c/server.pem" ] && [ -s "$c/ca.pem" ] && return 0
  mkdir -p "$c"
  openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=n8n-nodes-m365-mail test CA" \
    -keyout "$c/ca.key" -out "$c/ca.pem" 2>/dev/null
  openssl req -newkey rsa:2048 -nodes -subj "/CN=mail.example.test" -keyout "$c/server.key" -out "$c/server.csr" 2>/dev/null
  printf 'subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:mail.example.test\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n' > "$c/server.ext"
  openssl x509 -req -in "$c/server.csr" -CA "$c/ca.pem" -CAkey "$c/ca.key" -CAcreateserial -days 3650 \
    -extfile "$c/server.ext" -out "$c/server.pem" 2>/dev/null
  chmod 644 "$c/ca.pem" "$c/server.pem"; chmod 600 "$c/ca.key" "$c/server.key"
}

render_configs() {
  mkdir -p "$STACK"/dovecot/{full,m365,bench} "$STACK"/postfix/{etc,data,spool} "$STACK/mail"
  render "$HERE/dovecot/common.conf.tmpl" "$STACK/dovecot/common.conf"
  render "$HERE/dovecot/oauth2.conf.ext.tmpl" "$STACK/dovecot/oauth2.conf.ext"
  render "$HERE/dovecot/oauth2-shared.conf.ext.tmpl" "$STACK/dovecot/oauth2-shared.conf.ext"
  render "$HERE/dovecot/oauth2-passdbs.conf.tmpl" "$STACK/dovecot/oauth2-passdbs.conf"
  render "$HERE/dovecot/full.conf.tmpl" "$STACK/dovecot/full/dovecot.conf"
  render "$HERE/dovecot/m365.conf.tmpl" "$STACK/dovecot/m365/dovecot.conf"
  render "$HERE/dovecot/bench.conf.tmpl" "$STACK/dovecot/bench/dovecot.conf"
  render "$HERE/postfix/main.cf.tmpl" "$STACK/postfix/etc/main.cf"
  render "$HERE/postfix/master.cf.tmpl" "$STACK/postfix/etc/master.cf"
  cp "$HERE/postfix/virtual_mailboxes" "$HERE/postfix/sender_logins" "$STACK/postfix/etc/"
  local u
  for u in "${USERS[@]}"; do mkdir -p "$STACK/mail/$u/Maildir"/{cur,new,tmp}; done
  chown -R 65534:65534 "$STACK/mail"
  chown postfix "$STACK/postfix/data"
}

# The IdP CLI runs with tsx when the project has it, else compiled once with tsc.
idp_command() {
  if [ -d "$REPO/node_modules/tsx" ]; then
    echo "node --import tsx $HERE/idp-cli.ts"
  elif [ -x "$REPO/node_modules/.bin/tsc" ]; then
    "$REPO/node_modules/.bin/tsc" --outDir "$STACK/idp-build" --rootDir "$HERE" --module commonjs --target es2022 \
      --strict --skipLibCheck --types node --typeRoots "$REPO/node_modules/@types" "$HERE/idp-cli.ts" >&2 \
      || die "tsc could not compile the IdP"
    echo "node $STACK/idp-build/idp-cli.js"
  else
    die "node_modules missing: run npm install (needs typescript or tsx)"
  fi
}

start_idp() {
  if pid_alive "$STACK/idp.pid"; then say "idp already running (pid $(cat "$STACK/idp.pid"))"; return 0; fi
  port_open "$IDP_PORT" && die "port $IDP_PORT is taken by something this script did not start"
  local cmd; cmd="$(idp_command)"
  # shellcheck disable=SC2086
  (cd "$REPO" && exec nohup $cmd --host "$IDP_HOST" --port "$IDP_PORT" --clients "$CLIENTS_FILE" \
      --pid-file "$STACK/idp.pid" --verbose >> "$STACK/idp.log" 2>&1 < /dev/null) &
  echo $! > "$STACK/idp.pid"
  wait_ports 20 "$IDP_PORT" || { tail -20 "$STACK/idp.log" >&2; die "idp did not listen on $IDP_PORT"; }
}

start_dovecot() { # instance
  local conf="$STACK/dovecot/$1/dovecot.conf"
  if pid_alive "$STACK/dovecot/$1/run/master.pid"; then say "dovecot $1 already running"; return 0; fi
  dovecot -c "$conf" -n > /dev/null || die "dovecot $1: invalid config $conf"
  # no inherited stdio: a caller waiting for our output (spawnSync, $(...)) must not wait for daemons
  if ! dovecot -c "$conf" < /dev/null > "$STACK/dovecot/$1/start.out" 2>&1; then
    cat "$STACK/dovecot/$1/start.out" >&2; tail -20 "$STACK/dovecot/$1/dovecot.log" >&2 2>/dev/null || true
    die "dovecot $1 did not start"
  fi
}

start_postfix() {
  if postfix -c "$STACK/postfix/etc" status >/dev/null 2>&1; then say "postfix already running"; return 0; fi
  # `postfix start` exits 1 without a word on config errors; `script` makes it talk
  if ! script -qec "postfix -c $STACK/postfix/etc start" /dev/null < /dev/null > "$STACK/postfix/start.out" 2>&1; then
    cat "$STACK/postfix/start.out" >&2; tail -20 "$STACK/postfix/postfix.log" >&2 2>/dev/null || true
    die "postfix did not start"
  fi
}

cmd_start() {
  [ -z "$(missing_packages)" ] || die "packages missing ($(missing_packages | tr '\n' ' ')): run $0 install"
  mkdir -p "$STACK"
  make_certs
  render_configs
  start_idp
  start_dovecot full
  start_dovecot m365
  start_dovecot bench
  start_postfix
  wait_ports 30 "${ALL_PORTS[@]}" || { cmd_status >&2; die "not every port accepts connections"; }
  say "up in $STACK"
  print_ports
}

print_ports() {
  cat <<EOF
[mailstack] IdP (Entra-like)         $IDP_URL   admin $IDP_URL/_admin/
[mailstack] IMAP full (XOAUTH2+OAUTHBEARER, QUOTA)  STARTTLS 127.0.0.1:$IMAP_PORT   TLS 127.0.0.1:$IMAPS_PORT
[mailstack] IMAP m365 (AUTH=XOAUTH2 only, QUOTA)    STARTTLS 127.0.0.1:$M365_IMAP_PORT   TLS 127.0.0.1:$M365_IMAPS_PORT
[mailstack] SMTP Postfix submission (XOAUTH2)       STARTTLS 127.0.0.1:$SUBMISSION_PORT   TLS 127.0.0.1:$SMTPS_PORT
[mailstack] SMTP Dovecot submission (XOAUTH2)       STARTTLS 127.0.0.1:$DOVECOT_SUBMISSION_PORT
[mailstack] SMTP Postfix relay (no auth, plain)              127.0.0.1:$SMTP_RELAY_PORT
[mailstack] IMAP bench (password, $BENCH_IMAP_USER only)  TLS 127.0.0.1:$BENCH_IMAPS_PORT
[mailstack] CA certificate           $STACK/certs/ca.pem
EOF
}

stop_pid() { # name pidfile
  local pid
  pid_alive "$2" || { rm -f "$2"; return 0; }
  pid="$(head -1 "$2" | tr -d ' ')"
  kill "$pid" 2>/dev/null || true
  for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -0 "$pid" 2>/dev/null && { say "$1 (pid $pid) ignores SIGTERM, sending SIGKILL"; kill -9 "$pid" 2>/dev/null || true; }
  rm -f "$2"
  say "stopped $1 (pid $pid)"
}

cmd_stop() {
  [ -d "$STACK" ] || { say "nothing to stop ($STACK does not exist)"; return 0; }
  if [ -f "$STACK/postfix/etc/main.cf" ] && postfix -c "$STACK/postfix/etc" status >/dev/null 2>&1; then
    postfix -c "$STACK/postfix/etc" stop >/dev/null 2>&1 && say "stopped postfix"
  fi
  stop_pid "dovecot bench" "$STACK/dovecot/bench/run/master.pid"
  stop_pid "dovecot m365" "$STACK/dovecot/m365/run/master.pid"
  stop_pid "dovecot full" "$STACK/dovecot/full/run/master.pid"
  stop_pid idp "$STACK/idp.pid"
  local port open=()
  for _ in $(seq 50); do
    open=(); for port in "${ALL_PORTS[@]}"; do port_open "$port" && open+=("$port"); done
    [ ${#open[@]} -eq 0 ] && break; sleep 0.2
  done
  [ ${#open[@]} -eq 0 ] && say "all mailstack ports closed" || say "still open: ${open[*]}"
}

# Stops one Dovecot instance (SIGTERM: its IMAP sessions are cut, as in a server restart) and starts it again.
cmd_restart_dovecot() {
  case "$1" in m365|full) ;; *) die "restart-dovecot: m365 or full, not '$1'" ;; esac
  stop_pid "dovecot $1" "$STACK/dovecot/$1/run/master.pid"
  start_dovecot "$1"
  wait_ports 30 "${ALL_PORTS[@]}" || { cmd_status >&2; die "dovecot $1 did not come back"; }
  say "dovecot $1 restarted"
}

cmd_status() {
  local rc=0 name file port
  for name in idp:idp.pid "dovecot full:dovecot/full/run/master.pid" "dovecot m365:dovecot/m365/run/master.pid" "dovecot bench:dovecot/bench/run/master.pid" \
              postfix:postfix/spool/pid/master.pid; do
    file="$STACK/${name#*:}"
    if pid_alive "$file"; then echo "${name%%:*}: running (pid $(head -1 "$file" | tr -d ' '))"; else echo "${name%%:*}: stopped"; rc=1; fi
  done
  for port in "${ALL_PORTS[@]}"; do port_open "$port" && echo "port $port: open" || { echo "port $port: closed"; rc=1; }; done
  return $rc
}

cmd_env() {
  cat <<EOF
export MAILSTACK_DIR='$STACK'
export MAILSTACK_CA='$STACK/certs/ca.pem'
export MAILSTACK_IDP_URL='$IDP_URL'
export MAILSTACK_IDP_ADMIN_URL='$IDP_URL/_admin'
export MAILSTACK_IDP_TOKEN_URL='$IDP_URL/test-tenant/oauth2/v2.0/token'
export MAILSTACK_IDP_AUTHORIZE_URL='$IDP_URL/test-tenant/oauth2/v2.0/authorize'
export MAILSTACK_IDP_CLIENTS='$CLIENTS_FILE'
export MAILSTACK_IMAP_PORT=$IMAP_PORT
export MAILSTACK_IMAPS_PORT=$IMAPS_PORT
export MAILSTACK_M365_IMAP_PORT=$M365_IMAP_PORT
export MAILSTACK_M365_IMAPS_PORT=$M365_IMAPS_PORT
export MAILSTACK_SUBMISSION_PORT=$SUBMISSION_PORT
export MAILSTACK_SMTPS_PORT=$SMTPS_PORT
export MAILSTACK_DOVECOT_SUBMISSION_PORT=$DOVECOT_SUBMISSION_PORT
export MAILSTACK_SMTP_RELAY_PORT=$SMTP_RELAY_PORT
export MAILSTACK_BENCH_IMAPS_PORT=$BENCH_IMAPS_PORT
EOF
}

case "${1:-}" in
  install) cmd_install ;;
  start) cmd_start ;;
  stop) cmd_stop ;;
  restart) cmd_stop; cmd_start ;;
  restart-dovecot) cmd_restart_dovecot "${2:-m365}" ;;
  status) cmd_status ;;
  env) cmd_env ;;
  *) echo "usage: $0 install|start|stop|restart|restart-dovecot [m365|full]|status|env" >&2; exit 2 ;;
esac
