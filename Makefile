# The two commands of the README: `make run` and `make test`. Everything else supports them.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install run test lint format bench bench-full cluster clean

install: $(STAMP)

$(STAMP): pyproject.toml src/bidwire/transports/_fanout.c
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

run: install
	$(BIN)/bidwire serve --demo

test: install
	$(BIN)/pytest -q

# mypy checks src and tests: the files are listed in pyproject.toml [tool.mypy]
lint: install
	$(BIN)/ruff check src tests bench client.py cluster
	$(BIN)/ruff format --check src tests cluster
	$(BIN)/mypy --strict

format: install
	$(BIN)/ruff check --fix src tests bench client.py cluster
	$(BIN)/ruff format src tests cluster

# Three nodes and HAProxy on loopback, on the local PostgreSQL and Redis (README, "Several nodes").
# HAProxy comes from Debian's packages; Debian keeps it in /usr/sbin, often not on PATH.
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
cluster: install
	@command -v haproxy >/dev/null || [ -x /usr/sbin/haproxy ] || \
		{ $(SUDO) apt-get update -q && $(SUDO) apt-get install -y -q haproxy; }
	$(BIN)/python cluster/cluster.py $(CLUSTER_ARGS)

bench: install
	$(BIN)/python bench/harness.py --quick

bench-full: install
	$(BIN)/python bench/harness.py --full

clean:
	rm -rf $(VENV) build *.egg-info src/*.egg-info .pytest_cache .mypy_cache .ruff_cache
