"""Continuum stage entry point: FEM of the MD stage's specimen with the MD stage's cubic stiffness.

The geometry, orientation and load come from the specimen description in the MD artifact (not the config);
the stiffness from the MD properties (posterior mean, and each posterior draw for the ensemble). FEM fields are
evaluated at the MD atom sites and coarse-grained with the MD stage's kernel onto the shared grid, so FEM and MD
pass through the same filter.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from multiscale.artifacts import read_artifact, write_artifact
from multiscale.continuum.elasticity import ContinuumSettings, rotate_stiffness, solve_homogeneous
from multiscale.continuum.fields import write_grid_fields, write_mesh_fields
from multiscale.continuum.plate import MeshSettings, PlateProblem, evaluate, kirsch_check, plate_mesh
from multiscale.elastic import cubic_stiffness
from multiscale.errors import ArtifactError, CalculationError
from multiscale.progress import Progress
from multiscale.specimen import Kernel, Specimen


def stiffness_draws(path: str, rotation: np.ndarray) -> tuple[np.ndarray, list[np.ndarray], int]:
    """Rotated Voigt stiffness of the posterior mean and of every posterior draw stored by the MD stage."""
    art = read_artifact(path, "properties")
    names = [str(n) for n in art["names"]]
    missing = [k for k in ("C11", "C12", "C44") if k not in names]
    if missing:
        raise ArtifactError(f"{path}: MD properties lack {missing}; rerun the md stage")
    idx = [names.index(k) for k in ("C11", "C12", "C44")]
    c11, c12, c44 = art["values"][idx]
    if not _stable(c11, c12, c44):
        raise CalculationError(
            f"{path}: the MD stiffness C11/C12/C44 = {c11:.1f}/{c12:.1f}/{c44:.1f} GPa is mechanically unstable "
            f"(Born: C11 > |C12|, C11 + 2 C12 > 0, C44 > 0), so the continuum problem has no solution. Its origin "
            f"is upstream: check the DFT elastic constants (k-point convergence) and the potential's fit")
    mean = rotate_stiffness(cubic_stiffness(c11, c12, c44), rotation)
    samples = art.data.get("samples")
    rows = [] if samples is None else [row[idx] for row in samples]
    # a posterior draw without a stable stiffness is left out of the ensemble, and counted
    draws = [rotate_stiffness(cubic_stiffness(*row), rotation) for row in rows if _stable(*row)]
    return mean, draws, len(rows) - len(draws)


def _stable(c11: float, c12: float, c44: float) -> bool:
    return c11 > abs(c12) and c11 + 2 * c12 > 0 and c44 > 0


def solve(md: str, specimen_path: str, continuum: dict[str, Any], out: str, xdmf: str, comm=None,
          grid_xdmf: str | None = None) -> None:
    """FEM of the MD stage's specimen (``specimen_path``) with the MD stiffness (``md``: properties with posterior
    draws): the ``continuum`` artifact ``out``, the FEM fields at the mesh nodes as ``xdmf`` (+ .h5) and, with
    ``grid_xdmf``, MD and FEM side by side on the shared grid (+ .h5); files that meshio and ParaView read as
    written (:mod:`multiscale.continuum.fields`). Rank 0 logs one progress line per ensemble solve. Raises
    :class:`CalculationError` for a mechanically unstable MD stiffness, :class:`ArtifactError` when the specimen
    and the mesh disagree."""
    if comm is None:
        from mpi4py import MPI

        comm = MPI.COMM_WORLD
    sp = read_artifact(specimen_path, "md_specimen")
    description = sp.attr("specimen")
    spec = Specimen.from_description(description, specimen_path)
    settings = ContinuumSettings.from_dict({k: v for k, v in continuum.items() if k != "mesh"})
    mesh_settings = MeshSettings.from_dict(continuum.get("mesh", {}))
    c_mean, c_draws, n_unstable = stiffness_draws(md, spec.rotation())

    # homogeneous check: the specimen's uniaxial strain in a block (exact in P1) vs the MD periodic bulk cell
    strain = np.array([spec.strain, 0, 0, 0, 0, 0])
    homog = solve_homogeneous(c_mean, strain, settings, comm)
    bulk_md = np.array(sp.attr("bulk_stress"))

    kirsch = kirsch_check(comm, mesh_settings)

    half, radius = spec.half_interior, spec.hole_radius
    interior = ~sp["frame"].astype(bool)
    sites = sp["reference"][interior]
    sites2 = np.column_stack([np.clip(sites[:, 0], -half, half), np.clip(sites[:, 1], -half, half)])
    centres = sp["centres"]
    kernel = Kernel.build(centres, sites2, spec.kernel, radius)

    def boundary(x):
        out = np.zeros((2, x.shape[1]))
        out[0] = spec.strain * x[0]
        return out

    msh = plate_mesh(comm, half, radius, mesh_settings)
    prob = PlateProblem(msh, mesh_settings.degree, c_mean)

    def solve_fields(c: np.ndarray, keep: bool = False):
        uh = prob.solve(boundary, half, c)
        sig = prob.stress_function(uh, c)
        u_at = evaluate(uh, sites2, comm)
        s_at = evaluate(sig, sites2, comm)
        if np.isnan(u_at).any() or np.isnan(s_at).any():
            raise ArtifactError(f"{specimen_path}: {int(np.isnan(u_at[:, 0]).sum())} atom sites lie outside the "
                                f"FEM mesh; the specimen description and the mesh disagree")
        u3 = np.column_stack([u_at, np.zeros(len(u_at))])
        return kernel.apply(u3), kernel.apply(s_at), (uh, sig) if keep else None

    u_grid, s_grid, (uh, sig) = solve_fields(c_mean, keep=True)
    ens_u, ens_s = [], []
    progress = Progress(len(c_draws), "FEM solutions of the posterior ensemble", enabled=comm.rank == 0)
    for i, c in enumerate(c_draws):
        u_i, s_i, _ = solve_fields(c)
        ens_u.append(u_i)
        ens_s.append(s_i)
        progress.done(f"stiffness draw {i + 1}")
    if len(c_draws) > 1:
        mean_u, std_u = np.mean(ens_u, axis=0), np.std(ens_u, axis=0, ddof=1)
        mean_s, std_s = np.mean(ens_s, axis=0), np.std(ens_s, axis=0, ddof=1)
    else:
        mean_u, mean_s = u_grid, s_grid
        std_u, std_s = np.full_like(u_grid, np.nan), np.full_like(s_grid, np.nan)

    # full 3D: the same plate extruded through the thickness, u_z = 0 on the z faces (plane strain)
    thickness = float(np.ptp(sp["reference"][:, 2])) or 1.0
    msh3 = plate_mesh(comm, half, radius, mesh_settings, thickness=thickness)
    prob3 = PlateProblem(msh3, mesh_settings.degree, c_mean)

    def boundary3(x):
        out = np.zeros((3, x.shape[1]))
        out[0] = spec.strain * x[0]
        return out

    uh3 = prob3.solve(boundary3, half)
    sig3 = prob3.stress_function(uh3)
    sites3 = np.column_stack([sites2, np.full(len(sites2), thickness / 2)])
    u3 = kernel.apply(evaluate(uh3, sites3, comm))
    s3 = kernel.apply(evaluate(sig3, sites3, comm))

    write_mesh_fields(xdmf, msh, uh, sig, comm)
    if comm.rank != 0:
        return
    if grid_xdmf:
        write_grid_fields(grid_xdmf, centres,
                          {"md_displacement_nm": sp["load_displacement"], "fem_displacement_nm": u_grid},
                          {"md_stress_GPa": sp["load_stress"], "fem_stress_GPa": s_grid,
                           "fem_std_stress_GPa": std_s})
    mesh_info = {"cells_2d": msh.topology.index_map(2).size_global, "cells_3d": msh3.topology.index_map(3).size_global,
                 "element": f"Q{mesh_settings.degree} quadrilaterals / hexahedra, quadratic geometry",
                 **{k: getattr(mesh_settings, k) for k in ("n_theta", "n_r", "grading", "degree", "layers")},
                 "half_width_nm": half, "hole_radius_nm": radius, "thickness_nm": thickness}
    write_artifact(out, "continuum", {
        "strain": strain, "stress_fem": homog["stress"], "stress_md": bulk_md, "stiffness": c_mean,
        "centres": centres, "displacement": u_grid, "stress": s_grid, "mean_displacement": mean_u,
        "mean_stress": mean_s, "std_displacement": std_u, "std_stress": std_s,
        "fields_3d_displacement": u3, "fields_3d_stress": s3,
    }, {"settings": continuum, "mesh": mesh_info, "xdmf": str(xdmf), "specimen": description, "kirsch": kirsch,
        "ensemble": {"draws": len(c_draws), "unstable_draws_left_out": n_unstable}}, inputs=[md, specimen_path],
        config={"continuum": continuum})
