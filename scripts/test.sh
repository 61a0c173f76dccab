#!/usr/bin/env bash
# Sets up everything the test suite needs on a fresh Debian machine with Python 3.11+, then
# runs lint (ruff, with its security rules), type checks (mypy), a dependency audit
# (pip-audit, scripts/audit.sh) and the whole suite twice: on SQLite, and on a
# throwaway PostgreSQL 15 cluster. A local Redis server backs the Redis-store tests and
# Debian's Chromium the browser tests (run once, with the SQLite suite).
# Both suites always run; the command fails at the end if either failed.
# Usage: bash scripts/test.sh [extra pytest args]
set -euo pipefail
cd "$(dirname "$0")/.."
START=$SECONDS

# A bare environment (env -i, a container) has no locale: PostgreSQL, Python and the
# browser all want UTF-8.
export LANG="${LANG:-C.UTF-8}"

SUDO=""
if [ "$(id -u)" != "0" ]; then SUDO="sudo"; fi

# 1. System packages: Chromium (browser test), PostgreSQL 15 (second run), Redis.
need=()
command -v chromium >/dev/null 2>&1 || need+=(chromium)
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need+=(postgresql)
command -v redis-server >/dev/null 2>&1 || need+=(redis-server)
if [ ${#need[@]} -gt 0 ]; then
  echo "Installing system packages: ${need[*]}"
  # A mirror can fail once: try again before giving up.
  for attempt in 1 2 3; do
    if $SUDO apt-get update -qq \
       && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
    then break; fi
    [ "$attempt" = 3 ] && { echo "Could not install ${need[*]} with apt-get." >&2; exit 1; }
    sleep 5
  done
fi

# 2. The project and its test tools in a virtual environment.
if [ ! -x .venv/bin/python ]; then python3 -m venv .venv; fi
# The venv's own pip and setuptools are audited too: keep them current.
.venv/bin/python -m pip install -q --disable-pip-version-check --upgrade pip setuptools
.venv/bin/python -m pip install -q --disable-pip-version-check -e '.[dev]'

# 3. Lint (ruff's rules include the security rules, S), types, known vulnerabilities.
.venv/bin/ruff check .
.venv/bin/mypy
bash scripts/audit.sh

# 4. Services for the run: Redis and a throwaway PostgreSQL cluster.
WORK=$(mktemp -d /tmp/aiu-test.XXXXXX)
chmod 755 "$WORK"
cleanup() {
  [ -f "$WORK/redis.pid" ] && kill "$(cat "$WORK/redis.pid")" 2>/dev/null || true
  if [ -n "${PGBIN:-}" ] && [ -f "$WORK/pg/postmaster.pid" ]; then
    $PGUSER_RUN "$PGBIN/pg_ctl" -D "$WORK/pg" -m immediate stop >/dev/null 2>&1 || true
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT

free_port() { .venv/bin/python -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

REDIS_PORT=$(free_port)
redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no \
  --daemonize yes --pidfile "$WORK/redis.pid" --logfile "$WORK/redis.log"
export AIU_TEST_REDIS_URL="redis://127.0.0.1:$REDIS_PORT/0"

PGBIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
PG_PORT=$(free_port)
PGUSER_RUN=""
if [ "$(id -u)" = "0" ]; then
  # initdb refuses to run as root: the cluster belongs to the postgres user.
  id postgres >/dev/null 2>&1 || useradd --system --no-create-home postgres
  chown postgres "$WORK"
  PGUSER_RUN="runuser -u postgres --"
fi
# An explicit encoding: without a locale initdb would make an SQL_ASCII cluster.
$PGUSER_RUN "$PGBIN/initdb" -D "$WORK/pg" -U postgres -A trust --no-sync \
  -E UTF8 --locale=C.UTF-8 >/dev/null
$PGUSER_RUN "$PGBIN/pg_ctl" -D "$WORK/pg" -l "$WORK/pg.log" -w \
  -o "-p $PG_PORT -k $WORK -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off" start >/dev/null
"$PGBIN/createdb" -h 127.0.0.1 -p "$PG_PORT" -U postgres aiu_test

# 5. The suite on SQLite (with the browser tests), then on PostgreSQL (without them: they
#    test pages, not the database). Both run whatever the first gives; both summaries print.
run_suite() {  # name, log file, pytest args...
  local name=$1 log=$2; shift 2
  echo "== Test suite on $name"
  set +e
  .venv/bin/pytest "$@" 2>&1 | tee "$log"
  local rc=${PIPESTATUS[0]}
  set -e
  return "$rc"
}
# Two pytest-xdist workers (a test file stays on one worker): the suite spends much of its
# time waiting on the servers it starts, so two at once take half the time even on 2 cores.
# Each worker has its own database and Redis database (tests/conftest.py). `-n 0` in the
# extra arguments runs in one process.
PARALLEL=(-n "${AIU_TEST_WORKERS:-2}" --dist loadfile)
sqlite_rc=0; postgres_rc=0
run_suite SQLite "$WORK/sqlite.log" "${PARALLEL[@]}" "$@" || sqlite_rc=$?
AIU_TEST_DATABASE_URL="postgresql+psycopg://postgres@127.0.0.1:$PG_PORT/aiu_test" \
  run_suite PostgreSQL "$WORK/postgres.log" "${PARALLEL[@]}" -m "not browser" "$@" \
  || postgres_rc=$?

echo "== Summary ($(( (SECONDS - START) / 60 )) min $(( (SECONDS - START) % 60 )) s)"
summary() { grep -E '(passed|failed|error|no tests ran).* in [0-9.]+s' "$1" | tail -n 1 | tr -d '='; }
echo "SQLite:     $(summary "$WORK/sqlite.log")"
echo "PostgreSQL: $(summary "$WORK/postgres.log")"
if [ "$sqlite_rc" != 0 ] || [ "$postgres_rc" != 0 ]; then
  echo "FAILED: SQLite exit $sqlite_rc, PostgreSQL exit $postgres_rc" >&2
  exit 1
fi
