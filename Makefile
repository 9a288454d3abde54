# Two commands do all the set-up on a fresh machine (Python 3.11 and pip):
#   make report   run the default scenario on bundled data and write the HTML reports
#   make test     run the whole test suite
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
PARAMS ?= params/retail.yaml
PYTEST_ARGS ?=

.PHONY: report test test-fast lab bench clean-venv

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

report: $(STAMP)
	$(BIN)/clvkit report $(PARAMS)

test: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

test-fast: $(STAMP)
	$(BIN)/python -m pytest -m "not slow and not spark and not browser" $(PYTEST_ARGS)

# the report notebooks ship inside the package (clvkit report runs them from any folder);
# --allow-root only when running as root (a container), where Jupyter refuses to start without it
lab: $(STAMP)
	$(BIN)/jupyter lab $(if $(filter 0,$(shell id -u)),--allow-root) src/clvkit/notebooks/

bench: $(STAMP)  # long: each script measures side by side and prints its table for bench/RESULTS.md
	set -e; for script in bench/bench_*.py; do echo "== $$script"; $(BIN)/python $$script; done

clean-venv:
	rm -rf $(VENV)
