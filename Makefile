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
.PHONY: help setup data data-real lint check test reproduce bench lab clean real-check

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

lint: setup ## ruff: lint and format check (configured in pyproject.toml)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

check: lint ## the inner loop: lint, then the tests not marked slow (about 2 minutes)
	$(PY) -m pytest -n 2 --dist loadgroup -m "not slow" tests

test: lint ## lint, unit tests and smoke-profile notebook runs (what CI runs)
	$(PY) -m pytest -n 2 --dist loadgroup tests

lab: setup ## JupyterLab on the notebooks, with this environment as its kernel
	$(VENV)/bin/jupyter lab notebooks

clean: ## remove executed notebooks, run records and generated data (keeps .venv and figures/)
	rm -rf build results data/synthetic

# ---------------------------------------------------------------- benchmarks
# Speed of readers, training, inference, compiled modes and scaling -> results/bench/*.json
# and results/bench/summary.md (printed). Every comparison is measured in the same run.
#   make bench                        all sections, full sizes (about 23 min on 2 cores)
#   make bench BENCH=quick            small sizes, a few minutes (fresh figures for nb 05/06)
#   make bench BENCH_ONLY=read,train  some sections (read metrics train infer compiled scaling)
BENCH      ?= full
BENCH_ONLY ?=
bench: setup ## benchmarks -> results/bench/ (BENCH=quick for a few minutes, BENCH_ONLY=read,...)
	$(PY) -m benchmarks.run $(if $(filter quick,$(BENCH)),--quick) $(if $(BENCH_ONLY),--only $(BENCH_ONLY))

# The real sample as a dataset: a train/validate/test split by shard (60/10/10 of the 80
# local shards) in $(REAL_DIR)/split.json, with links to the shards (nothing is copied).
#   make data-real [REAL_DATA=/path/to/yt8m_real]   (default: $YT8M_REAL_DIR or ../shared/yt8m_real)
REAL_DIR := $(DATA_DIR)/real
data-real: setup ## split the real sample by shard -> data/real (split.json + links; REAL_DATA=folder)
	$(VENV)/bin/yt8m real-data $(REAL_DATA) --out $(REAL_DIR)

# The real-data quality bar: fc vs logistic vs the label prior, trained on the train shards
# of that split, best epoch chosen on validate, scored once on test.
#   make real-check [REAL_DATA=/path/to/yt8m_real] [FRAMEWORK=torch|keras]
FRAMEWORK ?= torch
real-check: data-real ## fc vs logistic on the real split (train/validate/test) -> results/real_check/
	$(VENV)/bin/yt8m real-check $(REAL_DIR) --framework $(FRAMEWORK) --out results/real_check

# ---------------------------------------------------------------- reproduce: notebooks -> figures
# Every notebook runs top to bottom with papermill into $(NB_BUILD)/ (kept out of git); one
# pattern rule per executed notebook, so only what changed reruns (`make -j2 reproduce` runs
# independent notebooks side by side). Training runs are reused from their run records under
# results/ (see yt8m_lib/experiments.py); `make clean` retrains from nothing.
#   make reproduce                          synthetic default profile -> figures/ (committed)
#   make reproduce PROFILE=paper            full-size models on the paper synthetic data
#   make reproduce REAL_DATA=/path/to/yt8m_real    the same notebooks on a folder of real shards
REAL_DATA ?=
NOTEBOOKS := $(sort $(wildcard notebooks/[0-9][0-9]_*.ipynb))
RUN_TAG   := $(PROFILE)$(if $(REAL_DATA),-real)
NB_BUILD  := build/$(RUN_TAG)
EXECUTED  := $(NOTEBOOKS:notebooks/%=$(NB_BUILD)/%)
# figures/ holds the default synthetic run's figures; every other run keeps its own in build/
ifeq ($(PROFILE)$(REAL_DATA),default)
NB_FIGURES := figures
else
NB_FIGURES := $(NB_BUILD)/figures
endif
NB_DATA    := $(if $(REAL_DATA),,$(SYNTH)/manifest.json)
NB_PARAMS  := -p profile $(PROFILE) $(if $(REAL_DATA),-p data_dir $(abspath $(REAL_DATA)))
DATA_LIB   := $(wildcard yt8m_lib/*.py yt8m_lib/data/*.py)
ALL_LIB    := $(wildcard yt8m_lib/*.py yt8m_lib/*/*.py)

reproduce: $(EXECUTED) ## data, then every notebook in order (papermill) -> figures/, build/PROFILE/
	@echo "reproduce: $(words $(EXECUTED)) notebooks executed in $(NB_BUILD)/, figures in $(NB_FIGURES)/"

# A failing cell stops make (non-zero exit); papermill names the cell, and the executed copy
# with the error is kept as NAME.failed.ipynb for JupyterLab.
$(NB_BUILD)/%.ipynb: notebooks/%.ipynb $(NB_DATA) $(VENV)/.installed
	@mkdir -p $(@D) $(NB_FIGURES)
	@echo "== $< ($(RUN_TAG))"; start=$$(date +%s); \
	YT8M_DATA_DIR=$(abspath $(DATA_DIR)) YT8M_FIGURES_DIR=$(abspath $(NB_FIGURES)) \
	$(PY) -m papermill -k python3 --cwd notebooks --no-progress-bar $(NB_PARAMS) \
		$< $(@:.ipynb=.running.ipynb) \
	|| { mv $(@:.ipynb=.running.ipynb) $(@:.ipynb=.failed.ipynb) 2>/dev/null; \
	     echo "make reproduce: $< failed (the cell is named above); executed copy: $(@:.ipynb=.failed.ipynb)" >&2; exit 1; }; \
	mv $(@:.ipynb=.running.ipynb) $@; rm -f $(@:.ipynb=.failed.ipynb); \
	echo "   $< done in $$(( $$(date +%s) - start )) s"

# The data notebook needs only the data layer; the others rerun when any module changes.
$(filter $(NB_BUILD)/01_%,$(EXECUTED)): $(DATA_LIB)
$(filter-out $(NB_BUILD)/01_%,$(EXECUTED)): $(ALL_LIB)
# The comparison reads the run records the two model notebooks write (it trains nothing).
$(filter $(NB_BUILD)/05_%,$(EXECUTED)): $(filter $(NB_BUILD)/03_% $(NB_BUILD)/04_%,$(EXECUTED))
# The autoencoder ablation reuses 04's raw-feature runs (and never trains them concurrently).
$(filter $(NB_BUILD)/02_%,$(EXECUTED)): $(filter $(NB_BUILD)/04_%,$(EXECUTED))
# Scaling measures speed: it runs last, alone, even under `make -j`.
$(filter $(NB_BUILD)/06_%,$(EXECUTED)): $(filter-out $(NB_BUILD)/06_%,$(EXECUTED))
# Scaling also shows the scaling benchmark, which it only reads: measured here when missing
# (`make bench` refreshes it), after the other notebooks so that nothing runs beside it.
SCALING_BENCH := $(or $(YT8M_RESULTS_DIR),results)/bench/scaling.json
$(SCALING_BENCH): | $(VENV)/.installed $(filter-out $(NB_BUILD)/06_%,$(EXECUTED))
	$(PY) -m benchmarks.run --only scaling --quick --no-progress
$(filter $(NB_BUILD)/06_%,$(EXECUTED)): $(SCALING_BENCH)
