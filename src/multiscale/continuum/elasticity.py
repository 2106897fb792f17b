"""Anisotropic linear elasticity in dolfinx (0.11).

The stiffness is a 6x6 Voigt matrix (GPa, engineering shear), so cubic constants from the MD stage enter as
they are (optionally rotated to a specimen orientation). Lengths in nm, displacements in nm, stresses in GPa.
The communicator is always passed explicitly.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from multiscale.config import settings_from_dict


@dataclass
class ContinuumSettings:
    cells: int = 6
    length: float = 10.0  # nm

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ContinuumSettings:
        return settings_from_dict(cls, d, "continuum")


def import_dolfinx():
    import dolfinx
    import dolfinx_solver  # noqa: F401  (must precede dolfinx)
    from mpi4py import MPI  # noqa: F401  (first: MPI before PETSc)

    return dolfinx


def voigt_strain(u, dim: int = 3):
    import ufl

    e = ufl.sym(ufl.grad(u))
    return ufl.as_vector([e[0, 0], e[1, 1], e[2, 2], 2 * e[1, 2], 2 * e[0, 2], 2 * e[0, 1]])


def stress(u, stiffness):
    """Cauchy stress tensor (UFL) of displacement ``u`` for a Voigt stiffness (UFL matrix/Constant)."""
    import ufl

    s = ufl.dot(stiffness, voigt_strain(u))
    return ufl.as_tensor([[s[0], s[5], s[4]], [s[5], s[1], s[3]], [s[4], s[3], s[2]]])


def rotate_stiffness(c: np.ndarray, rotation: np.ndarray) -> np.ndarray:
    """Rotate a 6x6 Voigt stiffness (engineering shear) by the 3x3 rotation ``rotation`` (Bond matrix)."""
    r = np.asarray(rotation, float)
    idx = ((0, 0), (1, 1), (2, 2), (1, 2), (0, 2), (0, 1))
    c4 = np.zeros((3, 3, 3, 3))
    for a, (i, j) in enumerate(idx):
        for b, (k, m) in enumerate(idx):
            for (p, q) in {(i, j), (j, i)}:
                for (s, t) in {(k, m), (m, k)}:
                    c4[p, q, s, t] = c[a, b]
    c4r = np.einsum("ip,jq,kr,ls,pqrs->ijkl", r, r, r, r, c4)
    return np.array([[c4r[i, j, k, m] for (k, m) in idx] for (i, j) in idx])


def solve_homogeneous(stiffness: np.ndarray, strain: np.ndarray, settings: ContinuumSettings, comm,
                      xdmf: str | Path | None = None) -> dict[str, Any]:
    """Block [0, L]^3 with u = eps . x prescribed on its whole boundary; returns the volume-averaged stress.

    An affine displacement is in the P1 space, so the discrete solution is exact up to solver tolerance: the
    returned stress is the continuum model's answer for the homogeneous strain (compared with MD's).
    """
    dolfinx = import_dolfinx()
    import ufl
    from dolfinx import fem, mesh
    from dolfinx.fem.petsc import LinearProblem

    from multiscale.elastic import voigt_to_tensor

    L, n = settings.length, settings.cells
    msh = mesh.create_box(comm, [np.zeros(3), np.full(3, L)], [n, n, n], cell_type=mesh.CellType.tetrahedron)
    V = fem.functionspace(msh, ("Lagrange", 1, (3,)))
    eps = voigt_to_tensor(strain)
    u_bc = fem.Function(V)
    u_bc.interpolate(lambda x: eps @ x)
    msh.topology.create_connectivity(2, 3)
    facets = mesh.exterior_facet_indices(msh.topology)
    bc = fem.dirichletbc(u_bc, fem.locate_dofs_topological(V, 2, facets))
    C = fem.Constant(msh, np.asarray(stiffness, dtype=dolfinx.default_scalar_type))
    u, v = ufl.TrialFunction(V), ufl.TestFunction(V)
    a = ufl.inner(stress(u, C), ufl.sym(ufl.grad(v))) * ufl.dx
    zero = fem.Constant(msh, np.zeros(3, dtype=dolfinx.default_scalar_type))
    Lform = ufl.inner(zero, v) * ufl.dx
    problem = LinearProblem(a, Lform, bcs=[bc], petsc_options_prefix="multiscale_homog_",
                            petsc_options={"ksp_type": "cg", "pc_type": "gamg", "ksp_rtol": 1e-12,
                                           "ksp_atol": 1e-14})
    uh = problem.solve()
    sig = stress(uh, C)
    vol = comm.allreduce(fem.assemble_scalar(fem.form(fem.Constant(msh, 1.0) * ufl.dx)))
    avg = np.array([comm.allreduce(fem.assemble_scalar(fem.form(sig[i, j] * ufl.dx))) / vol
                    for i, j in ((0, 0), (1, 1), (2, 2), (1, 2), (0, 2), (0, 1))])
    if xdmf is not None:
        from dolfinx.io import XDMFFile

        W = fem.functionspace(msh, ("DG", 0, (3, 3)))
        sigma_h = fem.Function(W, name="stress_GPa")
        sigma_h.interpolate(fem.Expression(sig, W.element.interpolation_points))
        uh.name = "displacement_nm"
        with XDMFFile(comm, str(xdmf), "w") as f:
            f.write_mesh(msh)
            f.write_function(uh)
            f.write_function(sigma_h)
    n_cells = msh.topology.index_map(3).size_global
    return {"stress": avg, "mesh": {"cells": n_cells, "divisions": n, "length_nm": L, "element": "P1 tetrahedra"}}
