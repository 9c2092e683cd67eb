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
# where executed notebooks (and figures of non-committed runs) go
BUILD_DIR ?= build
# Quieter TensorFlow start-up everywhere.
export TF_CPP_MIN_LOG_LEVEL ?= 2

.DEFAULT_GOAL := help
.PHONY: help setup data data-real lint check test reproduce bench bench-tables lab clean real-check tune

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

# ---------------------------------------------------------------- the book
# The executed notebooks of `make reproduce` (every set and profile in $(BUILD_DIR)) as a static
# HTML site with their figures and tables; a failed notebook is left out and named (docs/book.md).
# ---------------------------------------------------------------- a lent GPU machine
# What benchmarks/gpu_check.sh installs there (no package index, no TensorFlow): wheels for
# the machines' Python, in .whl/ (carried by the device tool: git does not ignore it).
GPU_PYTHON ?= 3.12
GPU_WHEELS := crc32c keras==$$($(PY) -c 'from importlib.metadata import version; print(version("keras"))') \
	absl-py rich markdown-it-py mdurl pygments namex h5py optree ml-dtypes
.PHONY: gpu-wheels
gpu-wheels: setup ## wheels a lent GPU machine lacks (crc32c, gputil, Keras for Keras on torch) -> .whl/
	rm -rf .whl && mkdir -p .whl
	$(PY) -m pip download -q --no-deps --only-binary=:all: --dest .whl \
		--python-version $(GPU_PYTHON) --platform manylinux_2_28_x86_64 \
		--platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 $(GPU_WHEELS)
	$(PY) -m pip wheel -q --no-deps --wheel-dir .whl gputil
	@du -sh .whl

.PHONY: book
book: setup ## the executed notebooks in BUILD_DIR as a web site -> BUILD_DIR/book/index.html
	$(PY) -m yt8m_lib.book --build $(BUILD_DIR) --out $(BUILD_DIR)/book

# ---------------------------------------------------------------- benchmarks
# Speed of readers, training, inference, compiled modes and scaling -> results/bench/*.json
# and results/bench/summary.md (printed). Every comparison is measured in the same run.
#   make bench                        all sections, full sizes (about an hour on 2 cores with keras_torch)
#   make bench BENCH=quick            small sizes, a few minutes (fresh figures for nb 05/06)
#   make bench BENCH_ONLY=read,train  some sections (read metrics train infer compiled scaling)
BENCH      ?= full
BENCH_ONLY ?=
bench: setup ## benchmarks -> results/bench/ (BENCH=quick for a few minutes, BENCH_ONLY=read,...)
	$(PY) -m benchmarks.run $(if $(filter quick,$(BENCH)),--quick) $(if $(BENCH_ONLY),--only $(BENCH_ONLY))

bench-tables: setup ## benchmarks/records/tables.md from the committed benchmark records
	$(PY) -m benchmarks.tables

# The real sample as a dataset: a train/validate/test split by shard (60/10/10 of the 80
# local shards) in $(REAL_DIR)/split.json, with links to the shards (nothing is copied).
#   make data-real [REAL_DATA=/path/to/yt8m_real]   (default: $YT8M_REAL_DIR or ../shared/yt8m_real)
REAL_DIR := $(DATA_DIR)/real
data-real: setup ## split the real sample by shard -> data/real (split.json + links; REAL_DATA=folder)
	$(VENV)/bin/yt8m real-data $(REAL_SOURCE) --out $(REAL_DIR)

# The real-data quality bar: fc vs logistic vs the label prior, trained on the train shards
# of that split, best epoch chosen on validate, scored once on test.
#   make real-check [REAL_DATA=/path/to/yt8m_real] [FRAMEWORK=torch|keras]
FRAMEWORK ?= torch
real-check: data-real ## fc vs logistic on the real split (train/validate/test) -> results/real_check/
	$(VENV)/bin/yt8m real-check $(REAL_DIR) --framework $(FRAMEWORK) --out results/real_check

# ---------------------------------------------------------------- reproduce: notebooks -> figures
# Every notebook runs top to bottom with papermill into build/ (kept out of git); one pattern
# rule per executed notebook, so only what changed reruns (`make -j2 reproduce` runs
# independent notebooks side by side). Training runs are reused from their run records under
# results/ (see yt8m_lib/experiments.py); `make clean` retrains from nothing.
#
# Two sets of chapters:
#   synthetic  every notebook on the synthetic data of PROFILE: the capacity checks
#              -> build/synthetic/PROFILE/, figures/synthetic/ (committed) for the default
#   real       the data, model, comparison and learning-curve chapters on the real sample
#              (REAL_DATA, $YT8M_REAL_DIR or ../shared/yt8m_real, split into data/real by
#              `make data-real`) with the `real` profile (PROFILE=smoke: smoke)
#              -> build/real/PROFILE/, figures/real/ (committed) for the real profile
#   make reproduce                 both (the real set only when the sample is found)
#   make reproduce-synthetic       the synthetic set alone;  make reproduce-real  the real set
#   make reproduce PROFILE=smoke   everything at smoke size, in a few minutes
REAL_DATA   ?=
REAL_SOURCE := $(or $(REAL_DATA),$(YT8M_REAL_DIR),$(wildcard ../shared/yt8m_real))
REAL_PROFILE := $(if $(filter default paper,$(PROFILE)),real,$(PROFILE))
NOTEBOOKS   := $(sort $(wildcard notebooks/[0-9][0-9]_*.ipynb))
# distributed scaling measures speed (synthetic data only); learning curves are a real-data
# chapter
REAL_NOTEBOOKS  := $(filter-out notebooks/06_%,$(NOTEBOOKS))
SYNTH_NOTEBOOKS := $(filter-out notebooks/07_%,$(NOTEBOOKS))
# the models of the real chapters 03, 04, 05 and 08 (they skip those the data cannot feed)
REAL_MODELS  ?= logistic,moe,fc,gated_moe
CURVE_MODELS ?= logistic,moe,fc
# the frameworks of the learning curves (07)
CURVE_FRAMEWORKS ?= torch,keras
# the models 03 also trains as Keras on torch, the third column of 05 (empty: all of
# REAL_MODELS; that column trains the mixtures far slower than Keras on TensorFlow)
KERAS_TORCH_MODELS ?=
comma := ,
models_yaml = $(if $(1),-y "models: [$(subst $(comma),$(comma) ,$(1))]")
SYNTH_BUILD := $(BUILD_DIR)/synthetic/$(PROFILE)
REAL_BUILD  := $(BUILD_DIR)/real/$(REAL_PROFILE)
SYNTH_DONE  := $(SYNTH_NOTEBOOKS:notebooks/%=$(SYNTH_BUILD)/%)
REAL_DONE   := $(REAL_NOTEBOOKS:notebooks/%=$(REAL_BUILD)/%)
SYNTH_FIGURES := $(if $(filter default,$(PROFILE)),figures/synthetic,$(SYNTH_BUILD)/figures)
REAL_FIGURES  := $(if $(filter real,$(REAL_PROFILE)),figures/real,$(REAL_BUILD)/figures)
DATA_LIB   := $(wildcard yt8m_lib/*.py yt8m_lib/data/*.py)
ALL_LIB    := $(wildcard yt8m_lib/*.py yt8m_lib/*/*.py)

.PHONY: reproduce-synthetic reproduce-real
REAL_HINT := reproduce: no real sample found, so only the synthetic chapters ran. The thesis's results need one: REAL_DATA=/path/to/yt8m_real make reproduce (video-level shards + vocabulary.csv; see data/README.md for yt8m download)
reproduce: reproduce-synthetic $(if $(REAL_SOURCE),reproduce-real) ## the synthetic chapters, and the real ones when the real sample is found
	@$(if $(REAL_SOURCE),true,echo "$(REAL_HINT)")

reproduce-synthetic: $(SYNTH_DONE) ## the synthetic chapters (capacity checks) -> figures/synthetic/
	@echo "reproduce: $(words $^) synthetic notebooks in $(SYNTH_BUILD)/, figures in $(SYNTH_FIGURES)/"

reproduce-real: $(REAL_DONE) ## the real-data chapters -> figures/real/ (REAL_DATA=folder)
	@echo "reproduce: $(words $^) real-data notebooks in $(REAL_BUILD)/, figures in $(REAL_FIGURES)/"

$(REAL_DIR)/split.json: | $(VENV)/.installed
	$(VENV)/bin/yt8m real-data $(REAL_SOURCE) --out $(REAL_DIR)

# A failing cell stops make (non-zero exit); papermill names the cell, and the executed copy
# with the error is kept as NAME.failed.ipynb for JupyterLab.
#   $(call run_notebook,FIGURES,PARAMETERS)
define run_notebook
	@mkdir -p $(@D) $(1)
	@echo "== $< -> $@"; start=$$(date +%s); \
	YT8M_DATA_DIR=$(abspath $(DATA_DIR)) YT8M_FIGURES_DIR=$(abspath $(1)) \
	$(PY) -m papermill -k python3 --cwd notebooks --no-progress-bar $(2) \
		$< $(@:.ipynb=.running.ipynb) \
	|| { mv $(@:.ipynb=.running.ipynb) $(@:.ipynb=.failed.ipynb) 2>/dev/null; \
	     echo "make reproduce: $< failed (the cell is named above); executed copy: $(@:.ipynb=.failed.ipynb)" >&2; exit 1; }; \
	mv $(@:.ipynb=.running.ipynb) $@; rm -f $(@:.ipynb=.failed.ipynb); \
	echo "   $< done in $$(( $$(date +%s) - start )) s"
endef

$(SYNTH_BUILD)/%.ipynb: notebooks/%.ipynb $(SYNTH)/manifest.json $(VENV)/.installed
	$(call run_notebook,$(SYNTH_FIGURES),-p profile $(PROFILE))

$(REAL_BUILD)/%.ipynb: notebooks/%.ipynb $(REAL_DIR)/split.json $(VENV)/.installed
	$(call run_notebook,$(REAL_FIGURES),-p profile $(REAL_PROFILE) -p data_dir $(abspath $(REAL_DIR)) \
		$(call models_yaml,$(if $(filter notebooks/07_%,$<),$(CURVE_MODELS),$(if $(filter-out notebooks/01_% notebooks/02_%,$<),$(REAL_MODELS)))) \
		$(if $(filter notebooks/07_%,$<),-y "frameworks: [$(subst $(comma),$(comma) ,$(CURVE_FRAMEWORKS))]") \
		$(if $(and $(filter notebooks/03_%,$<),$(KERAS_TORCH_MODELS)),-y "keras_torch_models: [$(subst $(comma),$(comma) ,$(KERAS_TORCH_MODELS))]"))

# The order within each set. The data notebook needs only the data layer; the others rerun
# when any module changes. The comparison and the genre chapter read the run records of the
# two model notebooks (the genre chapter re-scores them and trains only its genre heads); the
# autoencoder ablation reuses 04's raw-feature runs (and never trains them concurrently);
# scaling measures speed, so it runs last, alone.
define chapter_order
$(filter $(1)/01_%,$(2)): $(DATA_LIB)
$(filter-out $(1)/01_%,$(2)): $(ALL_LIB)
$(filter $(1)/05_%,$(2)): $(filter $(1)/03_% $(1)/04_%,$(2))
$(filter $(1)/08_%,$(2)): $(filter $(1)/03_% $(1)/04_%,$(2))
$(filter $(1)/02_%,$(2)): $(filter $(1)/04_%,$(2))
$(filter $(1)/06_%,$(2)): $(filter-out $(1)/06_%,$(2))
$(filter $(1)/07_%,$(2)): $(filter $(1)/04_%,$(2))
endef
$(eval $(call chapter_order,$(SYNTH_BUILD),$(SYNTH_DONE)))
$(eval $(call chapter_order,$(REAL_BUILD),$(REAL_DONE)))
# on real data 04 runs the tuning protocol (in PyTorch) that 03 then reads
$(filter $(REAL_BUILD)/03_%,$(REAL_DONE)): $(filter $(REAL_BUILD)/04_%,$(REAL_DONE))
# Scaling also shows the scaling benchmark, which it only reads: measured here when missing
# (`make bench` refreshes it), after the other notebooks so that nothing runs beside it.
SCALING_BENCH := $(or $(YT8M_RESULTS_DIR),results)/bench/scaling.json
$(SCALING_BENCH): | $(VENV)/.installed $(filter-out $(SYNTH_BUILD)/06_%,$(SYNTH_DONE))
	$(PY) -m benchmarks.run --only scaling --quick --no-progress
$(filter $(SYNTH_BUILD)/06_%,$(SYNTH_DONE)): $(SCALING_BENCH)
