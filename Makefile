# The two commands of the README: `make run` and `make test`. Both set everything up first (idempotent).
SHELL := /bin/bash
VENV := .venv
BIN := $(VENV)/bin
export PATH := $(CURDIR)/$(BIN):$(PATH)
# One BLAS thread per process: parallelism comes from Snakemake jobs and MPI ranks.
export OMP_NUM_THREADS := 1
export OPENBLAS_NUM_THREADS := 1
CORES ?= 2
STUDY ?=
PROFILE ?= workflow/profiles/local
SNAKEMAKE = snakemake --workflow-profile $(PROFILE) --cores $(CORES) $(if $(STUDY),--configfile $(STUDY))

.PHONY: setup run convergence dry-run test test-fast lint pins help

help:
	@echo "make run          set up if needed, run the default study (STUDY=config/studies/X.yaml for another)"
	@echo "make test         set up if needed, run the whole test suite"
	@echo "make convergence  the DFT convergence study only (results/<study>/dft/convergence.md)"
	@echo "make dry-run      show the DAG's jobs without running them"
	@echo "make lint         ruff + snakemake --lint"
	@echo "make pins         re-resolve envs/requirements.in into envs/requirements.txt"

setup:
	@bash envs/setup.sh

run: setup
	$(SNAKEMAKE)

convergence: setup
	$(SNAKEMAKE) convergence

dry-run: setup
	$(SNAKEMAKE) -n

test:
	@bash envs/setup.sh --test
	$(BIN)/python -m pytest -v --durations=15 tests

test-fast:
	@bash envs/setup.sh --test
	$(BIN)/python -m pytest -v -m "not slow and not slurm" tests

lint: setup
	$(BIN)/ruff check src tests
	snakemake --lint

# Refresh the pins: resolve the top-level requirements in a scratch venv and freeze them.
pins:
	rm -rf .pins-venv && python3 -m venv .pins-venv
	.pins-venv/bin/pip install -q mpich mpi4py
	PATH=$(CURDIR)/.pins-venv/bin:$$PATH .pins-venv/bin/pip install -q -r envs/requirements.in
	{ echo "# Pinned by: make pins  (resolves envs/requirements.in in a scratch venv; see README)"; \
	  .pins-venv/bin/pip freeze --exclude-editable; } > envs/requirements.txt
	rm -rf .pins-venv
