"""Continuum stage entry point: FEM of the specimen with the MD stage's cubic stiffness."""

from __future__ import annotations

from typing import Any

import numpy as np

from multiscale.artifacts import read_artifact, write_artifact
from multiscale.continuum.elasticity import ContinuumSettings, solve_homogeneous
from multiscale.elastic import cubic_stiffness
from multiscale.errors import ArtifactError

VOIGT_NAMES = ("xx", "yy", "zz", "yz", "xz", "xy")


def property_dict(path: str) -> dict[str, tuple[float, float]]:
    art = read_artifact(path, "properties")
    return {str(n): (float(v), float(s)) for n, v, s in zip(art["names"], art["values"], art["std"], strict=True)}


def solve(md: str, continuum: dict[str, Any], specimen: dict[str, Any], out: str, xdmf: str, comm=None) -> None:
    if comm is None:
        from mpi4py import MPI

        comm = MPI.COMM_WORLD
    props = property_dict(md)
    missing = [k for k in ("C11", "C12", "C44") if k not in props]
    if missing:
        raise ArtifactError(f"{md}: MD properties lack {missing}; rerun the md stage")
    c = cubic_stiffness(props["C11"][0], props["C12"][0], props["C44"][0])
    strain = np.asarray(specimen["strain"], float)
    settings = ContinuumSettings.from_dict(continuum)
    result = solve_homogeneous(c, strain, settings, comm, xdmf)
    stress_md = [props[f"specimen_stress_{n}"][0] for n in VOIGT_NAMES]
    if comm.rank == 0:
        write_artifact(out, "continuum", {"strain": strain, "stress_fem": result["stress"], "stress_md": stress_md,
                                          "stiffness": c},
                       {"settings": continuum, "mesh": result["mesh"], "xdmf": str(xdmf)}, inputs=[md],
                       config={"continuum": continuum, "specimen": specimen})
