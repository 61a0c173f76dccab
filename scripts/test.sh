#!/usr/bin/env bash
# Sets up everything the test suite needs on a fresh Debian machine with Python 3.11+, then
# runs lint (ruff, with its security rules), type checks (mypy), a dependency audit
# (pip-audit, scripts/audit.sh) and the whole suite twice: on SQLite, and on a
# throwaway PostgreSQL 15 cluster. A local Redis server backs the Redis-store tests and
# Debian's Chromium the browser test. Usage: bash scripts/test.sh [extra pytest args]
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)

SUDO=""
if [ "$(id -u)" != "0" ]; then SUDO="sudo"; fi

# 1. System packages: Chromium (browser test), PostgreSQL 15 (second run), Redis.
need=()
command -v chromium >/dev/null 2>&1 || need+=(chromium)
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need+=(postgresql)
command -v redis-server >/dev/null 2>&1 || need+=(redis-server)
if [ ${#need[@]} -gt 0 ]; then
  echo "Installing system packages: ${need[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
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
$PGUSER_RUN "$PGBIN/initdb" -D "$WORK/pg" -U postgres -A trust --no-sync >/dev/null
$PGUSER_RUN "$PGBIN/pg_ctl" -D "$WORK/pg" -l "$WORK/pg.log" -w \
  -o "-p $PG_PORT -k $WORK -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off" start >/dev/null
"$PGBIN/createdb" -h 127.0.0.1 -p "$PG_PORT" -U postgres aiu_test

# 5. The suite on SQLite, then on PostgreSQL.
echo "== Test suite on SQLite"
.venv/bin/pytest "$@"
echo "== Test suite on PostgreSQL"
AIU_TEST_DATABASE_URL="postgresql+psycopg://postgres@127.0.0.1:$PG_PORT/aiu_test" \
  .venv/bin/pytest "$@"
