# Data Ethics in Marketing — the two commands a newcomer needs:
#   make lab    set everything up and open the course in JupyterLab
#   make test   set everything up and run every test
# Run `make help` for the rest.

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
export PIP_DISABLE_PIP_VERSION_CHECK := 1
export PATH := $(CURDIR)/$(BIN):$(PATH)
export JUPYTER_PLATFORM_DIRS := 1
export PYDEVD_DISABLE_FILE_VALIDATION := 1

.DEFAULT_GOAL := help
.PHONY: help setup lab test lint data data-check outputs bench grade-demo site lock clean hub test-hub bench-hub

help: ## list the commands
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-11s %s\n", $$1, $$2}'

$(STAMP): requirements.txt constraints.txt pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
	  { echo "error: Python 3.11 or newer is needed (try: make PYTHON=python3.11 …)"; exit 1; }
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -r requirements.txt -c constraints.txt
	$(BIN)/python -m pip install --quiet --no-deps -e .
	@# jsonschema imports rfc3987-syntax (an optional extra) eagerly, and that package compiles
	@# its grammars on import: 1.5-2.5 s in every process that imports nbformat or starts a
	@# Jupyter server. No notebook or Jupyter schema uses the `iri` format it checks.
	$(BIN)/python -m pip uninstall --quiet --yes rfc3987-syntax
	@touch $@

setup: $(STAMP) ## create .venv, install pinned packages and the course package, build missing data
	@$(BIN)/dataethics data build --missing --quiet
	@# JupyterLab without the "official Jupyter news?" question and the update check
	@$(BIN)/python -c 'from dataethics.hub.config import write_lab_overrides; write_lab_overrides()'
	@$(BIN)/jupyter server extension list 2>&1 | grep -q "nbgrader.server_extensions.formgrader.*enabled" || \
	  $(BIN)/jupyter server extension enable --sys-prefix nbgrader.server_extensions.formgrader

lab: setup ## set up, then open the course in JupyterLab (prints the URL)
	@ROOTFLAG=$$([ "$$(id -u)" = 0 ] && echo --allow-root); \
	$(BIN)/jupyter lab --ServerApp.root_dir="$(CURDIR)" \
	  --LabApp.default_url=/lab/tree/course/00-orientation.ipynb $$ROOTFLAG $(LAB_ARGS)

test: setup ## set up, then run the whole test suite (lint, data, notebooks, grading, site, browser)
	$(BIN)/python -m pytest -n 2 $(PYTEST_ARGS)

PROXY := grader/hub/node_modules/.installed
$(PROXY): grader/hub/package.json grader/hub/package-lock.json
	@node -e 'process.exit(Number(process.versions.node.split(".")[0]) >= 20 ? 0 : 1)' 2>/dev/null || \
	  { echo "error: the hub's proxy needs Node.js 20 or newer and npm (apt-get install nodejs npm)"; exit 1; }
	npm ci --prefix grader/hub --no-audit --no-fund --loglevel=error
	@touch $@

hub: setup $(PROXY) ## start the course's JupyterHub (as root; HUB_ARGS="--students ada,bob"): grader/README.md
	$(BIN)/dataethics hub up $(HUB_ARGS)

test-hub: setup $(PROXY) ## the classroom on JupyterHub end to end in Chromium, 30-student rush, faults (root)
	$(BIN)/python -m pytest tests/test_hub.py -m hub $(PYTEST_ARGS)

bench-hub: setup $(PROXY) ## 30 student servers: start time, submission rush, hub and server memory (root)
	$(BIN)/dataethics hub bench

lint: setup ## ruff on code and notebooks
	$(BIN)/ruff check .

data: $(STAMP) ## rebuild every dataset and the manifest
	$(BIN)/dataethics data build

data-check: $(STAMP) ## check dataset files against the manifest
	$(BIN)/dataethics data check

outputs: setup ## re-execute the lessons and store their outputs
	$(BIN)/python -m dataethics.refresh

bench: setup ## time lessons, assignments, the site build and the autograder (vs serial nbgrader)
	$(BIN)/dataethics bench lessons assignments site grading

grade-demo: setup ## invent a class of 30 and run collect → autograde → feedback → report → export
	$(BIN)/dataethics grade demo

site: setup ## build the website into _build/site (offline, from stored outputs)
	$(BIN)/python -m dataethics.site

lock: ## re-resolve the pinned versions (needs network): updates constraints.txt
	rm -rf .venv-lock && $(PYTHON) -m venv .venv-lock
	.venv-lock/bin/python -m pip install --quiet -r requirements.txt
	.venv-lock/bin/python -m pip freeze --exclude-editable | \
	  { echo "# Full resolved environment (Python 3.11, Linux), used as pip constraints."; \
	    echo "# Regenerate with \`make lock\`; do not edit by hand."; cat; } > constraints.txt
	rm -rf .venv-lock

clean: ## remove the virtual environment, build output and grading scratch folders
	rm -rf $(VENV) _build .pytest_cache .ruff_cache grader/demo
	rm -rf assignments/release assignments/submitted assignments/autograded assignments/feedback
	rm -f assignments/gradebook.db
	find . -name __pycache__ -prune -exec rm -rf {} +
