# Quick start: `make demo` runs the main job, `make test` runs the whole suite. Each works
# alone on a fresh machine: it creates .venv and installs the project first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint bench validate calibrate clean browser mutation

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev,jax]"
	$(BIN)/ketamine-ptsd model compile
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/ketamine-ptsd simulate

lint: $(STAMP)
	$(BIN)/ruff check .

# The end-to-end tests drive Debian's chromium (never a browser downloaded by a test tool),
# with Noto Color Emoji so that names with emoji render (the app's CSS names that font).
browser:
	@command -v chromium >/dev/null 2>&1 && [ -e /usr/share/fonts/truetype/noto/NotoColorEmoji.ttf ] || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-noto-color-emoji; \
	  else echo "chromium or fonts-noto-color-emoji is not installed: the browser tests will skip or show boxes (apt-get install chromium fonts-noto-color-emoji as root)"; fi; }

test: $(STAMP) lint browser
	$(BIN)/python -m pytest

validate: $(STAMP)
	$(BIN)/ketamine-ptsd validate

calibrate: $(STAMP)
	$(BIN)/ketamine-ptsd calibrate

bench: $(STAMP)
	$(BIN)/python benchmarks/ceiling.py
	$(BIN)/python benchmarks/bench_engine.py
	$(BIN)/python benchmarks/bench_peers.py --n 1000,10000,100000
	$(BIN)/python benchmarks/bench_simulate.py

# Mutation testing of the core modules (docs/testing.md), one module at a time with its own
# tests; not part of `make test`. `make mutation MODULES="screening auth"` runs some of them.
mutation: $(STAMP)
	nice -n 10 $(BIN)/python tools/mutation.py $(MODULES)

clean:
	rm -rf $(VENV) ketamine-ptsd-output .pytest_cache .ruff_cache
