#!/usr/bin/env bash
# Start a throwaway PostgreSQL (Debian's packages) on a loopback port for the tests.
# Prints the URL to use as TEST_POSTGRES_URL; installs the server if it is missing.
# `.ci/postgres.sh running` says whether it runs; `.ci/postgres.sh stop` stops it.
# PGPORT_TEST (default 55432) and PGDATA_TEST choose its port and its folder.
set -euo pipefail
PORT="${PGPORT_TEST:-55432}"
DIR="${PGDATA_TEST:-/tmp/dlxh-pg}"
if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql) >/dev/null 2>&1
fi
BIN="$(dirname "$(ls /usr/lib/postgresql/*/bin/initdb | sort -V | tail -n 1)")"
case "${1:-}" in
  running) exec su postgres -s /bin/sh -c "$BIN/pg_isready -q -h 127.0.0.1 -p $PORT" ;;
  stop) exec su postgres -s /bin/sh -c "$BIN/pg_ctl -D $DIR stop -m fast -w" ;;
esac
if ! su postgres -s /bin/sh -c "$BIN/pg_isready -h 127.0.0.1 -p $PORT" >/dev/null 2>&1; then
  rm -rf "$DIR" && mkdir -p "$DIR" && chown postgres "$DIR"
  su postgres -s /bin/sh -c "$BIN/initdb -D $DIR -A trust -U postgres" >/dev/null
  su postgres -s /bin/sh -c "$BIN/pg_ctl -D $DIR -o '-p $PORT -k /tmp -c listen_addresses=127.0.0.1 -c fsync=off' -l $DIR/log start -w" >/dev/null
fi
echo "postgresql+asyncpg://postgres@127.0.0.1:$PORT/postgres"
