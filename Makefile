# edgehub — every target creates .venv on first use, so a fresh clone needs nothing but python3 and make.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
PYTEST_ARGS ?=

.PHONY: install protos check lint typecheck firmware-test test demo bench screenshots clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

# Regenerate the gRPC code from protos/*.proto (compiled from the repo root: `from protos import link_pb2`).
protos: $(STAMP)
	$(BIN)/python -m grpc_tools.protoc -I. --python_out=. --grpc_python_out=. --pyi_out=. protos/*.proto

lint: $(STAMP)
	$(BIN)/ruff check .

typecheck: $(STAMP)
	$(BIN)/mypy edge hub edgehub firmware

check: lint typecheck

# The firmware's portable C, built with gcc and sanitizers and unit-tested on this machine.
firmware-test:
	$(MAKE) -s -C tests/firmware test

test: check firmware-test
	$(BIN)/pytest $(PYTEST_ARGS)

demo: $(STAMP)
	$(BIN)/edgehub demo

screenshots: $(STAMP)
	$(BIN)/python -m tests.web.screenshots

bench: $(STAMP)
	$(BIN)/python -m bench.run $(BENCH_ARGS)

clean:
	rm -rf build *.egg-info .pytest_cache .mypy_cache .ruff_cache
