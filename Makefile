# erhc-h5 — two commands: `make run` and `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export FLASK_APP := app

.PHONY: run test test-fast test-postgres bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test,postgres]'
	touch $(STAMP)

## Serve the sandbox on http://127.0.0.1:5000 (SQLite, sandbox providers, sandbox province, sync worker).
run: $(STAMP)
	$(BIN)/flask --app app db upgrade
	$(BIN)/flask --app app demo seed
	bash scripts/run-dev.sh

## Run the whole test suite (ERHC_TEST_DATABASE_URL selects PostgreSQL; default SQLite).
## PYTEST_ARGS goes to pytest as it is, e.g. PYTEST_ARGS='-m "not slow and not browser"'.
test: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

## The fast tier: no test marked slow (over ~2 s) or browser (Chromium); under 3 minutes.
test-fast: $(STAMP)
	$(BIN)/python -m pytest -m "not slow and not browser" $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) instance/*.sqlite3* test-artifacts .pytest_cache
