#!/usr/bin/env bash
# Make sure PostgreSQL (127.0.0.1:5432) and Redis (127.0.0.1:6379) answer before the tests run.
# Installed but stopped: start them. Missing: say so plainly and fail.
set -euo pipefail

PG_HOST=127.0.0.1 PG_PORT=5432 REDIS_PORT=6379

pg_up() { pg_isready -q -h "$PG_HOST" -p "$PG_PORT" 2>/dev/null; }
redis_up() { redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping 2>/dev/null | grep -q PONG; }

wait_for() { # name, check function
  for _ in $(seq 1 50); do "$2" && return 0; sleep 0.2; done
  echo "error: $1 was started but does not answer on 127.0.0.1" >&2; return 1
}

if ! command -v pg_isready >/dev/null || ! command -v psql >/dev/null; then
  echo "error: PostgreSQL is not installed (need pg_isready/psql and a server on 127.0.0.1:5432)." >&2
  echo "       On Debian: apt-get install postgresql" >&2
  exit 1
fi
if ! pg_up; then
  if command -v pg_ctlcluster >/dev/null && [ -d /etc/postgresql ] && [ -n "$(ls /etc/postgresql)" ]; then
    echo "Starting PostgreSQL..."
    for version in $(ls /etc/postgresql); do
      pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
    done
    wait_for PostgreSQL pg_up
  else
    echo "error: PostgreSQL is not running on $PG_HOST:$PG_PORT and no local cluster was found to start." >&2
    exit 1
  fi
fi

if ! command -v redis-server >/dev/null || ! command -v redis-cli >/dev/null; then
  echo "error: Redis is not installed (need redis-server on 127.0.0.1:6379). On Debian: apt-get install redis-server" >&2
  exit 1
fi
if ! redis_up; then
  echo "Starting Redis..."
  mkdir -p /var/lib/redis /var/log/redis 2>/dev/null || true
  redis-server --daemonize yes --bind 127.0.0.1 -::1 --port "$REDIS_PORT" --save "" --appendonly no \
    --dir /var/lib/redis --logfile /var/log/redis/ci.log
  wait_for Redis redis_up
fi
echo "PostgreSQL and Redis are up."
