"""0 K material properties in LAMMPS with a fitted (or classical) potential.

Lattice constant from a box relaxation, cubic C11/C12/C44 from +/- finite strains with relaxed internal
coordinates (the same stress-strain fit as the DFT stage), and the stress of the specimen's homogeneous strain.
Uncertainty: the same calculations repeated for coefficient sets drawn from the SNAP posterior.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from ase import Atoms

from multiscale.config import settings_from_dict
from multiscale.elastic import deform_cell, elastic_strain_set, fit_cubic_elastic
from multiscale.errors import CalculationError
from multiscale.lammps import Potential, Session
from multiscale.material import PHASES, Material, nearest_neighbour_distance, phase_cell, slab, stacking_fault_cell
from multiscale.progress import Progress
from multiscale.units import BAR_TO_GPA, EV_PER_A2_TO_J_PER_M2


@dataclass
class SurfaceSettings:
    """Relaxed 1x1 slabs for surface energies (the same builder as the DFT stage's)."""

    facets: list[str] = field(default_factory=lambda: ["100", "111"])
    layers: int = 9
    vacuum: float = 8.0  # Angstrom on each side


@dataclass
class ThermalSettings:
    """NPT runs for the lattice constant vs temperature (K; steps of ``timestep`` ps)."""

    temperatures: list[float] = field(default_factory=lambda: [200.0, 400.0])
    supercell: int = 3
    equilibration: int = 500
    steps: int = 1500
    timestep: float = 0.002
    posterior_samples: int = 3
    seed: int = 12345


@dataclass
class StackingFaultSettings:
    """The {111}<112> generalized stacking-fault path (fcc): ``periods`` of three {111} layers in the periodic
    cell, ``points`` shifts from 0 to one partial Burgers vector (0 periods: not computed)."""

    periods: int = 4
    points: int = 11


@dataclass
class MDSettings:
    """The ``md`` config section: 0 K property cells, posterior draws, surface and thermal runs."""

    supercell: int = 3
    strain: float = 0.002
    ftol: float = 1e-8
    posterior_samples: int = 8
    seed: int = 0
    vacancy_supercell: int = 4            # cubic cells per edge: 4 -> 256 sites (255 atoms)
    surface: SurfaceSettings = field(default_factory=SurfaceSettings)
    thermal: ThermalSettings = field(default_factory=ThermalSettings)
    stacking_fault: StackingFaultSettings = field(default_factory=StackingFaultSettings)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> MDSettings:
        return settings_from_dict(cls, d, "md")


def relax_lattice(pot: Potential, material: Material, settings: MDSettings, comm=None) -> tuple[float, float]:
    """Equilibrium cubic lattice constant (Angstrom) and energy per atom (eV) at 0 K."""
    n = settings.supercell
    atoms = material.cubic_cell().repeat(n)
    with Session(atoms, pot, comm) as s:
        s.run(f"fix relax all box/relax iso 0.0 vmax 0.001\n"
              f"minimize 0.0 {settings.ftol} 10000 100000\nunfix relax\n"
              f"minimize 0.0 {settings.ftol} 10000 100000\nrun 0")
        a0 = float(s.lmp.get_thermo("lx")) / n
        e = s.energy() / len(atoms)
        press = abs(float(s.lmp.get_thermo("press"))) * BAR_TO_GPA
    if press > 0.05:
        raise CalculationError(f"box relaxation with {pot.name} left {press:.3f} GPa residual pressure")
    return a0, e


def stress_at_strain(pot: Potential, material: Material, a0: float, strain: np.ndarray,
                     settings: MDSettings, comm=None) -> np.ndarray:
    """Stress (GPa, Voigt, positive tensile) of the cubic supercell under a homogeneous strain, atoms relaxed."""
    atoms = material.cubic_cell(a0).repeat(settings.supercell)
    atoms.set_cell(deform_cell(atoms.cell[:], strain), scale_atoms=True)
    with Session(atoms, pot, comm) as s:
        s.run(f"minimize 0.0 {settings.ftol} 10000 100000\nrun 0")
        return s.stress()


def properties(pot: Potential, material: Material, settings: MDSettings, comm=None) -> dict[str, float]:
    a0, e0 = relax_lattice(pot, material, settings, comm)
    strains, stresses = [np.zeros(6)], [stress_at_strain(pot, material, a0, np.zeros(6), settings, comm)]
    for _, e in elastic_strain_set([settings.strain / 2, settings.strain]):
        strains.append(e)
        stresses.append(stress_at_strain(pot, material, a0, e, settings, comm))
    c = fit_cubic_elastic(np.array(strains), np.array(stresses))
    out = {"a0": a0, "E0": e0, "C11": c["C11"][0], "C12": c["C12"][0], "C44": c["C44"][0]}
    out["B"] = (out["C11"] + 2 * out["C12"]) / 3
    out["vacancy_formation_energy"] = vacancy_energy(pot, material, a0, e0, settings, comm)
    for facet in settings.surface.facets:
        out[f"surface_energy_{facet}"] = surface_energy(pot, material, a0, e0, str(facet), settings, comm)
    out.update(phase_energies(pot, material, a0, e0, comm))
    if material.lattice == "fcc" and settings.stacking_fault.periods > 0:
        out.update(stacking_fault_energies(pot, material, a0, settings, comm))
    return out


def phase_energies(pot: Potential, material: Material, a0: float, e0: float, comm=None) -> dict[str, float]:
    """Energy per atom of each competing phase minus the crystal's (meV/atom) at the crystal's equilibrium volume
    per atom (:func:`multiscale.material.phase_cell`; hcp at ideal c/a): ``phase_<phase>_minus_<lattice>``.
    Negative: the potential prefers another phase to the crystal it is used for."""
    out = {}
    for phase in PHASES:
        if phase == material.lattice:
            continue
        cell = phase_cell(material, phase, a0)
        atoms = cell.repeat([max(1, int(np.ceil(10.0 / x))) for x in cell.cell.lengths()])
        with Session(atoms, pot, comm) as s:
            s.run("run 0")
            out[f"phase_{phase}_minus_{material.lattice}"] = 1000.0 * (s.energy() / len(atoms) - e0)
    return out


def stacking_fault_energies(pot: Potential, material: Material, a0: float, settings: MDSettings,
                            comm=None) -> dict[str, float]:
    """Intrinsic (``isf_111``) and unstable (``usf_111``) stacking-fault energies (mJ/m^2) on the {111}<112> path:
    energy of the faulted cell minus the perfect one over the fault area, atoms relaxed normal to the fault only
    (in-plane forces zeroed), at fixed cell (:func:`multiscale.material.stacking_fault_cell`). USF = the maximum
    of the path between 0 and one partial Burgers vector; ISF = its end point. Vitek's gamma surface (Phil. Mag.
    18, 773 (1968)) along the partial's direction, as in Zimmerman et al., Phys. Rev. B 62, 3461 (2000)."""
    sf = settings.stacking_fault
    energies = []
    for shift in np.linspace(0.0, 1.0, int(sf.points)):
        atoms = stacking_fault_cell(material, a0, sf.periods, float(shift))
        with Session(atoms, pot, comm) as s:
            s.run(f"fix normal all setforce 0.0 0.0 NULL\nminimize 0.0 {settings.ftol} 10000 100000\nrun 0")
            energies.append(s.energy())
    area = float(np.linalg.norm(np.cross(atoms.cell[0], atoms.cell[1])))
    gamma = (np.array(energies) - energies[0]) / area * EV_PER_A2_TO_J_PER_M2 * 1000.0
    return {"usf_111": float(gamma.max()), "isf_111": float(gamma[-1])}


def _relaxed_energy(atoms: Atoms, pot: Potential, settings: MDSettings, comm=None) -> tuple[float, float]:
    """Energy (eV) after relaxing positions at fixed cell, and the largest displacement (Angstrom) it took."""
    with Session(atoms, pot, comm) as s:
        s.run("compute disp all displace/atom\ncompute dmax all reduce max c_disp[4]\n"
              f"minimize 0.0 {settings.ftol} 10000 100000\nrun 0")
        return s.energy(), float(s.lmp.extract_compute("dmax", 0, 0))


def kept_lattice(material: Material, a0: float, energy_excess: float, max_disp: float) -> bool:
    """A defect relaxation that moved an atom by more than a quarter of the nearest-neighbour distance, or
    lowered the energy below the perfect crystal's, left the lattice: the potential collapsed (an extrapolation,
    not a defect energy)."""
    return bool(energy_excess > 0 and max_disp < 0.25 * nearest_neighbour_distance(material, a0))


def vacancy_energy(pot: Potential, material: Material, a0: float, e0: float, settings: MDSettings,
                   comm=None) -> float:
    """Relaxed vacancy formation energy (eV) at constant volume: E(N-1) - (N-1) e0, e0 the bulk energy/atom.
    NaN if the relaxation collapsed (see :func:`kept_lattice`)."""
    atoms = material.cubic_cell(a0).repeat(settings.vacancy_supercell)
    del atoms[0]
    e, disp = _relaxed_energy(atoms, pot, settings, comm)
    ef = e - len(atoms) * e0
    return ef if kept_lattice(material, a0, ef, disp) else float("nan")


def surface_energy(pot: Potential, material: Material, a0: float, e0: float, facet: str, settings: MDSettings,
                   comm=None) -> float:
    """Relaxed surface energy (J/m^2) of a 1x1 slab (the DFT stage's builder), both faces free; NaN if the
    relaxation collapsed."""
    atoms = slab(material, facet, int(settings.surface.layers), float(settings.surface.vacuum), a0)
    area = float(np.linalg.norm(np.cross(atoms.cell[0], atoms.cell[1])))
    e, disp = _relaxed_energy(atoms, pot, settings, comm)
    excess = e - len(atoms) * e0
    return excess / (2 * area) * EV_PER_A2_TO_J_PER_M2 if kept_lattice(material, a0, excess, disp) else float("nan")


def thermal_expansion(pot: Potential, material: Material, a0: float, settings: MDSettings,
                      comm=None) -> dict[str, Any]:
    """Lattice constant vs temperature (NPT, zero pressure, Nose-Hoover) and the linear expansion coefficient
    alpha = (1/a) da/dT from a straight-line fit; each a(T) with its standard error from 5 block averages."""
    th = settings.thermal
    n = int(th.supercell)
    temps, a_mean, a_err = [], [], []
    for t in th.temperatures:
        atoms = material.cubic_cell(a0).repeat(n)
        with Session(atoms, pot, comm) as s:
            dt = float(th.timestep)
            s.run(f"""timestep {dt}
velocity all create {2 * float(t)} {int(th.seed)} loop geom
fix npt all npt temp {float(t)} {float(t)} {100 * dt} iso 0.0 0.0 {1000 * dt}
run {int(th.equilibration)}""")
            samples = []
            steps = int(th.steps)
            chunk = max(1, steps // 50)
            for _ in range(steps // chunk):
                s.run(f"run {chunk}")
                samples.append(float(s.lmp.get_thermo("lx")) / n)
        blocks = np.array_split(np.array(samples), 5)
        means = np.array([b.mean() for b in blocks])
        temps.append(float(t))
        a_mean.append(float(np.mean(samples)))
        a_err.append(float(means.std(ddof=1) / np.sqrt(len(means))))
    fit = np.polyfit(temps, a_mean, 1, w=1 / np.maximum(np.array(a_err), 1e-9)) if len(temps) > 1 else [np.nan]
    t_ref = 300.0
    a_ref = float(np.polyval(fit, t_ref)) if len(temps) > 1 else np.nan
    return {"temperatures": temps, "a": a_mean, "a_err": a_err, "alpha": float(fit[0] / a_ref),
            "t_ref": t_ref}


def posterior_properties(model, element: str, snapparam: str | Path, material: Material, settings: MDSettings,
                         workdir: str | Path, comm=None
                         ) -> tuple[dict[str, float], dict[str, float], list[dict]]:
    """Properties with the posterior-mean potential, plus the std over ``posterior_samples`` coefficient draws.
    A defect relaxation that collapsed gives NaN (for that draw, or for the mean potential) and is left out.

    ``workdir`` must be visible to every rank of ``comm``; rank 0 writes the coefficient files there, and one
    progress line per finished potential (mean, then each draw) to stdout (:class:`multiscale.progress.Progress`).
    Returns the mean potential's properties, their std over the stable draws, and each stable draw's properties.
    """
    rank0 = comm is None or comm.rank == 0
    draws = model.sample_coefficients(settings.posterior_samples, settings.seed)
    files = [Path(workdir) / "mean.snapcoeff"] + [Path(workdir) / f"sample{i}.snapcoeff" for i in range(len(draws))]
    if rank0:
        files[0].write_text(model.snapcoeff(element))
        for path, coef in zip(files[1:], draws, strict=True):
            path.write_text(model.snapcoeff(element, coef))
    if comm is not None:
        comm.barrier()
    progress = Progress(len(files), "MD property sets (posterior mean, then draws)", enabled=rank0)
    mean = properties(Potential.snap(files[0], snapparam, element), material, settings, comm)
    progress.done("posterior mean")
    samples = []
    for i, path in enumerate(files[1:]):
        try:
            samples.append(properties(Potential.snap(path, snapparam, element), material, settings, comm))
            progress.done(f"posterior draw {i + 1}")
        except CalculationError:
            progress.done(f"posterior draw {i + 1}: no stable lattice, left out")
            continue  # a draw without a stable lattice is left out of the spread (and counted)
    std = {}
    for k in mean:
        vals = np.array([s[k] for s in samples], float)
        ok = vals[np.isfinite(vals)]
        std[k] = float(np.std(ok, ddof=1)) if len(ok) > 1 else float("nan")
    return mean, std, samples
