# The two commands a newcomer needs: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
BENCH_STAMP := $(VENV)/.bench-installed
# The uv that compiles the locks (`make lock`); installing from them needs only pip.
UV_VERSION := 0.13.9
# `make lock LOCK_FLAGS=--upgrade` moves every pin to the newest release allowed by pyproject.toml.
LOCK_FLAGS ?=
UV_COMPILE = $(BIN)/uv pip compile pyproject.toml --universal --python-version 3.11 --generate-hashes \
	--custom-compile-command 'make lock' --quiet $(LOCK_FLAGS)

.PHONY: run test test-lowest locales extract-messages bench bench-deps lock clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# Exactly the pinned, hashed packages of the lock, then the project itself on top (no resolving, no downloads
# besides the lock's files; setuptools comes from the lock, so the editable build needs no isolation).
$(STAMP): requirements.lock pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet --require-hashes --no-deps -r requirements.lock
	$(BIN)/pip install --quiet --no-deps --no-build-isolation -e .
	touch $(STAMP)

# Compiled only when a catalog changed (quietly: `make run` should show the bot, not Babel).
locales: $(STAMP)
	@$(BIN)/python -c "from bot.i18n import compile_catalogs; compile_catalogs()"

## Set everything up and run the bot (the local sandbox and a demo month without BOT_TOKEN).
run: locales
	$(BIN)/dlxh db upgrade
	$(BIN)/dlxh run

## Lint, type-check and run the whole test suite on SQLite and, beside it, the end-to-end suite on
## PostgreSQL (a throwaway server from Debian's packages on PGPORT_TEST, default 55432, stopped at the
## end if the run started it; skipped with a message where none can start).
test: locales
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	BIN=$(BIN) .ci/test-passes.sh

## Refresh the catalogs after changing user texts (then translate bot/locales/vi).
extract-messages: $(STAMP)
	$(BIN)/pybabel extract -F babel.cfg -k _ -k __ -k N_ -k localized:2 --no-location --sort-output -o bot/locales/messages.pot .
	$(BIN)/pybabel update -i bot/locales/messages.pot -d bot/locales -D messages --no-fuzzy-matching

## Recompile requirements.lock and requirements-bench.lock after a change to pyproject.toml (uv, pinned).
lock: | $(BIN)/python
	$(BIN)/pip install --quiet uv==$(UV_VERSION)
	$(UV_COMPILE) --extra dev -o requirements.lock
	$(UV_COMPILE) --extra dev --extra bench -c requirements.lock -o requirements-bench.lock

## Run the tests with the lowest versions pyproject.toml allows: the declared ranges are the ones
## tested at both ends (the lock is the top end). Slow, not part of `make test`; run it after a change of ranges.
test-lowest: | $(BIN)/python
	$(BIN)/pip install --quiet uv==$(UV_VERSION)
	$(BIN)/uv pip compile pyproject.toml --extra dev --python-version 3.11 --resolution lowest-direct --quiet -o .venv-lowest.txt
	test -x .venv-lowest/bin/python || $(PYTHON) -m venv .venv-lowest
	.venv-lowest/bin/pip install --quiet -r .venv-lowest.txt
	.venv-lowest/bin/pip install --quiet --no-deps --no-build-isolation -e .
	.venv-lowest/bin/pybabel compile --domain messages --directory bot/locales
	.venv-lowest/bin/mypy
	TEST_POSTGRES_URL="$${TEST_POSTGRES_URL:-$$(.ci/postgres.sh 2>/dev/null || true)}" .venv-lowest/bin/python -m pytest -q

## Add the benchmark-only packages (aiogram-broadcaster, for bench/broadcast.py) from requirements-bench.lock.
bench-deps: $(BENCH_STAMP)

$(BENCH_STAMP): requirements-bench.lock $(STAMP)
	$(BIN)/pip install --quiet --require-hashes --no-deps -r requirements-bench.lock
	touch $(BENCH_STAMP)

bench: locales
	$(BIN)/python bench/inbound.py --json bench/results/inbound.json

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
