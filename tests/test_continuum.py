"""dolfinx: the anisotropic operator, exactness for affine fields, and MPI = serial."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from mpi4py import MPI

from multiscale.continuum.elasticity import ContinuumSettings, solve_homogeneous
from multiscale.elastic import cubic_stiffness

C = cubic_stiffness(108.0, 62.0, 32.0)
STRAIN = np.array([0.001, -0.0002, 0.0, 0.0004, 0.0, 0.0006])


def test_homogeneous_strain_gives_hookes_law_with_anisotropy(tmp_path):
    r = solve_homogeneous(C, STRAIN, ContinuumSettings(cells=3, length=5.0), MPI.COMM_SELF, tmp_path / "f.xdmf")
    np.testing.assert_allclose(r["stress"], C @ STRAIN, rtol=1e-8, atol=1e-10)
    assert (tmp_path / "f.xdmf").exists() and (tmp_path / "f.h5").exists()
    # not isotropic: a pure shear's stress differs from what (C11 - C12)/2 would give
    assert r["stress"][5] == pytest.approx(32.0 * 0.0006) and (108 - 62) / 2 != 32.0


@pytest.mark.mpi
def test_two_ranks_match_serial(tmp_path, root):
    script = tmp_path / "run.py"
    script.write_text(
        "import json, sys, numpy as np\nfrom mpi4py import MPI\n"
        "from multiscale.continuum.elasticity import ContinuumSettings, solve_homogeneous\n"
        "from multiscale.elastic import cubic_stiffness\n"
        f"r = solve_homogeneous(cubic_stiffness(108.0, 62.0, 32.0), np.array({STRAIN.tolist()}), "
        "ContinuumSettings(cells=4, length=5.0), MPI.COMM_WORLD)\n"
        "if MPI.COMM_WORLD.rank == 0: print(json.dumps(r['stress'].tolist()))\n")
    mpiexec = str(root / ".venv/bin/mpiexec")
    out = subprocess.run([mpiexec, "-n", "2", sys.executable, str(script)], capture_output=True, text=True,
                         timeout=300, check=True).stdout
    par = np.array(json.loads(out.strip().splitlines()[-1]))
    ser = solve_homogeneous(C, STRAIN, ContinuumSettings(cells=4, length=5.0), MPI.COMM_SELF)["stress"]
    np.testing.assert_allclose(par, ser, rtol=1e-9, atol=1e-12)
