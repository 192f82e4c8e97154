#!/usr/bin/env bash
# The test passes of `make test`: the whole suite on SQLite and, beside it, the end-to-end
# suite on PostgreSQL (a throwaway server from Debian's packages, stopped again at the end if
# this run started it). Side by side because together they outgrew CI's 15 minutes one after
# the other; each keeps its own output, shown one after the other.
set -uo pipefail
cd "$(dirname "$0")/.."
BIN="${BIN:-.venv/bin}"
PG="${TEST_POSTGRES_URL:-}"
STARTED=""
if [ -z "$PG" ]; then
  .ci/postgres.sh running >/dev/null 2>&1 || STARTED=1
  PG="$(.ci/postgres.sh 2>/dev/null)" || { PG=""; STARTED=""; }
fi
PG_LOG="$(mktemp)"
if [ -n "$PG" ]; then
  TEST_DATABASE=postgres TEST_POSTGRES_URL="$PG" "$BIN/python" -m pytest -q -p no:cacheprovider \
    --basetemp="$(mktemp -d)" tests/e2e >"$PG_LOG" 2>&1 &
  PG_PID=$!
fi
TEST_POSTGRES_URL="$PG" "$BIN/python" -m pytest -q
SQLITE_RC=$?
PG_RC=0
if [ -n "$PG" ]; then
  wait "$PG_PID"
  PG_RC=$?
  echo "--- the end-to-end suite on PostgreSQL (run beside the one above)"
  cat "$PG_LOG"
else
  echo "--- no PostgreSQL server could be started: the end-to-end suite ran on SQLite only"
fi
rm -f "$PG_LOG"
if [ -n "$STARTED" ]; then
  .ci/postgres.sh stop >/dev/null 2>&1 || true
fi
[ "$SQLITE_RC" -eq 0 ] && [ "$PG_RC" -eq 0 ]
