# Everything a fresh machine needs (python3, pip, make, git) is installed from here.
VENV     := .venv
PYTHON   := $(VENV)/bin/python
PCR      := $(VENV)/bin/pcr
DEMO_NOW := 2026-11-22T09:00:00Z

.PHONY: demo test lint bench clean

$(PYTHON):
	python3 -m venv $(VENV)
	$(PYTHON) -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(PYTHON)
	$(PYTHON) -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(PYTHON)
	$(PYTHON) -m pip install --quiet -e '.[test]'
	touch $@

# The demo plans the example estate against a copy of the bundled fake Partner
# Center state, at a fixed time so that its NCE cancellation windows stay open.
demo: $(VENV)/.installed
	$(PCR) validate desired-state
	cp desired-state/fake-state.json $(VENV)/demo-state.json
	$(PCR) plan --fake $(VENV)/demo-state.json --now $(DEMO_NOW)

lint: $(VENV)/.installed-test
	$(VENV)/bin/ruff check reconciler tests
	$(VENV)/bin/ruff format --check reconciler tests
	$(VENV)/bin/mypy

test: lint
	$(VENV)/bin/pytest -q

# Scale benchmarks (not part of `make test`): writes BENCHMARKS.md and bench.json.
bench: $(VENV)/.installed-test
	$(PYTHON) -m tests.bench.run

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache .bench
