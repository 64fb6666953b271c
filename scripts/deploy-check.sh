#!/usr/bin/env bash
# Deploy LighterWeb on this machine exactly as deploy/README.md says, then check the result.
#
#   sudo scripts/deploy-check.sh [--proxy caddy|nginx] [--venv PATH] [--ws-seconds N] [--keep]
#
# It clones this repository's HEAD (committed work only) into an empty scratch directory and
# runs deploy/README.md's marked blocks as written, with its own names (a throwaway service
# user and PostgreSQL database, paths under the scratch directory, free loopback ports):
# PostgreSQL role and database, service user, clone, venv, env file, release, admin, units,
# proxy, paper provisioning. `systemctl` and `certbot` lines are skipped (no systemd and no
# public name here): the units are checked with `systemd-analyze verify`, the processes run from
# Procfile.paper under honcho as the service user, and the proxy (Caddy, or nginx with
# --proxy nginx; installed with apt-get when missing) runs in the foreground with a local
# certificate (Caddy's internal CA; a self-signed one for nginx). Its own Redis runs on a free
# port. Then it checks: /healthz 200 on loopback, admin login over HTTPS, static files from the
# proxy, a dashboard websocket over wss open 30 s, a paper bot that trades, SIGTERM stopping
# every process in time with no orphan, and a restart resuming the bot. Timings at the end.
#
# Options: --proxy (caddy), --venv PATH reuse that virtualenv instead of step 6's fresh one
# (offline; the clone's code still runs, every command is `python -m`/`manage.py` from it),
# --ws-seconds (30), --keep (leave the scratch directory). Environment: PGHOST (127.0.0.1),
# PGUSER (postgres), PGPORT, PGPASSWORD reach a PostgreSQL that may create roles and databases.
# Exit status: 0 passed, 1 failed, 77 skipped (not root, no PostgreSQL, no proxy to be had).
set -Eeuo pipefail

SRC_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PROXY=caddy
REUSE_VENV=""
WS_SECONDS=30
KEEP=0
while [[ $# -gt 0 ]]; do
    case "$1" in
        --proxy) PROXY="$2"; shift 2 ;;
        --venv) REUSE_VENV="$(cd "$2" && pwd)"; shift 2 ;;
        --ws-seconds) WS_SECONDS="$2"; shift 2 ;;
        --keep) KEEP=1; shift ;;
        -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"
            exit 0 ;;
        *) echo "unknown option: $1" >&2; exit 2 ;;
    esac
done
[[ "$PROXY" == caddy || "$PROXY" == nginx ]] || { echo "--proxy caddy or nginx" >&2; exit 2; }

SKIPPED=77
STOP_TIMEOUT_S=30          # the workers' TimeoutStopSec in deploy/systemd/
T0="$(date +%s.%N)"
since() { python3 -c "import sys,time; print(f'{time.time() - float(sys.argv[1]):.1f}')" "$1"; }
step() { printf '\033[1m==> [%5ss] %s\033[0m\n' "$(since "$T0")" "$*"; }
fail() { trap - ERR; printf '\033[1;31mFAIL %s\033[0m\n' "$*" >&2; exit 1; }
skip() { printf 'deploy check skipped: %s\n' "$*" >&2; exit "$SKIPPED"; }
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# -- what this machine must offer ---------------------------------------------------------------
[[ "$(id -u)" == 0 ]] || skip "needs root (a service user, packages, other users' processes)"
APT_UPDATED=0
for tool in git python3 openssl setpriv useradd userdel; do
    command -v "$tool" >/dev/null || skip "$tool is not installed"
done
export PGHOST="${PGHOST:-127.0.0.1}" PGUSER="${PGUSER:-postgres}"
if ! command -v psql >/dev/null && command -v apt-get >/dev/null; then
    apt-get update -qq >/dev/null && APT_UPDATED=1
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql-client >/dev/null || true
fi
command -v psql >/dev/null || skip "psql is not installed"
psql -Atqc 'SELECT 1' >/dev/null 2>&1 || skip "no PostgreSQL at $PGUSER@$PGHOST"
if ! command -v "$PROXY" >/dev/null; then
    command -v apt-get >/dev/null || skip "$PROXY is not installed and there is no apt-get"
    step "apt-get install $PROXY (step 1's package)"
    [[ "$APT_UPDATED" == 1 ]] || apt-get update -qq >/dev/null ||
        skip "apt-get update failed (no network?)"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$PROXY" >/dev/null ||
        skip "apt-get install $PROXY failed"
    # The package may start its default site where systemd runs; this check uses its own.
fi
if [[ -n "$(git -C "$SRC_ROOT" status --porcelain --untracked-files=no)" ]]; then
    echo "note: uncommitted changes in $SRC_ROOT are not part of the clone" >&2
fi

# -- the names of step 0, for this machine ------------------------------------------------------
CHECK="$(mktemp -d /tmp/lighterweb-deploy-check.XXXXXX)"
chmod 0755 "$CHECK"
SITE=localhost
APP="$CHECK/srv/lighterweb"
APP_USER="lwcheck$$"
DB_NAME="lwcheck_$$"
LW_ENV="$CHECK/etc/lighterweb.env"
WEB_PORT="$(free_port)"
REPO_URL="$CHECK/lighterweb.git"
NAMES="SITE APP APP_USER DB_NAME LW_ENV WEB_PORT REPO_URL"
HTTPS_PORT="$(free_port)"
HTTP_PORT="$(free_port)"
SIM_PORT="$(free_port)"
REDIS_PORT="$(free_port)"
ADMIN_PASSWORD="$(openssl rand -hex 12)"
BASE="https://$SITE:$HTTPS_PORT"
README="$(git -C "$SRC_ROOT" show HEAD:deploy/README.md)"

PIDS=()
HONCHO_PID=""
cleanup() {
    local status=$?
    trap - ERR
    set +e
    [[ -n "$HONCHO_PID" ]] && kill -TERM "$HONCHO_PID" 2>/dev/null && wait "$HONCHO_PID" 2>/dev/null
    pkill -KILL -u "$APP_USER" 2>/dev/null
    local cleanup_started
    cleanup_started="$(date +%s.%N)"
    cd /  # the blocks cd'ed into the checkout, which goes away below
    for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null; done
    for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null; done
    psql -qc "DROP DATABASE IF EXISTS $DB_NAME WITH (FORCE)" >/dev/null 2>&1
    psql -qc "DROP ROLE IF EXISTS $DB_NAME" >/dev/null 2>&1
    id "$APP_USER" >/dev/null 2>&1 && userdel "$APP_USER" 2>/dev/null
    if [[ "$KEEP" == 1 || "$status" != 0 ]]; then
        echo "scratch directory kept: $CHECK (logs: $CHECK/*.log)" >&2
    else
        rm -rf "$CHECK"
    fi
    echo "cleanup: proxy and Redis stopped; database, role and user $APP_USER removed" \
        "($(since "$cleanup_started")s)"
    exit "$status"
}
trap cleanup EXIT
trap 'printf "\033[1;31mFAIL: line %s: %s\033[0m\n" "$LINENO" "$BASH_COMMAND" >&2' ERR
trap 'exit 130' INT TERM

# `sudo -u USER cmd` of the README, without sudo: setpriv as that user, with sudo's secure_path
# and HOME (the caller's other variables pass, as with `sudo -E`).
SECURE_PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
sudo() {
    local user=root
    while [[ $# -gt 0 ]]; do
        case "$1" in
            -u) user="$2"; shift 2 ;;
            -*) shift ;;
            *) break ;;
        esac
    done
    if [[ "$user" == root ]] || ! id "$user" >/dev/null 2>&1; then
        PATH="$SECURE_PATH" "$@"
    else
        HOME="$(getent passwd "$user" | cut -d: -f6)" PATH="$SECURE_PATH" \
            setpriv --reuid="$user" --regid="$user" --init-groups -- "$@"
    fi
}

# The fenced block after `<!-- deploy-check: NAME -->`, continuation lines joined.
block() {
    awk -v marker="<!-- deploy-check: $1 -->" '
        $0 == marker { found = 1; next }
        found && /^```/ { if (inside) exit; inside = 1; next }
        inside { print }
    ' <<<"$README" | sed -e ':a' -e '/\\$/N; s/\\\n[[:space:]]*/ /; ta'
}

# Run block NAME as written, with /etc paths of other packages moved into the scratch directory
# and the lines this machine cannot run (systemctl, certbot) reported and skipped.
run_block() {
    local name="$1" text line
    text="$(block "$name")"
    [[ -n "$text" ]] || fail "deploy/README.md has no block marked deploy-check: $name"
    text="$(sed -e "s#/etc/systemd/system#$CHECK/systemd#g" -e "s#/etc/caddy#$CHECK/caddy#g" \
        -e "s#/etc/nginx#$CHECK/nginx#g" <<<"$text")"
    while IFS= read -r line; do
        if [[ "$line" =~ (^|[[:space:]&])(systemctl|certbot)[[:space:]] ]]; then
            printf '    skipped here: %s\n' "$line"
            text="$(grep -vxF -- "$line" <<<"$text")"
        fi
    done <<<"$text"
    printf '%s\n' "$text" | sed 's/^/    $ /'
    eval "$text"
}

step "scratch directory $CHECK; README names: $NAMES"
readme_names="$(block names | sed -n 's/^\([A-Z_]*\)=.*/\1/p' | tr '\n' ' ' | sed 's/ $//')"
[[ "$readme_names" == "$NAMES" ]] || fail "step 0 names ($readme_names) are not this check's ($NAMES)"
mkdir -p "$CHECK/etc" "$CHECK/systemd" "$CHECK/caddy" "$CHECK/nginx/sites-available" \
    "$CHECK/nginx/sites-enabled"
git clone -q --bare "$SRC_ROOT" "$REPO_URL"

step "2. PostgreSQL role and database"
run_block postgres
step "4. service user"
run_block user
chown -R "$APP_USER:$APP_USER" "$REPO_URL"
step "5. clone"
run_block clone
step "6. virtualenv"
if [[ -n "$REUSE_VENV" ]]; then
    echo "    (reusing $REUSE_VENV instead: --venv)"
    sudo -u "$APP_USER" ln -s "$REUSE_VENV" .venv
else
    run_block venv
fi
T_VENV="$(since "$T0")"

step "own Redis on 127.0.0.1:$REDIS_PORT"
REDIS_SERVER="$(command -v redis-server || echo "$APP/.venv/bin/redis-server")"
mkdir -p "$CHECK/redis"
"$REDIS_SERVER" --bind 127.0.0.1 --port "$REDIS_PORT" --save '' --appendonly no \
    --dir "$CHECK/redis" >"$CHECK/redis.log" 2>&1 &
PIDS+=($!)

step "7. env file"
run_block env
cat >>"$LW_ENV" <<EOF
# deploy-check: this machine's ports (later lines win in every reader of this file)
DATABASE_URL=postgres://$DB_NAME:$DB_PASSWORD@$PGHOST:${PGPORT:-5432}/$DB_NAME
REDIS_URL=redis://127.0.0.1:$REDIS_PORT/0
CSRF_TRUSTED_ORIGINS=$BASE
LIGHTER_PAPER_URL=http://127.0.0.1:$SIM_PORT
SIM_PORT=$SIM_PORT
# The probe logs the admin in without a phone for a TOTP code; a real server keeps 2FA on (the
# default with DEBUG=false) and the admin sets it up at the first login (deploy/README.md).
REQUIRE_2FA=false
EOF
[[ "$(stat -c '%a %U' "$LW_ENV")" == "600 $APP_USER" ]] || fail "$LW_ENV is not 0600 $APP_USER"

step "8. release"
run_block release
step "9. admin user"
run_block admin

step "10. systemd units"
run_block units
if command -v systemd-analyze >/dev/null; then
    verify="$(systemd-analyze verify "$CHECK"/systemd/lighterweb* 2>&1 || true)"
    [[ -z "$verify" ]] || fail "systemd-analyze verify: $verify"
    echo "    systemd-analyze verify: no findings ($(ls "$CHECK"/systemd | wc -l) units)"
else
    echo "    systemd-analyze is not installed: units not verified"
fi

step "11. proxy: $PROXY"
run_block "$PROXY"
if [[ "$PROXY" == caddy ]]; then
    # Global options for a shared machine: loopback only, free ports, no admin endpoint, the
    # local CA kept in the scratch directory and not added to the system's trust store.
    { printf '{\n\tadmin off\n\tdefault_bind 127.0.0.1\n\thttp_port %s\n\thttps_port %s\n' \
        "$HTTP_PORT" "$HTTPS_PORT"
      printf '\tskip_install_trust\n\tstorage file_system %s\n}\n\n' "$CHECK/caddy/data"
      cat "$CHECK/caddy/Caddyfile"; } >"$CHECK/caddy/Caddyfile.check"
    caddy run --adapter caddyfile --config "$CHECK/caddy/Caddyfile.check" \
        >"$CHECK/caddy.log" 2>&1 &
    PIDS+=($!)
    CAFILE="$CHECK/caddy/data/pki/authorities/local/root.crt"
else
    live="$CHECK/letsencrypt/live/$SITE"
    mkdir -p "$live"
    openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=$SITE" \
        -addext "subjectAltName=DNS:$SITE" -keyout "$live/privkey.pem" \
        -out "$live/fullchain.pem" 2>/dev/null
    sed -i -e "s#/etc/letsencrypt#$CHECK/letsencrypt#g" \
        -e "s/listen 80;/listen 127.0.0.1:$HTTP_PORT;/" -e '/listen \[::\]/d' \
        -e "s/listen 443 ssl http2;/listen 127.0.0.1:$HTTPS_PORT ssl http2;/" \
        "$CHECK/nginx/sites-available/lighterweb"
    cat >"$CHECK/nginx/nginx.conf" <<EOF
pid $CHECK/nginx/nginx.pid;
error_log $CHECK/nginx/error.log;
events {}
http {
    include /etc/nginx/mime.types;
    access_log $CHECK/nginx/access.log;
    include $CHECK/nginx/sites-enabled/*;
}
EOF
    nginx -t -q -c "$CHECK/nginx/nginx.conf" || fail "nginx -t"
    nginx -c "$CHECK/nginx/nginx.conf" -g 'daemon off;' >"$CHECK/nginx.log" 2>&1 &
    PIDS+=($!)
    CAFILE="$live/fullchain.pem"
fi

PROXY_VERSION="$( { if [[ "$PROXY" == caddy ]]; then caddy version; else nginx -v; fi; } 2>&1 | head -1)"

step "13. paper trading: provision_paper"
run_block paper

start_processes() {
    # The README's honcho line, as the service user; setpriv execs, so this PID is honcho's.
    HOME="$APP" PATH="$SECURE_PATH" setpriv --reuid="$APP_USER" --regid="$APP_USER" \
        --init-groups -- .venv/bin/honcho --no-colour -f Procfile.paper start \
        >>"$CHECK/honcho.log" 2>&1 &
    HONCHO_PID=$!
    python3 - "$BASE" "$CAFILE" <<'PY' || fail "the proxy does not answer $BASE (logs in $CHECK)"
import os, ssl, sys, time, urllib.error, urllib.request

deadline = time.monotonic() + 60
while True:
    try:
        if os.path.exists(sys.argv[2]):
            urllib.request.urlopen(sys.argv[1] + "/healthz", timeout=2,
                                   context=ssl.create_default_context(cafile=sys.argv[2]))
        else:
            raise OSError("no CA yet")
        break
    except urllib.error.HTTPError:
        break  # TLS works; the site answered (503 while it starts)
    except OSError:
        if time.monotonic() > deadline:
            sys.exit(1)
        time.sleep(0.5)
PY
    .venv/bin/python -m lighterweb.wait_healthy "http://127.0.0.1:$WEB_PORT/healthz" \
        --timeout 150 --watch-pid "$HONCHO_PID" ||
        { tail -40 "$CHECK/honcho.log" >&2; fail "not healthy (honcho log: $CHECK/honcho.log)"; }
}

# Every process of the service user is a descendant of honcho: none may outlive it.
stop_processes() {
    local pids started
    pids="$(pgrep -u "$APP_USER" | tr '\n' ' ')"
    started="$(date +%s.%N)"
    kill -TERM "$HONCHO_PID"
    # A watchdog instead of a polling loop: `wait` returns when honcho exits.
    (sleep "$STOP_TIMEOUT_S"; kill -KILL "$HONCHO_PID" 2>/dev/null) &
    local watchdog=$!
    wait "$HONCHO_PID" 2>/dev/null || true
    kill "$watchdog" 2>/dev/null || true
    wait "$watchdog" 2>/dev/null || true
    HONCHO_PID=""
    STOP_S="$(since "$started")"
    python3 -c 'import sys; sys.exit(float(sys.argv[1]) >= float(sys.argv[2]))' \
        "$STOP_S" "$STOP_TIMEOUT_S" || fail "honcho still ran ${STOP_TIMEOUT_S}s after SIGTERM"
    local left
    left="$(pgrep -u "$APP_USER" -a || true)"
    [[ -z "$left" ]] || fail "orphans after the stop: $left"
    echo "    SIGTERM: all $(wc -w <<<"$pids") processes gone in ${STOP_S}s, no orphan"
}

step "start Procfile.paper under honcho (as $APP_USER)"
start_processes
T_HEALTHY="$(since "$T0")"
echo "    /healthz ok at http://127.0.0.1:$WEB_PORT/healthz"

step "checks over HTTPS ($BASE)"
PROBE=(.venv/bin/python scripts/deploy_check.py)
"${PROBE[@]}" up --base "$BASE" --cafile "$CAFILE" --password "$ADMIN_PASSWORD" \
    --state "$CHECK/state.json" --app-url "http://127.0.0.1:$WEB_PORT" \
    --sim-url "http://127.0.0.1:$SIM_PORT" --static-root "$APP/staticfiles" \
    --ws-seconds "$WS_SECONDS" --t0 "$T0" || fail "checks over HTTPS"

step "SIGTERM to honcho"
stop_processes
STOP_FIRST="$STOP_S"

step "restart"
T_RESTART="$(date +%s.%N)"
start_processes
"${PROBE[@]}" resumed --base "$BASE" --cafile "$CAFILE" --password "$ADMIN_PASSWORD" \
    --state "$CHECK/state.json" --since "$T_RESTART" || fail "the bot did not resume"
RESUME_S="$(since "$T_RESTART")"

step "final stop"
stop_processes

step "passed"
cat <<EOF
    proxy                   $PROXY_VERSION
    venv ready              ${T_VENV}s after the start${REUSE_VENV:+ (reused)}
    healthy                 ${T_HEALTHY}s after the start
    zero to HTTPS login     $(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["login_since_start"])' "$CHECK/state.json")s
    stop (SIGTERM)          ${STOP_FIRST}s, then ${STOP_S}s (limit ${STOP_TIMEOUT_S}s)
    restart to bot resumed  ${RESUME_S}s
    total                   $(since "$T0")s
EOF
