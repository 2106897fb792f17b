"""Conversion between lists of ASE Atoms and the concatenated arrays of structure artifacts."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import numpy as np
from ase import Atoms
from ase.calculators.singlepoint import SinglePointCalculator

from multiscale.units import EV_PER_A3_TO_GPA


def structure_arrays(images: Sequence[Atoms]) -> dict[str, Any]:
    return {
        "n_atoms": [len(a) for a in images],
        "numbers": np.concatenate([a.numbers for a in images]) if images else np.zeros(0, int),
        "positions": np.concatenate([a.positions for a in images]) if images else np.zeros((0, 3)),
        "cell": np.array([a.cell[:] for a in images]).reshape(-1, 3, 3),
        "pbc": np.array([a.pbc for a in images]).reshape(-1, 3),
    }


def split_atoms(data: dict[str, np.ndarray]) -> list[slice]:
    ends = np.cumsum(data["n_atoms"])
    return [slice(int(e - n), int(e)) for e, n in zip(ends, data["n_atoms"], strict=True)]


def images_from_arrays(data: dict[str, np.ndarray], *, labels: bool = True) -> list[Atoms]:
    """Rebuild Atoms (with names, groups, metadata and, if present, DFT labels as a calculator, initial and
    converged magnetic moments)."""
    images = []
    for i, sl in enumerate(split_atoms(data)):
        atoms = Atoms(numbers=data["numbers"][sl], positions=data["positions"][sl], cell=data["cell"][i],
                      pbc=data["pbc"][i])
        for key, name in (("names", "name"), ("groups", "group"), ("metadata", "metadata"), ("fidelity", "fidelity")):
            if key in data:
                atoms.info[name] = str(data[key][i])
        if "initial_magmoms" in data and np.isfinite(data["initial_magmoms"][sl]).all():
            atoms.set_initial_magnetic_moments(data["initial_magmoms"][sl])
        if labels and "energy" in data:
            energy = float(data["energy"][i])  # NaN: a fidelity without a shared energy reference (no label)
            magmoms = data["magmoms"][sl] if "magmoms" in data and np.isfinite(data["magmoms"][sl]).all() else None
            atoms.calc = SinglePointCalculator(atoms, energy=energy if np.isfinite(energy) else None,
                                               forces=data["forces"][sl], stress=data["stress"][i] / EV_PER_A3_TO_GPA,
                                               magmoms=magmoms)
        images.append(atoms)
    return images


def metadata(atoms: Atoms) -> dict[str, Any]:
    return json.loads(atoms.info.get("metadata", "{}"))
