# The two commands of the README: `make run` and `make test`.
# Both create .venv (Python 3.12, see .python-version) and install fem-dendrite on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
OUT ?= results/default
NP ?= 2

.PHONY: run test test-serial test-mpi demos venv clean hpc-check

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

## The whole test suite: serial, then the MPI-marked tests on 2 ranks, then the demos.
test: $(STAMP)
	$(BIN)/python -m pytest -q tests
	$(BIN)/mpiexec -n 2 $(BIN)/python -m pytest -q -m mpi -p no:cacheprovider tests
	$(MAKE) demos

demos: $(STAMP)
	cd demos && for d in *.py; do echo "== demo $$d (1 rank)"; ../$(BIN)/python $$d || exit 1; \
	  echo "== demo $$d (2 ranks)"; ../$(BIN)/mpiexec -n 2 ../$(BIN)/python $$d || exit 1; done

## Real SLURM check of hpc/*.sbatch (root; installs slurm-wlm + munge if missing; ~5 min; not part of `make test`).
hpc-check: $(STAMP)
	bash hpc/selftest.sh

clean:
	rm -rf $(VENV) results
