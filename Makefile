# The two commands a fresh machine needs: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed

.PHONY: demo test install generate check lint typecheck unit fuse bench official-client clean

# The virtual environment, with the SDK, every extra (emulator, fs, codegen, aiohttp: the
# async tests run on both transports) and the dev tools.
$(INSTALLED): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev,codegen,emulator,fs,aiohttp]"
	touch $@

install: $(INSTALLED)

# Starts the emulator, runs the complete example against it, stops the emulator.
demo: $(INSTALLED)
	$(BIN)/python -m mesa_emulator run --quiet -- $(BIN)/python examples/complete_example.py

# Regenerates the SDK, its docs and USAGE.md from openapi.yaml and gen.yaml.
generate: $(INSTALLED)
	$(BIN)/python -m mesa_codegen

# Everything CI checks.
test: lint typecheck check unit

# The filesystem tests mount for real: they need fusermount and libfuse (Debian's `fuse`).
# Installed when missing and possible (root with apt-get, as on CI); otherwise those tests
# skip and say why.
fuse:
	@if ! command -v fusermount >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1 \
	    && [ "$$(id -u)" = 0 ]; then \
	  echo "installing fuse for the filesystem tests"; \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq fuse) \
	    >/dev/null || echo "could not install fuse: the filesystem tests will skip"; \
	fi

lint: $(INSTALLED)
	$(BIN)/ruff check src tests benchmarks examples
	$(BIN)/ruff format --check src tests benchmarks examples

typecheck: $(INSTALLED)
	$(BIN)/mypy src/mesa_sdk src/mesa_codegen src/mesa_emulator

# Fails when the committed generated files differ from what the spec and templates give.
check: $(INSTALLED)
	$(BIN)/python -m mesa_codegen --check

unit: $(INSTALLED) fuse
	$(BIN)/pytest -q

# The official client mesa-sdk==0.1.2 in its own environment under .cache/ (its import name
# clashes with ours), for tests/compat and the benchmarks. Needs PyPI once; the compatibility
# test makes it itself when missing, and skips saying why when PyPI cannot be reached.
official-client: $(INSTALLED)
	-$(BIN)/python tests/compat/official_venv.py

bench: $(INSTALLED) official-client
	$(BIN)/python benchmarks/run.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
