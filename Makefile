# Two commands do all set-up on a fresh machine: `make dev` and `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install db test lint typecheck pytest dev bench-import bench-pacing bench-ari bench-stats bench-agi clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

# PostgreSQL: ORCH_DATABASE_URL when set; else 127.0.0.1:5432 (user postgres);
# if nothing answers, install Debian's postgresql and start it.
db:
	@bash scripts/ensure-postgres.sh

lint: install
	$(BIN)/ruff check orchestrator pbxsim tests bench
	$(BIN)/lint-imports

typecheck: install
	$(BIN)/mypy

pytest: install db
	$(BIN)/pytest -q

test: lint typecheck pytest

dev: install db
	bash scripts/dev.sh

bench-import: install db
	$(BIN)/python bench/import_bench.py

bench-pacing: install
	$(BIN)/pip install -q -e '.[test,bench]'
	$(BIN)/python -m bench.pacing

bench-stats: install db
	$(BIN)/python -m bench.stats_load

bench-ari: install
	$(BIN)/python bench/ari_bench.py

# FastAGI screen-pop on loopback against 100k contacts (docs/benchmarks/agi.md)
bench-agi: install db
	$(BIN)/python bench/agi_bench.py --plot docs/benchmarks/agi-screen-pop.png

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache
