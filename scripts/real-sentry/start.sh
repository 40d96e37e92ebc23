#!/usr/bin/env bash
# Install and start a real Sentry 23.7.1 on 127.0.0.1 for the end-to-end tests (no Docker).
#
#   bash scripts/real-sentry/start.sh    # install what is missing, start what is down
#   bash scripts/real-sentry/stop.sh     # stop what this script started (PID files only)
#
# Needs root on Debian 12 (apt, and PostgreSQL runs as the `postgres` user) and Python 3.8
# (pyenv: /root/.pyenv/versions/3.8*). Reaches only the Debian mirror and PyPI.
# Idempotent: a re-run reuses the install and data and restarts only what is not running.
#
# Pieces, all bound to 127.0.0.1:
#   PostgreSQL  :E2E_PG_PORT (5442)     own cluster in $ROOT/pgdata
#   Redis       :E2E_REDIS_PORT (6390)  no persistence
#   Snuba stub  :E2E_SNUBA_PORT (1228)  zero-row answers (snuba_stub.py)
#   Sentry web  :E2E_WEB_PORT (9100)    uwsgi http11 keep-alive, tasks run in-process
#
# Knobs: E2E_SENTRY_ROOT (default /var/tmp/sentry-release-e2e; not under /root, which the
# postgres user cannot enter), the ports above, E2E_PYTHON, E2E_ORG, E2E_TEAM, E2E_TOKEN,
# E2E_RO_TOKEN (64 hex chars), E2E_DB_DUMP (schema dump path; restored into an empty
# database instead of migrating, written after a migration unless E2E_SAVE_DUMP=0).
#
# Result: $ROOT/e2e.env with SENTRY_E2E_URL/_TOKEN/_RO_TOKEN/_ORG/_TEAM exports;
# phase timings in $ROOT/logs/timings.txt.
set -euo pipefail

SENTRY_VERSION=23.7.1   # newest `sentry` on PyPI; yanked, so it installs only with ==
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=${E2E_SENTRY_ROOT:-/var/tmp/sentry-release-e2e}
PG_PORT=${E2E_PG_PORT:-5442}
REDIS_PORT=${E2E_REDIS_PORT:-6390}
SNUBA_PORT=${E2E_SNUBA_PORT:-1228}
WEB_PORT=${E2E_WEB_PORT:-9100}
DB_DUMP=${E2E_DB_DUMP:-$ROOT/cache/sentry-$SENTRY_VERSION-schema.dump}
URL=http://127.0.0.1:$WEB_PORT
EXPORTS=$ROOT/e2e.env
VENV=$ROOT/venv
SENTRY=$VENV/bin/sentry
export SENTRY_CONF=$ROOT/conf

mkdir -p "$ROOT"/{run,logs,conf,files,redis,cache}
chmod 755 "$ROOT"
TIMINGS=$ROOT/logs/timings.txt
: > "$TIMINGS"
START_ALL=$(date +%s%N)

phase() { PHASE=$1; PHASE_START=$(date +%s%N); echo "==> $PHASE"; }
phase_done() {
  local ms=$(( ($(date +%s%N) - PHASE_START) / 1000000 ))
  printf '%-16s %4d.%01ds\n' "$PHASE" $((ms / 1000)) $((ms % 1000 / 100)) | tee -a "$TIMINGS"
}
alive() { [ -s "$ROOT/run/$1.pid" ] && kill -0 "$(cat "$ROOT/run/$1.pid")" 2>/dev/null; }
port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
fail() { echo "start.sh: $*" >&2; exit 1; }

install_os_packages() {
  local wanted="postgresql redis-server libxmlsec1-dev libxml2-dev pkg-config build-essential" missing=""
  for p in $wanted; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing="$missing $p"
  done
  [ -z "$missing" ] && return 0
  apt-get update -qq > "$ROOT/logs/apt.log" 2>&1
  # shellcheck disable=SC2086
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing \
    >> "$ROOT/logs/apt.log" 2>&1 || { tail -20 "$ROOT/logs/apt.log"; fail "apt-get install failed"; }
}

find_python38() {
  local candidate
  for candidate in "${E2E_PYTHON:-}" /root/.pyenv/versions/3.8*/bin/python3.8 "$(command -v python3.8 || true)"; do
    [ -n "$candidate" ] && [ -x "$candidate" ] && { echo "$candidate"; return 0; }
  done
  fail "Python 3.8 not found (set E2E_PYTHON)"
}

install_sentry() {
  "$SENTRY" --version 2>/dev/null | grep -q "$SENTRY_VERSION" && return 0
  local py38; py38=$(find_python38)
  rm -rf "$VENV"
  # uv resolves and downloads in parallel (~3x faster than pip here). It runs from its own
  # small venv so the Sentry venv stays exactly what Sentry needs.
  [ -x "$ROOT/uv/bin/uv" ] || { "$py38" -m venv "$ROOT/uv" &&
    "$ROOT/uv/bin/pip" install -q --disable-pip-version-check uv; } > "$ROOT/logs/install.log" 2>&1
  "$ROOT/uv/bin/uv" venv -q -p "$py38" "$VENV" >> "$ROOT/logs/install.log" 2>&1
  # Byte-compile now: without .pyc files every web start takes twice as long.
  "$ROOT/uv/bin/uv" pip install -q --compile-bytecode --python "$VENV/bin/python" \
    "sentry==$SENTRY_VERSION" >> "$ROOT/logs/install.log" 2>&1 \
    || { tail -30 "$ROOT/logs/install.log"; fail "installing sentry==$SENTRY_VERSION failed"; }
  "$SENTRY" --version
}

write_config() {
  cp "$HERE/sentry.conf.py" "$ROOT/conf/sentry.conf.py"
  cp "$HERE/snuba_stub.py" "$HERE/bootstrap.py" "$ROOT/"
  printf '{"pg_port": %d, "redis_port": %d, "snuba_port": %d, "web_port": %d}\n' \
    "$PG_PORT" "$REDIS_PORT" "$SNUBA_PORT" "$WEB_PORT" > "$ROOT/conf/local.json"
  cat > "$ROOT/conf/config.yml" <<EOF
mail.backend: 'dummy'
system.secret-key: 'sentry-release-e2e-loopback-only-$(hostname)-not-a-secret'
system.url-prefix: '$URL'
system.admin-email: 'admin@example.com'
auth.allow-registration: false
beacon.anonymous: true
redis.clusters:
  default:
    hosts:
      0:
        host: 127.0.0.1
        port: $REDIS_PORT
filestore.backend: 'filesystem'
filestore.options:
  location: '$ROOT/files'
EOF
}

PSQL() { psql -h 127.0.0.1 -p "$PG_PORT" -U postgres -v ON_ERROR_STOP=1 -qtA "$@"; }

start_postgres() {
  local bin; bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
  local data=$ROOT/pgdata sockets=$ROOT/run/pg
  mkdir -p "$sockets"; chown postgres:postgres "$sockets"
  if [ ! -s "$data/PG_VERSION" ]; then
    rm -rf "$data"; install -d -o postgres -g postgres -m 700 "$data"
    su postgres -c "$bin/initdb -D $data -U postgres --auth=trust -E UTF8 --locale=C.UTF-8" \
      > "$ROOT/logs/initdb.log" 2>&1 || fail "initdb failed, see $ROOT/logs/initdb.log"
  fi
  touch "$ROOT/logs/postgres.log"; chown postgres:postgres "$ROOT/logs/postgres.log"
  if ! su postgres -c "$bin/pg_ctl -D $data status" > /dev/null 2>&1; then
    port_busy "$PG_PORT" && fail "port $PG_PORT is taken by something else (set E2E_PG_PORT)"
    # Throwaway data: durability off makes migrations noticeably faster.
    su postgres -c "$bin/pg_ctl -D $data -l $ROOT/logs/postgres.log -w -t 60 start -o \
      '-c listen_addresses=127.0.0.1 -p $PG_PORT -k $sockets -c fsync=off \
       -c synchronous_commit=off -c full_page_writes=off'" > /dev/null
  fi
  head -1 "$data/postmaster.pid" > "$ROOT/run/postgres.pid"
  PSQL -c "select 1 from pg_roles where rolname = 'sentry'" | grep -q 1 ||
    PSQL -c "create role sentry login superuser password 'sentry'"
  PSQL -c "select 1 from pg_database where datname = 'sentry'" | grep -q 1 ||
    PSQL -c "create database sentry owner sentry"
}

start_redis_and_stub() {
  if ! alive redis; then
    port_busy "$REDIS_PORT" && fail "port $REDIS_PORT is taken by something else (set E2E_REDIS_PORT)"
    redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --dir "$ROOT/redis" --save '' \
      --appendonly no --daemonize yes --pidfile "$ROOT/run/redis.pid" --logfile "$ROOT/logs/redis.log"
    for _ in $(seq 50); do redis-cli -p "$REDIS_PORT" ping 2> /dev/null | grep -q PONG && break; sleep 0.1; done
  fi
  if ! alive snuba_stub; then
    port_busy "$SNUBA_PORT" && fail "port $SNUBA_PORT is taken by something else (set E2E_SNUBA_PORT)"
    setsid "$VENV/bin/python" "$ROOT/snuba_stub.py" "$SNUBA_PORT" > "$ROOT/logs/snuba_stub.log" 2>&1 < /dev/null &
    echo $! > "$ROOT/run/snuba_stub.pid"
  fi
}

prepare_schema() {
  local tables
  tables=$(PSQL -d sentry -c "select count(*) from information_schema.tables where table_schema = 'public'")
  [ "$tables" != 0 ] && { echo "schema present"; return 0; }
  if [ -s "$DB_DUMP" ]; then
    PHASE=restore-dump
    pg_restore -h 127.0.0.1 -p "$PG_PORT" -U sentry -d sentry --no-owner -j 2 "$DB_DUMP"
    return 0
  fi
  "$SENTRY" upgrade --noinput > "$ROOT/logs/upgrade.log" 2>&1 \
    || { tail -40 "$ROOT/logs/upgrade.log"; fail "sentry upgrade failed"; }
  # Saved before any user or token exists, so the dump is safe to cache (e.g. in CI).
  if [ "${E2E_SAVE_DUMP:-1}" != 0 ]; then
    pg_dump -h 127.0.0.1 -p "$PG_PORT" -U sentry -Fc -f "$DB_DUMP.tmp" sentry && mv "$DB_DUMP.tmp" "$DB_DUMP"
  fi
}

bootstrap() {
  E2E_EMAIL=admin@example.com E2E_PASSWORD=e2e-admin-password E2E_URL=$URL E2E_EXPORTS=$EXPORTS \
  E2E_ORG=${E2E_ORG:-e2e-org} E2E_TEAM=${E2E_TEAM:-e2e-team} \
  E2E_TOKEN=${E2E_TOKEN:-} E2E_RO_TOKEN=${E2E_RO_TOKEN:-} \
    "$SENTRY" exec "$ROOT/bootstrap.py" > "$ROOT/logs/bootstrap.log" 2>&1 \
    || { cat "$ROOT/logs/bootstrap.log"; fail "bootstrap failed"; }
}

web_ready() {
  # shellcheck disable=SC1090
  [ "$(. "$EXPORTS"; curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $SENTRY_E2E_TOKEN" \
      "$URL/api/0/organizations/$SENTRY_E2E_ORG/")" = 200 ]
}

start_web() {
  alive web && web_ready && return 0
  alive web && bash "$HERE/stop.sh" --only web
  port_busy "$WEB_PORT" && fail "port $WEB_PORT is taken by something else (set E2E_WEB_PORT)"
  # `sentry run web` execs into the uwsgi master, so $! is the PID to stop later.
  setsid "$SENTRY" run web > "$ROOT/logs/web.log" 2>&1 < /dev/null &
  echo $! > "$ROOT/run/web.pid"
  for _ in $(seq 480); do
    web_ready && return 0
    alive web || break
    sleep 0.25
  done
  tail -40 "$ROOT/logs/web.log"
  fail "the web server did not answer on $URL"
}

phase apt;            install_os_packages;  phase_done
phase install;        install_sentry;       phase_done
phase config;         write_config;         phase_done
phase postgres;       start_postgres;       phase_done
phase redis+stub;     start_redis_and_stub; phase_done
phase migrate;        prepare_schema;       phase_done
phase bootstrap;      bootstrap;            phase_done
phase web;            start_web;            phase_done
PHASE=TOTAL PHASE_START=$START_ALL phase_done

echo
echo "Sentry $SENTRY_VERSION answers on $URL. Exports: $EXPORTS"
echo "  source $EXPORTS && pytest -m e2e"
sed 's/\(TOKEN=\).*/\1…/' "$EXPORTS"
