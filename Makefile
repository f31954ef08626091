# The two commands of the README: `make run` and `make test`.
# Both create .venv (Python 3.12, see .python-version) and install fem-dendrite on first use.
# `make docs` builds the documentation site (docs/, Sphinx) into docs/_build/html.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DOCS_STAMP := $(VENV)/.installed-docs
OUT ?= results/default
NP ?= 2
NOTEBOOKS ?= notebooks
NOTEBOOK_FILES := $(patsubst demos/%.py,$(NOTEBOOKS)/%.ipynb,$(wildcard demos/*.py))

.PHONY: run test test-serial test-mpi demos notebooks docs venv clean hpc-check
# a notebook whose execution fails is removed, so that the next `make docs` runs it again
.DELETE_ON_ERROR:

venv: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e ".[test]"
	touch $(STAMP)

## The default simulation on $(NP) MPI ranks, then its pictures.
run: $(STAMP)
	$(BIN)/mpiexec -n $(NP) $(BIN)/fem-dendrite run --out $(OUT)
	$(BIN)/fem-dendrite render $(OUT)

## The whole test suite: serial, then the MPI-marked tests on 2 ranks, then the demos, their notebooks and the docs
## site built from them (warnings as errors, local links checked).
test: $(STAMP)
	$(BIN)/python -m pytest -q tests
	$(BIN)/mpiexec -n 2 $(BIN)/python -m pytest -q -m mpi -p no:cacheprovider tests
	$(MAKE) demos
	$(MAKE) notebooks
	$(MAKE) docs

demos: $(STAMP)
	cd demos && for d in *.py; do echo "== demo $$d (1 rank)"; ../$(BIN)/python $$d || exit 1; \
	  echo "== demo $$d (2 ranks)"; ../$(BIN)/mpiexec -n 2 ../$(BIN)/python $$d || exit 1; done

## Jupyter notebooks of the demos: demos/X.py (jupytext) -> $(NOTEBOOKS)/X.ipynb, executed serially (nbclient,
## from demos/ as `make demos` runs them) so that they open with their outputs and figures inline.
notebooks: $(STAMP)
	mkdir -p $(NOTEBOOKS)
	for d in demos/*.py; do nb=$(CURDIR)/$(NOTEBOOKS)/$$(basename $$d .py).ipynb; echo "== notebook $$nb"; \
	  $(BIN)/jupytext -q --to ipynb --set-kernel python3 --output $$nb $$d || exit 1; \
	  (cd demos && ../$(BIN)/jupyter-execute --inplace $$nb) || exit 1; done

## One notebook from its demo, when it is missing or older than the demo (`make notebooks` re-runs them all).
$(NOTEBOOKS)/%.ipynb: demos/%.py | $(STAMP)
	mkdir -p $(NOTEBOOKS)
	$(BIN)/jupytext -q --to ipynb --set-kernel python3 --output $(abspath $@) $<
	cd demos && ../$(BIN)/jupyter-execute --inplace $(abspath $@)

$(DOCS_STAMP): pyproject.toml $(STAMP)
	$(BIN)/python -m pip install -q -e ".[test,docs]"
	touch $(DOCS_STAMP)

## The documentation site -> docs/_build/html: installs the docs extra on first use (and Graphviz's dot when it runs
## as root), renders the executed notebooks (running only the missing ones), builds from scratch with warnings as
## errors and checks that every local link and image of the built pages resolves.
docs: $(DOCS_STAMP) $(NOTEBOOK_FILES)
	@command -v dot >/dev/null 2>&1 || { if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	  apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q graphviz; \
	  else echo "make docs: Graphviz's dot is missing (apt-get install graphviz)"; exit 1; fi; }
	FEM_DENDRITE_NOTEBOOKS=$(abspath $(NOTEBOOKS)) $(BIN)/sphinx-build -b html -E -W --keep-going -q docs docs/_build/html
	$(BIN)/python docs/check_links.py docs/_build/html

## Real SLURM check of hpc/*.sbatch (root; installs slurm-wlm + munge if missing; ~5 min; not part of `make test`).
hpc-check: $(STAMP)
	bash hpc/selftest.sh

clean:
	rm -rf $(VENV) results $(NOTEBOOKS) docs/_build docs/_generated docs/api/generated docs/demos/*.ipynb
