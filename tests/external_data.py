"""The shipped demonstration files of ``dft.external`` (``data/external/``), and how they are made.

Labels by ASE's EMT (seconds, no DFT): they exercise bringing one's own data, they are not DFT.

- ``Al-emt-export.extxyz``: the product's own extxyz export (:func:`multiscale.dft.stage.export_extxyz`) of a
  dataset shaped like the tiny study's rattled cells and surface slabs (the product's own generators, at the
  tiny study's settings), labelled by EMT instead of GPAW: the file a user gets from another study.
- ``Al-emt-md.traj``: snapshots of Langevin MD with EMT (the product's ``thermal`` generator, 2x1x1 cells), as an
  ASE trajectory with energies, forces and stresses: a second ASE-readable format, without config_type.

Regenerate with ``PYTHONPATH=src python -m tests.external_data`` (``tests/test_external.py`` checks that the
shipped files are what this writes).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from ase import Atoms
from ase.calculators.emt import EMT
from ase.calculators.singlepoint import SinglePointCalculator

from multiscale.artifacts import write_artifact
from multiscale.atomsio import structure_arrays
from multiscale.dft.stage import export_extxyz
from multiscale.dft.structures import ConfigurationSettings, generate
from multiscale.material import Material
from multiscale.units import EV_PER_A3_TO_GPA

ROOT = Path(__file__).resolve().parents[1]
EXPORT, TRAJ = "Al-emt-export.extxyz", "Al-emt-md.traj"
A0 = 4.04  # Angstrom: about the PBE lattice constant the tiny study's configurations would be built on
AL = Material.from_dict({"element": "Al", "lattice": "fcc", "a_guess": 4.04})
# the tiny study's rattled cells and slabs (config/studies/tiny.yaml)
TINY = ConfigurationSettings.from_dict({"rattle": {"amplitudes": [0.05, 0.1], "per_amplitude": 4},
                                        "surface": {"facets": ["100"], "layers": 5, "vacuum": 5.0, "rattled": 1}})
MD = ConfigurationSettings.from_dict({"thermal": {"temperatures": [300.0, 600.0], "per_temperature": 2,
                                                  "supercell": [2, 1, 1], "steps": 100}})
SETTINGS = {"code": "ASE EMT (demonstration labels, not DFT)", "xc": None, "ecut": None, "kpts": None,
            "smearing": None}


def emt_labels(atoms: Atoms) -> tuple[float, np.ndarray, np.ndarray]:
    """EMT energy (eV), forces (N, 3) eV/A and stress (6,) eV/A^3 (ASE's sign) of ``atoms``."""
    work = atoms.copy()
    work.calc = EMT()
    return float(work.get_potential_energy()), work.get_forces(), work.get_stress()


def emt_dataset(path: str | Path, images: list[Atoms], fidelity: str = "emt",
                no_energy: tuple[int, ...] = ()) -> Path:
    """A ``dft_dataset`` artifact of ``images`` (with name, group and metadata in ``info``) labelled by EMT;
    the configurations numbered in ``no_energy`` get energy NaN (no energy label, as the converged scans)."""
    labels = [emt_labels(a) for a in images]
    data = structure_arrays(images)
    data.update(energy=[np.nan if i in no_energy else e for i, (e, _, _) in enumerate(labels)],
                forces=np.concatenate([f for _, f, _ in labels]),
                stress=[s * EV_PER_A3_TO_GPA for _, _, s in labels],
                names=[a.info["name"] for a in images], groups=[a.info["group"] for a in images],
                metadata=[a.info["metadata"] for a in images], fidelity=[fidelity] * len(images),
                scf_iterations=[0] * len(images), wall_time=[0.0] * len(images))
    fidelities = {fidelity: {"settings": SETTINGS, "labels": ["energy", "forces", "stress"]}}
    return write_artifact(path, "dft_dataset", data, {"settings": SETTINGS, "dropped": [],
                                                     "fidelities": fidelities})


def tiny_images() -> list[Atoms]:
    """The tiny study's rattled cells and (100) slabs (plain and rattled), built on :data:`A0`."""
    return generate("rattle", AL, TINY, A0) + generate("surface", AL, TINY, A0)


def md_images() -> list[Atoms]:
    """EMT Langevin snapshots (2x1x1 cells, 300 K and 600 K) with EMT labels, and nothing else in ``info``."""
    out = []
    for atoms in generate("thermal", AL, MD, A0):
        energy, forces, stress = emt_labels(atoms)
        plain = Atoms(atoms.numbers, atoms.positions, cell=atoms.cell, pbc=True)
        plain.calc = SinglePointCalculator(plain, energy=energy, forces=forces, stress=stress)
        out.append(plain)
    return out


def write_files(directory: str | Path) -> tuple[Path, Path]:
    """Write :data:`EXPORT` and :data:`TRAJ` into ``directory``; returns their paths."""
    from ase.io import write

    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    emt_dataset(d / "Al-emt.h5", tiny_images())
    export_extxyz(str(d / "Al-emt.h5"), str(d / EXPORT))
    (d / "Al-emt.h5").unlink()
    write(d / TRAJ, md_images())
    return d / EXPORT, d / TRAJ


def frames_summary(path: str | Path) -> list[dict]:
    """What a test compares of a file's frames: positions, cell, energy, forces, stress and config_type."""
    from ase.io import read

    out = []
    for a in read(path, ":"):
        r = a.calc.results
        out.append({"positions": a.positions.round(6).tolist(), "cell": a.cell[:].round(6).tolist(),
                    "energy": round(float(r["energy"]), 6) if "energy" in r else None,
                    "forces": np.asarray(r["forces"]).round(6).tolist(),
                    "stress": np.asarray(r["stress"]).round(8).tolist(), "group": a.info.get("config_type")})
    return json.loads(json.dumps(out))


if __name__ == "__main__":
    for p in write_files(ROOT / "data" / "external"):
        print(p)
