# DLCV course: one Makefile for students, instructors and CI.
#   make lab      set up .venv (first time only) and open JupyterLab on the course
#   make test     set up and run the whole test suite (the browser tests included)
#   make test-browser   only the browser tests: JupyterLab driven in Chromium by Playwright
#   make test-loaded    the whole suite while two busy background processes share the cores
#   make bench    per-notebook times (idle and loaded) and the kNN speed-up, as a markdown table
#   make bench-cifar    the CIFAR-10 path: figures beside CS231n's, seconds, grades (needs CIFAR-10)
#   make start   A=a1_knn_linear          a self-learner's working copy: mywork/a1_knn_linear/
#   make release A=a1_knn_linear          build the student edition of an assignment
#   make grade   A=a1_knn_linear SUBMISSIONS=path/to/folder-or-zip [WORKERS=2]
#                                          autograde a folder of submissions, write feedback, grades, report

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

.PHONY: setup setup-browser lab test test-loaded test-fast test-browser bench bench-cifar test-cifar release start grade lint clean sync

setup: $(STAMP)

$(STAMP): requirements.txt pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info[:2] >= (3, 11), "DLCV needs Python >= 3.11, found " + sys.version'
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	$(PY) -m pip install --quiet --no-deps --no-build-isolation -e .
	@touch $(STAMP)

# The browser tests (tests/browser) drive JupyterLab in Debian's Chromium through the Playwright
# package (pinned in requirements.txt); Playwright's own browser download is not used. Installs
# only what is missing: chromium with apt-get (as root, or through sudo), playwright with pip.
CHROMIUM ?= /usr/bin/chromium
export DLCV_CHROMIUM := $(CHROMIUM)
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)

setup-browser: setup
	@test -x $(CHROMIUM) || { \
	  command -v apt-get >/dev/null || { echo "install Chromium at $(CHROMIUM) for the browser tests"; exit 1; }; \
	  echo "$(CHROMIUM) is missing: installing Debian's chromium with apt-get"; \
	  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y chromium \
	  || { $(SUDO) apt-get update && \
	       $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y chromium; } \
	  || { echo "could not install chromium: run 'sudo apt-get install chromium'"; exit 1; }; }
	@$(PY) -c 'import playwright.sync_api' 2>/dev/null || \
	  $(PY) -m pip install --quiet "$$(grep -E '^playwright==' requirements.txt)"

# Extra JupyterLab options, e.g. make lab LAB_ARGS="--no-browser --port 8890". As root (a container),
# JupyterLab refuses to start without --allow-root.
LAB_ARGS ?= $(if $(filter 0,$(shell id -u)),--allow-root,)

lab: setup
	MPLBACKEND= $(BIN)/jupyter lab --notebook-dir=. $(LAB_ARGS)

# Two pytest workers share the two cores: one BLAS/torch thread each avoids oversubscription.
THREADS1 := OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1

SCREENSHOTS_NOTE := @echo "Browser tests' screenshots (to look at): tests/browser/screenshots/"

PYTEST_ALL := $(THREADS1) $(PY) -m pytest -n 2 --dist loadfile --durations=12

test: setup setup-sandbox setup-browser setup-postgres
	$(PYTEST_ALL)
	$(SCREENSHOTS_NOTE)

# The same suite on a busy machine: two background processes keep both cores busy meanwhile.
test-loaded: setup setup-sandbox setup-browser setup-postgres
	$(PY) benchmarks/load.py --procs 2 -- env $(PYTEST_ALL)
	$(SCREENSHOTS_NOTE)

test-fast: setup
	$(PY) -m pytest -m "not notebook and not nbgrader and not browser"

# -s: each browser test prints its timings and the paths of its screenshots as it goes.
test-browser: setup setup-browser
	$(THREADS1) $(PY) -m pytest -m browser -s --durations=12 tests/browser
	$(SCREENSHOTS_NOTE)

# Autograding runs every submission in a bubblewrap sandbox (Debian package bubblewrap).
.PHONY: setup-sandbox
setup-sandbox:
	@command -v bwrap >/dev/null || { \
	  command -v apt-get >/dev/null || { echo "install bubblewrap (bwrap) to autograde"; exit 1; }; \
	  SUDO=$$(test "$$(id -u)" = 0 || echo sudo); \
	  $$SUDO apt-get install -y bubblewrap || { $$SUDO apt-get update && $$SUDO apt-get install -y bubblewrap; }; }

# A PostgreSQL gradebook is tested against a throwaway local cluster (tests/autograder_helpers.py):
# Debian's postgresql package (initdb, pg_ctl; about 15 s to install) and psycopg from PyPI. Without
# them that one test is skipped, saying why, so a failed install only warns. psycopg is pinned in
# requirements.txt.
.PHONY: setup-postgres
setup-postgres: setup
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null || { \
	  command -v apt-get >/dev/null || { echo "no apt-get: the PostgreSQL gradebook test will be skipped"; exit 0; }; \
	  SUDO=$$(test "$$(id -u)" = 0 || echo sudo); \
	  $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends postgresql \
	  || { $$SUDO apt-get update && \
	       $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends postgresql; } \
	  || echo "could not install postgresql: the PostgreSQL gradebook test will be skipped"; }

bench: setup
	$(PY) benchmarks/run.py

# CIFAR-10's figures beside CS231n's: lectures 01-02 run, a1-a3 graded through the real path
# (needs CIFAR-10 in data/cifar-10-batches-py or $$DLCV_DATA; about half an hour on 2 cores).
bench-cifar: setup setup-sandbox
	$(PY) benchmarks/cifar.py

# The same run as a test (full marks, blank 0, every goal reached); `make test` skips it without CIFAR-10.
test-cifar: setup setup-sandbox
	$(PY) -m pytest tests/test_cifar.py

# Never over an edited notebook of release/A/: FORCE=1 moves it to mywork/backups/ first.
release: setup
	$(PY) -m autograder release $(A) $(if $(FORCE),--force,)

# A self-learner's working copy of an assignment: mywork/A/A.ipynb (make clean leaves it alone).
start: setup
	$(PY) -m autograder start $(A)

# WORKERS: sandboxed executions at a time (the gradebook is written by one process).
WORKERS ?= 1

grade: setup setup-sandbox
	@test -n "$(SUBMISSIONS)" || { echo "usage: make grade A=$(A) SUBMISSIONS=folder-or-zip [WORKERS=2]"; exit 2; }
	$(PY) -m autograder autograde $(A) $(SUBMISSIONS) --workers $(WORKERS)
	$(PY) -m autograder feedback $(A)
	$(PY) -m autograder export $(A)

lint: setup
	$(PY) -m ruff check dlcv autograder tests benchmarks lectures assignments

# Removes what release, autograde, feedback, export and bench make again; never an edited
# notebook (of release/ or mywork/), students' submissions (submitted/) or the gradebook.
clean:
	$(PYTHON) -m autograder.workspace clean

# After editing a lecture's or assignment's .py (the reviewed text), regenerate its .ipynb.
sync: setup
	$(PY) assignments/given_code.py
	$(BIN)/jupytext --sync lectures/*.py $(filter-out %/hidden_tests.py,$(wildcard assignments/*/*.py))
