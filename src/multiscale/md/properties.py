"""0 K material properties in LAMMPS with a fitted (or classical) potential.

Lattice constant from a box relaxation, cubic C11/C12/C44 from +/- finite strains with relaxed internal
coordinates (the same stress-strain fit as the DFT stage), and the stress of the specimen's homogeneous strain.
Uncertainty: the same calculations repeated for coefficient sets drawn from the SNAP posterior.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from ase import Atoms

from multiscale.dft.structures import Material
from multiscale.elastic import deform_cell, elastic_strain_set, fit_cubic_elastic
from multiscale.errors import CalculationError

BAR_TO_GPA = 1e-4


@dataclass
class MDSettings:
    supercell: int = 3
    strain: float = 0.002
    ftol: float = 1e-8
    posterior_samples: int = 8
    seed: int = 0

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> MDSettings:
        return cls(**d)


@dataclass
class Potential:
    """LAMMPS commands defining an interatomic potential for one element."""

    pair_style: str
    pair_coeff: str
    name: str

    @classmethod
    def snap(cls, snapcoeff: str | Path, snapparam: str | Path, element: str) -> Potential:
        return cls("snap", f"* * {snapcoeff} {snapparam} {element}", "SNAP")

    @classmethod
    def eam_alloy(cls, path: str | Path, element: str) -> Potential:
        return cls("eam/alloy", f"* * {path} {element}", f"EAM ({Path(path).name})")


def _commands(lmp, text: str, pot: Potential) -> None:
    """Run LAMMPS commands; a LAMMPS error becomes a CalculationError naming the potential."""
    try:
        lmp.commands_string(text)
    except Exception as exc:  # the lammps module raises plain Exception for every LAMMPS error
        raise CalculationError(f"LAMMPS failed with the {pot.name} potential: {exc}. If this is a fitted potential, "
                               f"it may be unstable for this structure (see the MLIP validation: extrapolation "
                               f"grade, held-out groups)") from exc


def _setup(atoms: Atoms, pot: Potential, comm=None):
    """LAMMPS on ``comm`` (domain decomposition over its ranks; default: this process alone)."""
    from multiscale.mlip.snap import _lammps, _rotation, load_atoms

    lmp = _lammps(comm)
    prism = load_atoms(lmp, atoms)
    if int(lmp.get_natoms()) != len(atoms):
        raise CalculationError(f"LAMMPS holds {lmp.get_natoms()} atoms, expected {len(atoms)}")
    lmp.commands_string(f"pair_style {pot.pair_style}\npair_coeff {pot.pair_coeff}\n"
                        "thermo_style custom step pe press pxx pyy pzz pyz pxz pxy vol lx\nthermo_modify norm no")
    return lmp, _rotation(prism)


def _stress(lmp, rot: np.ndarray) -> np.ndarray:
    p = [lmp.get_thermo(k) for k in ("pxx", "pyy", "pzz", "pyz", "pxz", "pxy")]
    t = np.array([[p[0], p[5], p[4]], [p[5], p[1], p[3]], [p[4], p[3], p[2]]])
    t = -(rot @ t @ rot.T) * BAR_TO_GPA
    return np.array([t[0, 0], t[1, 1], t[2, 2], t[1, 2], t[0, 2], t[0, 1]])


def relax_lattice(pot: Potential, material: Material, settings: MDSettings, comm=None) -> tuple[float, float]:
    """Equilibrium cubic lattice constant (Angstrom) and energy per atom (eV) at 0 K."""
    n = settings.supercell
    atoms = material.cubic_cell().repeat(n)
    lmp, _ = _setup(atoms, pot, comm)
    try:
        _commands(lmp, f"fix relax all box/relax iso 0.0 vmax 0.001\n"
                       f"minimize 0.0 {settings.ftol} 10000 100000\nunfix relax\n"
                       f"minimize 0.0 {settings.ftol} 10000 100000\nrun 0", pot)
        a0 = float(lmp.get_thermo("lx")) / n
        e = float(lmp.get_thermo("pe")) / len(atoms)
        press = abs(float(lmp.get_thermo("press"))) * BAR_TO_GPA
    finally:
        lmp.close()
    if press > 0.05:
        raise CalculationError(f"box relaxation with {pot.name} left {press:.3f} GPa residual pressure")
    return a0, e


def stress_at_strain(pot: Potential, material: Material, a0: float, strain: np.ndarray,
                     settings: MDSettings, comm=None) -> np.ndarray:
    """Stress (GPa, Voigt, positive tensile) of the cubic supercell under a homogeneous strain, atoms relaxed."""
    atoms = material.cubic_cell(a0).repeat(settings.supercell)
    atoms.set_cell(deform_cell(atoms.cell[:], strain), scale_atoms=True)
    lmp, rot = _setup(atoms, pot, comm)
    try:
        _commands(lmp, f"minimize 0.0 {settings.ftol} 10000 100000\nrun 0", pot)
        return _stress(lmp, rot)
    finally:
        lmp.close()


def properties(pot: Potential, material: Material, settings: MDSettings, specimen_strain: np.ndarray,
               comm=None) -> dict[str, float]:
    a0, e0 = relax_lattice(pot, material, settings, comm)
    strains, stresses = [np.zeros(6)], [stress_at_strain(pot, material, a0, np.zeros(6), settings, comm)]
    for _, e in elastic_strain_set([settings.strain / 2, settings.strain]):
        strains.append(e)
        stresses.append(stress_at_strain(pot, material, a0, e, settings, comm))
    c = fit_cubic_elastic(np.array(strains), np.array(stresses))
    out = {"a0": a0, "E0": e0, "C11": c["C11"][0], "C12": c["C12"][0], "C44": c["C44"][0]}
    out["B"] = (out["C11"] + 2 * out["C12"]) / 3
    sig = stress_at_strain(pot, material, a0, np.asarray(specimen_strain, float), settings, comm)
    for k, name in enumerate(("xx", "yy", "zz", "yz", "xz", "xy")):
        out[f"specimen_stress_{name}"] = float(sig[k])
    return out


def posterior_properties(model, element: str, snapparam: str | Path, material: Material, settings: MDSettings,
                         specimen_strain: np.ndarray, workdir: str | Path, comm=None
                         ) -> tuple[dict[str, float], dict[str, float], list[dict]]:
    """Properties with the posterior-mean potential, plus the std over ``posterior_samples`` coefficient draws.

    ``workdir`` must be visible to every rank of ``comm``; rank 0 writes the coefficient files there.
    """
    rank0 = comm is None or comm.rank == 0
    draws = model.sample_coefficients(settings.posterior_samples, settings.seed)
    head = model.snapcoeff(element).splitlines()[:3]
    files = [Path(workdir) / "mean.snapcoeff"] + [Path(workdir) / f"sample{i}.snapcoeff" for i in range(len(draws))]
    if rank0:
        files[0].write_text(model.snapcoeff(element))
        for path, coef in zip(files[1:], draws, strict=True):
            path.write_text("\n".join(head + [f"{float(c)!r}" for c in coef]) + "\n")
    if comm is not None:
        comm.barrier()
    mean = properties(Potential.snap(files[0], snapparam, element), material, settings, specimen_strain, comm)
    samples = []
    for path in files[1:]:
        try:
            samples.append(properties(Potential.snap(path, snapparam, element), material, settings,
                                      specimen_strain, comm))
        except CalculationError:
            continue  # a draw without a stable lattice is left out of the spread (and counted)
    std = {k: float(np.std([s[k] for s in samples], ddof=1)) if len(samples) > 1 else float("nan") for k in mean}
    return mean, std, samples
