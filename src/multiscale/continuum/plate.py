"""The plate with a hole in dolfinx: O-grid mesh graded towards the hole, plane-strain 2D and 3D solves.

Mesh: 4 n_theta equal angles around the hole; each ray runs from the hole (radius R) to the square boundary
(half-width a) with n_r radial divisions whose lengths grow geometrically by ``grading`` away from the hole.
Quadrilaterals in 2D; the same quadrilaterals extruded into hexahedra in 3D. Quadratic geometry: the outer
boundary is exact (its corners are vertices: n_theta is even) and the hole's edges are parabolic arcs through
three points of the circle, so the hole has no artificial corners (a polygonal hole has re-entrant corners
whose stress singularities make the point stress at the hole diverge under refinement).

Units: nm and GPa (displacements in nm). The stiffness is a 6x6 Voigt matrix in the specimen frame.
Plane strain uses its (xx, yy, xy) block; sigma_zz and the out-of-plane shears follow from the full matrix.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from multiscale.config import settings_from_dict
from multiscale.continuum.elasticity import import_dolfinx
from multiscale.errors import ConfigError

IN_PLANE = [0, 1, 5]  # Voigt indices of (xx, yy, xy)


@dataclass
class MeshSettings:
    n_theta: int = 24       # divisions per quarter of the hole (even: the square's corners are vertices)
    n_r: int = 16           # radial divisions from the hole to the outer boundary
    grading: float = 1.2    # ratio of successive radial element lengths (> 1: finer at the hole)
    degree: int = 2         # Lagrange degree of the displacement
    layers: int = 2         # element layers through the thickness in 3D

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> MeshSettings:
        return settings_from_dict(cls, d, "continuum.mesh")


def _rho(s: MeshSettings, j: np.ndarray) -> np.ndarray:
    """Radial parameter in [0, 1] of (possibly fractional) ring index j: geometric grading by ``s.grading``."""
    g = float(s.grading)
    return j / s.n_r if abs(g - 1) < 1e-12 else (g**j - 1) / (g**s.n_r - 1)


def _o_grid_point(theta: np.ndarray, rho: np.ndarray, half: float, radius: float) -> np.ndarray:
    ray = np.column_stack([np.cos(theta), np.sin(theta)])
    inner = radius * ray
    outer = half * ray / np.max(np.abs(ray), axis=1)[:, None]
    return inner + rho[:, None] * (outer - inner)


def o_grid(half: float, radius: float, s: MeshSettings, thickness: float | None = None
           ) -> tuple[np.ndarray, np.ndarray, str]:
    """Nodes and cells (dolfinx order) of the O-grid with quadratic geometry: every node, edge midpoints
    included, is placed by the smooth (theta, rho) map, so hole edges are arcs (no corners on the hole)."""
    import basix

    if s.n_theta % 2:
        raise ConfigError(f"continuum.mesh.n_theta = {s.n_theta} must be even (the square's corners are vertices). "
                          f"Fix: use an even number, e.g. {s.n_theta + 1}")
    m = 4 * s.n_theta
    nz = 0 if thickness is None else s.layers
    cell = "quadrilateral" if thickness is None else "hexahedron"
    ref = basix.create_element(basix.ElementFamily.P, basix.CellType[cell], 2,
                               basix.LagrangeVariant.equispaced).points  # node order of the coordinate element
    half_idx = np.rint(2 * ref).astype(int)  # 0, 1, 2 along each reference axis
    # node lattice: K (angle, periodic 2m), J (ring, 2 n_r + 1), L (layer, 2 nz + 1)
    K, J = np.meshgrid(np.arange(2 * m), np.arange(2 * s.n_r + 1), indexing="xy")
    xy = _o_grid_point(np.pi * K.ravel() / m, _rho(s, J.ravel() / 2), half, radius)  # index J * 2m + K
    if thickness is None:
        x = xy
    else:
        z = np.linspace(0.0, thickness, 2 * nz + 1)
        x = np.vstack([np.column_stack([xy, np.full(len(xy), zi)]) for zi in z])
    n_plane = len(xy)
    cells = []
    for layer in range(max(nz, 1)):
        for j in range(s.n_r):
            for k in range(m):
                kk = (2 * k + half_idx[:, 0]) % (2 * m)
                jj = 2 * j + half_idx[:, 1]
                ll = 2 * layer + half_idx[:, 2] if thickness is not None else 0
                cells.append(ll * n_plane + jj * 2 * m + kk)
    return x, np.asarray(cells, dtype=np.int64), cell


def plate_mesh(comm, half: float, radius: float, s: MeshSettings, thickness: float | None = None):
    """dolfinx mesh of the plate: 2D quadrilaterals, or hexahedra through ``thickness`` (nm) if given."""
    import_dolfinx()
    import basix.ufl
    import ufl
    from dolfinx import mesh

    x, cells, cell = o_grid(half, radius, s, thickness)
    gdim = x.shape[1]
    if comm.rank != 0:
        x, cells = np.empty((0, gdim)), np.empty((0, cells.shape[1]), dtype=np.int64)
    domain = ufl.Mesh(basix.ufl.element("Lagrange", cell, 2, shape=(gdim,)))
    return mesh.create_mesh(comm, cells, domain, x)


def plane_strain_stiffness(c: np.ndarray) -> np.ndarray:
    return np.asarray(c)[np.ix_(IN_PLANE, IN_PLANE)]


@dataclass
class PlateProblem:
    """Linear elasticity of the plate: displacement ``boundary(x)`` on the outer square, free hole."""

    msh: Any
    degree: int
    stiffness: np.ndarray  # 6x6 Voigt (GPa), specimen frame

    def __post_init__(self) -> None:
        dolfinx = import_dolfinx()
        import ufl
        from dolfinx import fem

        self.dim = self.msh.geometry.dim
        self.V = fem.functionspace(self.msh, ("Lagrange", self.degree, (self.dim,)))
        c = plane_strain_stiffness(self.stiffness) if self.dim == 2 else self.stiffness
        self.C = fem.Constant(self.msh, np.asarray(c, dtype=dolfinx.default_scalar_type))
        self.u_bc = fem.Function(self.V)
        u, v = ufl.TrialFunction(self.V), ufl.TestFunction(self.V)
        self.a = ufl.inner(ufl.dot(self.C, self.strain(u)), self.strain(v)) * ufl.dx
        zero = fem.Constant(self.msh, np.zeros(self.dim, dtype=dolfinx.default_scalar_type))
        self.L = ufl.inner(zero, v) * ufl.dx

    def strain(self, u):
        import ufl

        e = ufl.sym(ufl.grad(u))
        if self.dim == 2:
            return ufl.as_vector([e[0, 0], e[1, 1], 2 * e[0, 1]])
        return ufl.as_vector([e[0, 0], e[1, 1], e[2, 2], 2 * e[1, 2], 2 * e[0, 2], 2 * e[0, 1]])

    def stress_voigt(self, u, stiffness: np.ndarray):
        """All six stress components (UFL vector) of ``u``; plane strain has eps_zz = gamma_xz = gamma_yz = 0."""
        import ufl

        c = np.asarray(stiffness)
        cols = IN_PLANE if self.dim == 2 else list(range(6))
        e = self.strain(u)
        return ufl.as_vector([sum(float(c[i, j]) * e[k] for k, j in enumerate(cols)) for i in range(6)])

    def outer_dofs(self, half: float, tol: float):
        from dolfinx import fem, mesh

        fdim = self.dim - 1

        def on_square(x):
            return np.isclose(np.abs(x[0]), half, atol=tol) | np.isclose(np.abs(x[1]), half, atol=tol)

        facets = mesh.locate_entities_boundary(self.msh, fdim, on_square)
        return fem.locate_dofs_topological(self.V, fdim, facets), facets

    def solve(self, boundary, half: float, stiffness: np.ndarray | None = None, rtol: float = 1e-12):
        """Solve with u = boundary(x) on the outer square (and u_z = 0 on the z faces in 3D)."""
        import dolfinx
        from dolfinx import fem, mesh
        from dolfinx.fem.petsc import LinearProblem

        if stiffness is not None:
            c = plane_strain_stiffness(stiffness) if self.dim == 2 else stiffness
            self.C.value[:] = c
        tol = 1e-6 * half
        dofs, _ = self.outer_dofs(half, tol)
        self.u_bc.interpolate(boundary)
        bcs = [fem.dirichletbc(self.u_bc, dofs)]
        if self.dim == 3:
            zmax = self.msh.comm.allreduce(float(self.msh.geometry.x[:, 2].max(initial=-np.inf)), op=_mpi_max())
            faces = mesh.locate_entities_boundary(
                self.msh, 2, lambda x: np.isclose(x[2], 0.0, atol=tol) | np.isclose(x[2], zmax, atol=tol))
            zdofs = fem.locate_dofs_topological(self.V.sub(2), 2, faces)
            bcs.append(fem.dirichletbc(dolfinx.default_scalar_type(0.0), zdofs, self.V.sub(2)))
        problem = LinearProblem(self.a, self.L, bcs=bcs, petsc_options_prefix=f"multiscale_plate{self.dim}d_",
                                petsc_options={"ksp_type": "cg", "pc_type": "gamg", "ksp_rtol": rtol,
                                               "ksp_atol": 1e-16, "ksp_max_it": 5000,
                                               "ksp_error_if_not_converged": True})
        return problem.solve()

    def stress_function(self, uh, stiffness: np.ndarray | None = None):
        """Stress (6 Voigt components, GPa) interpolated into discontinuous Lagrange of the same degree."""
        from dolfinx import fem

        c = self.stiffness if stiffness is None else stiffness
        W = fem.functionspace(self.msh, ("Discontinuous Lagrange", self.degree, (6,)))
        s = fem.Function(W, name="stress_GPa")
        s.interpolate(fem.Expression(self.stress_voigt(uh, c), W.element.interpolation_points))
        return s


def _mpi_max():
    from mpi4py import MPI

    return MPI.MAX


def evaluate(function, points: np.ndarray, comm) -> np.ndarray:
    """Values of ``function`` at ``points`` (n, 2 or 3), gathered on every rank (NaN outside the mesh)."""
    from dolfinx import geometry

    msh = function.function_space.mesh
    n = len(points)
    p3 = np.zeros((n, 3))
    p3[:, : points.shape[1]] = points
    tree = geometry.bb_tree(msh, msh.topology.dim)
    cand = geometry.compute_collisions_points(tree, p3)
    hits = geometry.compute_colliding_cells(msh, cand, p3)
    # a point on an element boundary belongs to several cells, and a discontinuous field (the stress) differs
    # between them: take the cell with the smallest input index, the same choice on any number of ranks
    original = np.asarray(msh.topology.original_cell_index)
    idx, cells, keys = [], [], []
    for i in range(n):
        links = hits.links(i)
        if len(links):
            best = links[np.argmin(original[links])]
            idx.append(i)
            cells.append(best)
            keys.append(original[best])
    size = function.function_space.value_size if hasattr(function.function_space, "value_size") else \
        int(np.prod(function.function_space.value_shape))
    local = np.full((n, size), np.nan)
    key = np.full(n, np.iinfo(np.int64).max)
    if idx:
        local[idx] = function.eval(p3[idx], np.asarray(cells, dtype=np.int32)).reshape(len(idx), size)
        key[idx] = keys
    out = np.full((n, size), np.nan)
    best_key = np.full(n, np.iinfo(np.int64).max)
    for arr, k in comm.allgather((local, key)):
        take = k < best_key
        out[take] = arr[take]
        best_key[take] = k[take]
    return out


# ------------------------------------------------------------------------------------------ verification
def kirsch_displacement(x: np.ndarray, radius: float, sigma: float, E: float, nu: float) -> np.ndarray:
    """Plane-strain displacement of an infinite isotropic plate with a circular hole under remote sigma_xx.

    x: (2 or 3, n) as dolfinx passes it. Kirsch (1898); displacement form as in Barber, *Elasticity*, 3rd ed.,
    section 8.4.1 (kappa = 3 - 4 nu for plane strain).
    """
    mu = E / (2 * (1 + nu))
    kappa = 3 - 4 * nu
    r = np.hypot(x[0], x[1])
    th = np.arctan2(x[1], x[0])
    a2 = radius**2
    c2, s2 = np.cos(2 * th), np.sin(2 * th)
    ur = sigma / (4 * mu) * (r * ((kappa - 1) / 2 + c2) + a2 / r * (1 + (1 + kappa) * c2) - a2**2 / r**3 * c2)
    ut = sigma / (4 * mu) * ((1 - kappa) * a2 / r - r - a2**2 / r**3) * s2
    out = np.zeros((2, x.shape[1]))
    out[0] = ur * np.cos(th) - ut * np.sin(th)
    out[1] = ur * np.sin(th) + ut * np.cos(th)
    return out


def kirsch_stress_xx(x: np.ndarray, radius: float, sigma: float) -> np.ndarray:
    """sigma_xx of the Kirsch solution at points (2, n)."""
    r = np.hypot(x[0], x[1])
    th = np.arctan2(x[1], x[0])
    q = radius**2 / r**2
    srr = sigma / 2 * (1 - q) + sigma / 2 * (1 - 4 * q + 3 * q**2) * np.cos(2 * th)
    stt = sigma / 2 * (1 + q) - sigma / 2 * (1 + 3 * q**2) * np.cos(2 * th)
    srt = -sigma / 2 * (1 + 2 * q - 3 * q**2) * np.sin(2 * th)
    c, s = np.cos(th), np.sin(th)
    return srr * c**2 + stt * s**2 - 2 * srt * s * c


def isotropic_stiffness(E: float, nu: float) -> np.ndarray:
    from multiscale.elastic import cubic_stiffness

    lam = E * nu / ((1 + nu) * (1 - 2 * nu))
    mu = E / (2 * (1 + nu))
    return cubic_stiffness(lam + 2 * mu, lam, mu)


def kirsch_check(comm, s: MeshSettings, radius: float = 1.0, half: float = 10.0, E: float = 70.0,
                 nu: float = 0.35) -> dict[str, float]:
    """Solve the isotropic plate with the exact Kirsch displacement on its outer boundary (no finite-size
    error: any difference is discretisation error). Returns the stress concentration factor sigma_xx(0, R)/sigma,
    and the relative L2 error of the displacement."""
    import ufl
    from dolfinx import fem

    sigma = 1.0
    msh = plate_mesh(comm, half, radius, s)
    prob = PlateProblem(msh, s.degree, isotropic_stiffness(E, nu))
    exact = lambda x: kirsch_displacement(x, radius, sigma, E, nu)  # noqa: E731
    uh = prob.solve(exact, half)
    sig = prob.stress_function(uh)
    scf = float(evaluate(sig, np.array([[0.0, radius * (1 + 1e-9)]]), comm)[0, 0]) / sigma
    # L2 error against the exact field interpolated into a richer space
    Ve = fem.functionspace(msh, ("Lagrange", s.degree + 2, (2,)))
    ue = fem.Function(Ve)
    ue.interpolate(exact)
    err = comm.allreduce(fem.assemble_scalar(fem.form(ufl.inner(uh - ue, uh - ue) * ufl.dx)))
    ref = comm.allreduce(fem.assemble_scalar(fem.form(ufl.inner(ue, ue) * ufl.dx)))
    h = 2 * np.pi * radius / (4 * s.n_theta)
    return {"scf": scf, "scf_exact": 3.0, "l2_relative": float(np.sqrt(err / ref)), "h_hole": h,
            "cells": msh.topology.index_map(msh.topology.dim).size_global, "degree": s.degree}
