# DLCV course: one Makefile for students, instructors and CI.
#   make lab      set up .venv (first time only) and open JupyterLab on the course
#   make test     set up and run the whole test suite
#   make bench    per-notebook execution times and the kNN speed-up, as a markdown table
#   make release A=a1_knn_linear          build the student edition of an assignment
#   make grade   A=a1_knn_linear SUBMISSIONS=path/to/folder-or-zip
#                                          autograde a folder of submissions, write feedback and grades

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
PY     := $(BIN)/python
STAMP  := $(VENV)/.dlcv-installed
# nbgrader calls `alembic` and `jupyter` by name: the venv's bin/ must come first on PATH.
export PATH := $(abspath $(BIN)):$(PATH)
export PYTHONHASHSEED := 0
export MPLBACKEND ?= Agg

A ?= a1_knn_linear

.PHONY: setup lab test test-fast bench release grade lint clean sync

setup: $(STAMP)

$(STAMP): requirements.txt pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info[:2] >= (3, 11), "DLCV needs Python >= 3.11, found " + sys.version'
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	$(PY) -m pip install --quiet --no-deps --no-build-isolation -e .
	@touch $(STAMP)

# Extra JupyterLab options, e.g. make lab LAB_ARGS="--no-browser --port 8890". As root (a container),
# JupyterLab refuses to start without --allow-root.
LAB_ARGS ?= $(if $(filter 0,$(shell id -u)),--allow-root,)

lab: setup
	MPLBACKEND= $(BIN)/jupyter lab --notebook-dir=. $(LAB_ARGS)

# Two pytest workers share the two cores: one BLAS/torch thread each avoids oversubscription.
THREADS1 := OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1

test: setup setup-sandbox
	$(THREADS1) $(PY) -m pytest -n 2 --dist loadfile --durations=12

test-fast: setup
	$(PY) -m pytest -m "not notebook and not nbgrader"

# Autograding runs every submission in a bubblewrap sandbox (Debian package bubblewrap).
.PHONY: setup-sandbox
setup-sandbox:
	@command -v bwrap >/dev/null || { \
	  command -v apt-get >/dev/null || { echo "install bubblewrap (bwrap) to autograde"; exit 1; }; \
	  SUDO=$$(test "$$(id -u)" = 0 || echo sudo); \
	  $$SUDO apt-get install -y bubblewrap || { $$SUDO apt-get update && $$SUDO apt-get install -y bubblewrap; }; }

bench: setup
	$(PY) benchmarks/run.py

release: setup
	$(PY) -m autograder release $(A)

grade: setup setup-sandbox
	@test -n "$(SUBMISSIONS)" || { echo "usage: make grade A=$(A) SUBMISSIONS=folder-or-zip"; exit 2; }
	$(PY) -m autograder autograde $(A) $(SUBMISSIONS)
	$(PY) -m autograder feedback $(A)
	$(PY) -m autograder export $(A)

lint: setup
	$(PY) -m ruff check dlcv autograder tests benchmarks

clean:
	rm -rf release submitted autograded feedback exports gradebook.db benchmarks/results

# After editing a lecture's or assignment's .py (the reviewed text), regenerate its .ipynb.
sync: setup
	$(BIN)/jupytext --sync lectures/*.py assignments/*/*.py
