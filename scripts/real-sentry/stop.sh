#!/usr/bin/env bash
# Stop what start.sh started, by the PID files it wrote; nothing else is touched.
#
#   bash scripts/real-sentry/stop.sh            # stop web, snuba stub, redis, postgres
#   bash scripts/real-sentry/stop.sh --only web # stop one piece (web|snuba_stub|redis|postgres)
#   bash scripts/real-sentry/stop.sh --purge    # stop, then delete data (keeps venv and schema dump)
set -uo pipefail

ROOT=${E2E_SENTRY_ROOT:-/var/tmp/sentry-release-e2e}
ONLY=""
PURGE=no
while [ $# -gt 0 ]; do
  case $1 in
    --only) ONLY=$2; shift 2 ;;
    --purge) PURGE=yes; shift ;;
    *) echo "usage: stop.sh [--only NAME] [--purge]" >&2; exit 2 ;;
  esac
done

wanted() { [ -z "$ONLY" ] || [ "$ONLY" = "$1" ]; }

stop_pid() {  # name: signal TERM, wait up to 10 s, then KILL
  local file=$ROOT/run/$1.pid pid
  [ -s "$file" ] || return 0
  pid=$(cat "$file")
  if kill -0 "$pid" 2> /dev/null; then
    kill -TERM "$pid"  # the uwsgi master Sentry starts has die-on-term
    for _ in $(seq 50); do kill -0 "$pid" 2> /dev/null || break; sleep 0.2; done
    if kill -0 "$pid" 2> /dev/null; then
      echo "$1 ($pid) ignored TERM, sending KILL"
      kill -KILL "$pid"
    fi
    echo "stopped $1 ($pid)"
  fi
  rm -f "$file"
}

stop_postgres() {
  local bin
  if [ -s "$ROOT/pgdata/postmaster.pid" ]; then
    bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
    su postgres -c "$bin/pg_ctl -D $ROOT/pgdata -m fast -w stop" > /dev/null && echo "stopped postgres"
  fi
  rm -f "$ROOT/run/postgres.pid"
}

wanted web && stop_pid web
wanted snuba_stub && stop_pid snuba_stub
wanted redis && stop_pid redis
wanted postgres && stop_postgres

if [ $PURGE = yes ]; then
  rm -rf "$ROOT/pgdata" "$ROOT/redis" "$ROOT/files" "$ROOT/conf" "$ROOT/e2e.env"
  echo "purged data under $ROOT (kept venv and cache/)"
fi
