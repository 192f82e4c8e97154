#!/usr/bin/env bash
# The test passes of `make test`, side by side because one after the other they outgrew CI's
# 15 minutes (the end-to-end tests mostly wait on the sandbox's pacing, so three processes
# share two cores well):
#   1. the unit tests and half of the end-to-end files, on SQLite;
#   2. the other half and the fault tests, on SQLite;
#   3. the end-to-end suite on PostgreSQL: a throwaway server from Debian's packages, stopped
#      again at the end if this run started it (without one, this pass is left out and says so).
# Each keeps its own output, shown one after the other.
set -uo pipefail
cd "$(dirname "$0")/.."
BIN="${BIN:-.venv/bin}"
PG="${TEST_POSTGRES_URL:-}"
STARTED=""
if [ -z "$PG" ]; then
  .ci/postgres.sh running >/dev/null 2>&1 || STARTED=1
  PG="$(.ci/postgres.sh 2>/dev/null)" || { PG=""; STARTED=""; }
fi
FIRST=()
SECOND=()
index=0
for file in tests/e2e/sandbox tests/e2e/test_*.py; do
  if [ $((index % 2)) -eq 0 ]; then FIRST+=("$file"); else SECOND+=("$file"); fi
  index=$((index + 1))
done
SECOND_LOG="$(mktemp)"
PG_LOG="$(mktemp)"
TEST_POSTGRES_URL="$PG" "$BIN/python" -m pytest -q -p no:cacheprovider --basetemp="$(mktemp -d)" \
  "${SECOND[@]}" tests/faults >"$SECOND_LOG" 2>&1 &
SECOND_PID=$!
if [ -n "$PG" ]; then
  TEST_DATABASE=postgres TEST_POSTGRES_URL="$PG" "$BIN/python" -m pytest -q -p no:cacheprovider \
    --basetemp="$(mktemp -d)" tests/e2e >"$PG_LOG" 2>&1 &
  PG_PID=$!
fi
TEST_POSTGRES_URL="$PG" "$BIN/python" -m pytest -q -p no:cacheprovider --basetemp="$(mktemp -d)" \
  tests/unit "${FIRST[@]}"
FIRST_RC=$?
wait "$SECOND_PID"
SECOND_RC=$?
echo "--- the other end-to-end files and the fault tests, on SQLite (run beside the one above)"
cat "$SECOND_LOG"
PG_RC=0
if [ -n "$PG" ]; then
  wait "$PG_PID"
  PG_RC=$?
  echo "--- the end-to-end suite on PostgreSQL (run beside the ones above)"
  cat "$PG_LOG"
else
  echo "--- no PostgreSQL server could be started: the end-to-end suite ran on SQLite only"
fi
rm -f "$SECOND_LOG" "$PG_LOG"
if [ -n "$STARTED" ]; then
  .ci/postgres.sh stop >/dev/null 2>&1 || true
fi
[ "$FIRST_RC" -eq 0 ] && [ "$SECOND_RC" -eq 0 ] && [ "$PG_RC" -eq 0 ]
