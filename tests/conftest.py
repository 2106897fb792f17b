"""Shared fixtures. Tests run the real codes (GPAW, LAMMPS, dolfinx) at tiny sizes."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

from mpi4py import MPI  # noqa: E402,F401  (MPI before lammps and dolfinx)

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def root() -> Path:
    return ROOT


@pytest.fixture
def tiny_dft(tmp_path):
    """DFT settings cheap enough for unit tests (4-atom cells in a few seconds)."""
    from multiscale.dft.calculator import DFTSettings

    return DFTSettings(ecut=250.0, kpt_density=2.0, cache_dir=str(tmp_path / "cache"))
