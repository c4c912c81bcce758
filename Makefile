# Everything a fresh machine needs (python3, pip, make, git) is installed from here.
VENV       := .venv
PYTHON     := $(VENV)/bin/python
PCR        := $(VENV)/bin/pcr
# What the GitHub Action installs: pcr's dependencies, the Blob Storage state backend's
# included, pinned with their hashes.
LOCK       := requirements.lock
# The locked wheels, downloaded once, so that the tests install pcr without a network.
WHEELHOUSE := $(VENV)/wheelhouse

.PHONY: demo test lint bench lock clean

$(PYTHON):
	python3 -m venv $(VENV)
	$(PYTHON) -m pip install --quiet --upgrade pip

# pcr is installed as users install it, not editable (setuptools warns on every
# editable install); it is installed again whenever a source file changes. The tests
# import the source tree itself, and run the wheel they build (tests/artifact.py).
SOURCES    := $(shell find reconciler -type f -not -path '*/__pycache__/*')

$(VENV)/.installed: pyproject.toml $(SOURCES) | $(PYTHON)
	$(PYTHON) -m pip install --quiet .
	touch $@

$(VENV)/.installed-test: pyproject.toml $(SOURCES) | $(PYTHON)
	$(PYTHON) -m pip install --quiet '.[test]'
	touch $@

$(WHEELHOUSE)/.complete: $(LOCK) | $(PYTHON)
	rm -rf $(WHEELHOUSE)
	$(PYTHON) -m pip download --quiet --require-hashes --only-binary :all: \
		-r $(LOCK) -d $(WHEELHOUSE)
	# pipx seeds its shared environment with a recent pip; the tests install with pipx.
	$(PYTHON) -m pip download --quiet --no-deps --only-binary :all: \
		"pip==$$($(PYTHON) -m pip --version | cut -d' ' -f2)" -d $(WHEELHOUSE)
	touch $@

# The demo is what `pcr demo` gives a user: the example estate and its fake Partner
# Center, dated today, written afresh each time, then validated and planned.
DEMO_DIR   := $(VENV)/demo
demo: $(VENV)/.installed
	rm -rf $(DEMO_DIR)
	$(PCR) demo $(DEMO_DIR)
	cd $(DEMO_DIR) && ../bin/pcr validate && ../bin/pcr plan --fake fake-state.json

lint: $(VENV)/.installed-test
	$(VENV)/bin/ruff check reconciler tests
	$(VENV)/bin/ruff format --check reconciler tests
	$(VENV)/bin/mypy

# The Node.js packages the tests run, from the npm registry at the versions each lock file
# pins (no install scripts run): Azurite, the Azure Storage emulator the Blob Storage state
# backend is tested against, and Mermaid's own parser (with jsdom, the DOM it needs under
# Node), which checks the Markdown calendar's gantt chart.
AZURITE    := tests/azurite/node_modules/.installed
MERMAID    := tests/mermaid/node_modules/.installed
tests/%/node_modules/.installed: tests/%/package-lock.json
	@if command -v npm >/dev/null; then \
		cd tests/$* && npm ci --no-audit --no-fund --ignore-scripts --loglevel=error \
		&& touch node_modules/.installed; \
	else \
		echo "Node.js is not installed: the tests that need tests/$* will be skipped"; \
	fi

# The end-to-end tests build the wheel and the sdist and run the `pcr` installed
# from them in a fresh virtual environment (tests/artifact.py), offline.
# Every core, in a new random order each run (pytest prints its seed first; add
# `--randomly-seed=N` to replay one); the ten slowest tests are listed at the end.
test: lint $(WHEELHOUSE)/.complete $(AZURITE) $(MERMAID)
	PCR_WHEELHOUSE=$(abspath $(WHEELHOUSE)) $(VENV)/bin/pytest \
		--numprocesses auto --maxprocesses 8 --dist worksteal --durations 10

# Re-pin what the GitHub Action installs (needs the package index).
lock: | $(PYTHON)
	$(PYTHON) -m pip install --quiet 'uv>=0.9'
	printf 'setuptools>=77\n' | $(VENV)/bin/uv pip compile pyproject.toml - \
		--extra azure --generate-hashes --universal --python-version 3.11 \
		--custom-compile-command 'make lock' --quiet -o $(LOCK)

# Scale benchmarks (not part of `make test`): writes BENCHMARKS.md and bench.json.
bench: $(VENV)/.installed-test
	$(PYTHON) -m tests.bench.run

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache .mypy_cache .ruff_cache .bench \
		tests/azurite/node_modules tests/mermaid/node_modules
