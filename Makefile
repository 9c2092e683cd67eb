# yt8m-thesis: every command a reader needs. `make help` lists them.
# Every target that needs the environment depends on .venv/.installed, so a fresh clone
# needs nothing typed before `make reproduce` or `make test`.

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PROFILE ?= default
SEED   ?= 0
# Where the synthetic dataset of a profile lives (override with YT8M_DATA_DIR).
DATA_DIR ?= data
SYNTH  := $(DATA_DIR)/synthetic/$(PROFILE)
BUILD  := build/$(PROFILE)
# Quieter TensorFlow start-up everywhere.
export TF_CPP_MIN_LOG_LEVEL ?= 2

.DEFAULT_GOAL := help
.PHONY: help setup data test reproduce bench lab clean

help: ## list the targets
	@grep -E '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "  \033[36m%-10s\033[0m %s\n", $$1, $$2}'
	@echo "  variables: PROFILE=smoke|default|paper (now $(PROFILE)), SEED, DATA_DIR"

$(VENV)/.installed: pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test,lab]'
	# the notebooks' kernel is this environment's Python
	$(PY) -m ipykernel install --sys-prefix --name python3 --display-name "Python 3 (yt8m-thesis)" >/dev/null
	@touch $@

setup: $(VENV)/.installed ## create .venv and install the package with test extras (fast when nothing changed)

$(SYNTH)/manifest.json: $(VENV)/.installed
	$(VENV)/bin/yt8m synth $(SYNTH) --profile $(PROFILE) --seed $(SEED)

data: $(SYNTH)/manifest.json ## generate the synthetic dataset of PROFILE (no download)

test: setup ## unit tests and smoke-profile notebook runs
	$(PY) -m pytest -n 2 --dist loadgroup tests

lab: setup ## JupyterLab on the notebooks, with this environment as its kernel
	$(VENV)/bin/jupyter lab notebooks

clean: ## remove executed notebooks, run records and generated data (keeps .venv and figures/)
	rm -rf build results data/synthetic
