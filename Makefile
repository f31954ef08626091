# The two commands of the README: `make run` and `make test`.
# Both create .venv (Python 3.12, see .python-version) and install fem-dendrite on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
OUT ?= results/default
NP ?= 2
NOTEBOOKS ?= notebooks

.PHONY: run test test-serial test-mpi demos notebooks venv clean hpc-check

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

## The whole test suite: serial, then the MPI-marked tests on 2 ranks, then the demos and their notebooks.
test: $(STAMP)
	$(BIN)/python -m pytest -q tests
	$(BIN)/mpiexec -n 2 $(BIN)/python -m pytest -q -m mpi -p no:cacheprovider tests
	$(MAKE) demos
	$(MAKE) notebooks

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

## Real SLURM check of hpc/*.sbatch (root; installs slurm-wlm + munge if missing; ~5 min; not part of `make test`).
hpc-check: $(STAMP)
	bash hpc/selftest.sh

clean:
	rm -rf $(VENV) results $(NOTEBOOKS)
