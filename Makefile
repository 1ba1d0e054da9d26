# Two commands do everything on a fresh clone: `make bench` and `make test`.
# Both create .venv and install ganzoo into it on first use.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
SUITE  ?= quick
BENCH_ARGS ?=

.PHONY: install test bench bench-micro report clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

test: $(STAMP)
	$(VENV)/bin/ruff check ganzoo tests benchmarks examples
	$(PY) -m pytest -q tests

bench: $(STAMP)
	$(VENV)/bin/ganzoo bench $(SUITE) --out results/$(SUITE) $(BENCH_ARGS)

report: $(STAMP)
	$(VENV)/bin/ganzoo report results/$(SUITE)

bench-micro: $(STAMP)
	$(PY) -m pytest -q benchmarks --benchmark-only

clean:
	rm -rf $(VENV) build *.egg-info
