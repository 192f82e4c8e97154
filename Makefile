# The two commands a newcomer needs: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint locales extract-messages bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

locales: $(STAMP)
	$(BIN)/pybabel compile --domain messages --directory bot/locales --statistics

## Set everything up and run the bot (the local sandbox and a demo month without BOT_TOKEN).
run: locales
	$(BIN)/dlxh db upgrade
	$(BIN)/dlxh run

## Lint and run the whole test suite (starts a throwaway PostgreSQL when it can).
test: locales
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	TEST_POSTGRES_URL="$${TEST_POSTGRES_URL:-$$(.ci/postgres.sh 2>/dev/null || true)}" $(BIN)/python -m pytest -q

## Refresh the catalogs after changing user texts (then translate bot/locales/vi).
extract-messages: $(STAMP)
	$(BIN)/pybabel extract -F babel.cfg -k _ -k __ -k N_ -k localized:2 --no-location --sort-output -o bot/locales/messages.pot .
	$(BIN)/pybabel update -i bot/locales/messages.pot -d bot/locales -D messages --no-fuzzy-matching

bench: locales
	$(BIN)/python bench/inbound.py --json bench/results/inbound.json

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
