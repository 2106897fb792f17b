"""MD stage entry point: 0 K properties with the fitted potential, with posterior uncertainty."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from multiscale.artifacts import read_artifact, write_artifact
from multiscale.dft.structures import Material
from multiscale.md.properties import MDSettings, posterior_properties
from multiscale.mlip.stage import load_model

UNITS = {"a0": "Angstrom", "E0": "eV/atom", "B": "GPa", "C11": "GPa", "C12": "GPa", "C44": "GPa"}


def run_properties(potential: str, material: dict[str, Any], md: dict[str, Any], specimen: dict[str, Any],
                   out: str) -> None:
    settings = MDSettings.from_dict(md)
    mat = Material.from_dict(material)
    model, element = load_model(potential)
    art = read_artifact(potential, "potential")
    with tempfile.TemporaryDirectory(prefix="multiscale-md-") as tmp:
        param = Path(tmp) / "snap.snapparam"
        param.write_text(art.attrs["snapparam"])
        mean, std, samples = posterior_properties(model, element, param, mat, settings,
                                                  np.asarray(specimen["strain"], float))
    names = list(mean)
    note = (f"LAMMPS 0 K, {settings.supercell}^3 cubic supercell, +/-{settings.strain} strains; std over "
            f"{len(samples)} of {settings.posterior_samples} posterior draws")
    write_artifact(out, "properties", {
        "names": names, "values": [mean[k] for k in names], "std": [std[k] for k in names],
        "units": [UNITS.get(k, "GPa") for k in names], "notes": [note] * len(names),
    }, {"scale": "md", "settings": {"md": md, "specimen": specimen}}, inputs=[potential],
        config={"md": md, "specimen": specimen, "material": material})
