# The two commands a fresh machine needs: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed

.PHONY: demo test install generate check lint typecheck unit bench clean

# The virtual environment, with the SDK, the emulator, the fs extra and the dev tools.
$(INSTALLED): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev,emulator,fs]"
	touch $@

install: $(INSTALLED)

# Starts the emulator, runs the complete example against it, stops the emulator.
demo: $(INSTALLED)
	$(BIN)/python -m mesa_emulator run -- $(BIN)/python examples/complete_example.py

# Regenerates the SDK, its docs and USAGE.md from openapi.yaml and gen.yaml.
generate: $(INSTALLED)
	$(BIN)/python -m mesa_codegen

# Everything CI checks.
test: lint typecheck check unit

lint: $(INSTALLED)
	$(BIN)/ruff check src tests benchmarks examples
	$(BIN)/ruff format --check src tests benchmarks examples

typecheck: $(INSTALLED)
	$(BIN)/mypy src/mesa_sdk src/mesa_codegen src/mesa_emulator

# Fails when the committed generated files differ from what the spec and templates give.
check: $(INSTALLED)
	$(BIN)/python -m mesa_codegen --check

unit: $(INSTALLED)
	$(BIN)/pytest -q

bench: $(INSTALLED)
	$(BIN)/python benchmarks/run.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
