"""MD stage entry point: 0 K properties with the fitted potential, with posterior uncertainty."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import numpy as np

from multiscale.artifacts import read_artifact, write_artifact
from multiscale.dft.structures import Material
from multiscale.md.properties import MDSettings, posterior_properties
from multiscale.mlip.stage import load_model

UNITS = {"a0": "Angstrom", "E0": "eV/atom", "B": "GPa", "C11": "GPa", "C12": "GPa", "C44": "GPa"}


def run_properties(potential: str, material: dict[str, Any], md: dict[str, Any], specimen: dict[str, Any],
                   out: str, comm=None) -> None:
    """Properties with the posterior mean and draws; LAMMPS runs domain-decomposed over ``comm``."""
    settings = MDSettings.from_dict(md)
    mat = Material.from_dict(material)
    model, element = load_model(potential)
    art = read_artifact(potential, "potential")
    rank0 = comm is None or comm.rank == 0
    # a scratch folder beside the output (visible to every rank, also across nodes), removed afterwards
    tmp = Path(out).parent / f".{Path(out).name}.work"
    if rank0:
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        (tmp / "snap.snapparam").write_text(art.attrs["snapparam"])
    if comm is not None:
        comm.barrier()
    try:
        mean, std, samples = posterior_properties(model, element, tmp / "snap.snapparam", mat, settings,
                                                  np.asarray(specimen["strain"], float), tmp, comm)
    finally:
        if comm is not None:
            comm.barrier()
        if rank0:
            shutil.rmtree(tmp, ignore_errors=True)
    if not rank0:
        return
    names = list(mean)
    note = (f"LAMMPS 0 K, {settings.supercell}^3 cubic supercell, +/-{settings.strain} strains; std over "
            f"{len(samples)} of {settings.posterior_samples} posterior draws")
    write_artifact(out, "properties", {
        "names": names, "values": [mean[k] for k in names], "std": [std[k] for k in names],
        "units": [UNITS.get(k, "GPa") for k in names], "notes": [note] * len(names),
    }, {"scale": "md", "settings": {"md": md, "specimen": specimen}}, inputs=[potential],
        config={"md": md, "specimen": specimen, "material": material})
