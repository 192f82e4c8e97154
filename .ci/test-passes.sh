#!/usr/bin/env bash
# The test passes of `make test`: the suite on SQLite and, beside it, the end-to-end suite on
# PostgreSQL (a throwaway server from Debian's packages, stopped again at the end if this run
# started it) followed by the fault tests. Side by side because together they outgrew CI's 15
# minutes one after the other; each keeps its own output, shown one after the other. Without
# PostgreSQL, the SQLite pass runs everything.
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
SQLITE_ARGS=()
if [ -n "$PG" ]; then
  # Beside the SQLite pass: the end-to-end suite on PostgreSQL, then the fault tests (which
  # the SQLite pass leaves to this side, so that the two take about as long).
  (
    TEST_DATABASE=postgres TEST_POSTGRES_URL="$PG" "$BIN/python" -m pytest -q -p no:cacheprovider \
      --basetemp="$(mktemp -d)" tests/e2e
    E2E_RC=$?
    echo "--- the fault tests (on SQLite), run after it"
    TEST_POSTGRES_URL="$PG" "$BIN/python" -m pytest -q -p no:cacheprovider --basetemp="$(mktemp -d)" tests/faults
    FAULTS_RC=$?
    [ "$E2E_RC" -eq 0 ] && [ "$FAULTS_RC" -eq 0 ]
  ) >"$PG_LOG" 2>&1 &
  PG_PID=$!
  SQLITE_ARGS=(--ignore=tests/faults)
fi
TEST_POSTGRES_URL="$PG" "$BIN/python" -m pytest -q "${SQLITE_ARGS[@]}"
SQLITE_RC=$?
PG_RC=0
if [ -n "$PG" ]; then
  wait "$PG_PID"
  PG_RC=$?
  echo "--- the end-to-end suite on PostgreSQL and the fault tests (run beside the one above)"
  cat "$PG_LOG"
else
  echo "--- no PostgreSQL server could be started: the end-to-end suite ran on SQLite only"
fi
rm -f "$PG_LOG"
if [ -n "$STARTED" ]; then
  .ci/postgres.sh stop >/dev/null 2>&1 || true
fi
[ "$SQLITE_RC" -eq 0 ] && [ "$PG_RC" -eq 0 ]
