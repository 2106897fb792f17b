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


# Checks of every finite-temperature run: the crystal must survive it. Thermal expansion of a metal up to its melting
# point changes the lattice parameter by at most ~2.5% (Al: +2.3% at 933 K; Touloukian et al., Thermophysical
# Properties of Matter vol. 12, 1975), so 5% means the cell collapsed or blew up; a crystal at T > 0 keeps its first
# coordination shell for nearly every atom; its mean potential energy lies above the 0 K crystal's (by ~3kT/2).
MAX_LATTICE_CHANGE = 0.05
MIN_CRYSTAL_FRACTION = 0.9  # of atoms in the quenched last snapshot
ENERGY_SLACK = 1e-3  # eV/atom


@dataclass
class CrystalCheck:
    """What one NPT run did to the crystal: ``lattice_change`` (a(T)/a0 - 1), ``crystal_fraction`` (atoms with
    the crystal's first-shell coordination in the inherent structure: the last snapshot quenched at its box),
    ``energy_above_crystal`` (time-averaged potential energy minus the 0 K crystal's at a0, eV/atom),
    ``max_grade`` (largest extrapolation grade in the last hot snapshot; None for a potential without a
    grader). ``collapsed`` lists what failed; ``untrusted`` is True when an atom's grade
    exceeds ``threshold``."""

    temperature: float
    lattice_change: float
    crystal_fraction: float
    energy_above_crystal: float
    max_grade: float | None = None
    threshold: float | None = None
    collapsed: list[str] = field(default_factory=list)

    @property
    def untrusted(self) -> bool:
        return self.max_grade is not None and self.threshold is not None and self.max_grade > self.threshold

    def describe(self) -> str:
        counted = (f"{100 * self.crystal_fraction:.0f}% of atoms crystal-coordinated"
                   if np.isfinite(self.crystal_fraction) else "coordination not counted")
        text = (f"{self.temperature:.0f} K: a/a0 - 1 = {100 * self.lattice_change:+.2f}%, {counted}, <PE> "
                f"{1000 * self.energy_above_crystal:+.1f} meV/atom from the 0 K crystal")
        if self.max_grade is not None:
            text += f", max grade {self.max_grade:.3g} (threshold {self.threshold:.3g})"
        return text + (f"; COLLAPSED: {'; '.join(self.collapsed)}" if self.collapsed else "")


def check_crystal(temperature: float, a: float, a0: float, crystal_fraction: float, energy_above: float,
                  max_grade: float | None = None, threshold: float | None = None) -> CrystalCheck:
    """The :class:`CrystalCheck` of one run, with the reasons it collapsed (see the limits above)."""
    why = []
    if not np.isfinite(a) or abs(a / a0 - 1) > MAX_LATTICE_CHANGE:
        why.append(f"lattice parameter {a:.4g} A vs {a0:.4g} A at 0 K (more than {100 * MAX_LATTICE_CHANGE:.0f}%)")
    if np.isfinite(crystal_fraction) and crystal_fraction < MIN_CRYSTAL_FRACTION:
        why.append(f"only {100 * crystal_fraction:.0f}% of atoms keep the crystal's coordination")
    if not np.isfinite(energy_above) or energy_above < -ENERGY_SLACK:
        why.append(f"mean potential energy {1000 * energy_above:.1f} meV/atom below the 0 K crystal's (the "
                   f"potential's crystal is not its ground state)")
    return CrystalCheck(float(temperature), float(a / a0 - 1), float(crystal_fraction), float(energy_above),
                        max_grade, threshold, why)


def thermal_expansion(pot: Potential, material: Material, a0: float, settings: MDSettings, comm=None,
                      grading: tuple[Any, str, float] | None = None) -> dict[str, Any]:
    """Lattice constant vs temperature (NPT, zero pressure, Nose-Hoover) and the linear expansion coefficient
    alpha = (1/a) da/dT from a straight-line fit; each a(T) with its standard error from 5 block averages.

    Every run is checked (:func:`check_crystal`: lattice parameter, coordination, energy against the 0 K crystal,
    and, with ``grading`` = (grader, ``compute sna/atom`` arguments, threshold), the extrapolation grade of every
    atom at the end). Returns temperatures (K), a and a_err (Angstrom), alpha (1/K; NaN when a run collapsed),
    t_ref and ``checks`` (one :class:`CrystalCheck` per temperature)."""
    from multiscale.lammps import per_atom
    from multiscale.material import bulk_coordination, coordination_cutoff

    th = settings.thermal
    n = int(th.supercell)
    temps, a_mean, a_err, checks = [], [], [], []
    cell = material.cubic_cell(a0).repeat(n)
    with Session(cell, pot, comm) as s:
        s.run("run 0")
        e_crystal = s.energy() / len(cell)
    z = bulk_coordination(material, a0)
    for t in th.temperatures:
        atoms = material.cubic_cell(a0).repeat(n)
        with Session(atoms, pot, comm) as s:
            dt = float(th.timestep)
            s.run(f"""timestep {dt}
velocity all create {2 * float(t)} {int(th.seed)} loop geom
fix npt all npt temp {float(t)} {float(t)} {100 * dt} iso 0.0 0.0 {1000 * dt}
run {int(th.equilibration)}""")
            samples, energies = [], []
            steps = int(th.steps)
            chunk = max(1, steps // 50)
            for _ in range(steps // chunk):
                s.run(f"run {chunk}")
                samples.append(float(s.lmp.get_thermo("lx")) / n)
                energies.append(s.energy() / len(atoms))
            a_t = float(np.mean(samples))
            grade = None
            if grading:  # the extrapolation grade of the hot snapshot, as the potential met it
                s.run(f"compute sna all sna/atom {grading[1]}\nrun 0")
                b = per_atom(s.lmp, "sna")
                grade = grading[0].grade(np.column_stack([np.ones(len(b)), b]))
            # structure of the inherent state: the last snapshot quenched at its box (thermal vibrations blur a
            # coordination count; a crystal quenches back to itself, a collapsed cell does not). Not counted when
            # the box left the lattice-parameter window: that alone is a collapse (and a blown-up box can make the
            # shell cutoff longer than the potential's, which LAMMPS refuses)
            coord = np.zeros(0)
            if abs(a_t / a0 - 1) <= MAX_LATTICE_CHANGE:
                s.run(f"compute coord all coord/atom cutoff {coordination_cutoff(material, a_t)!r}\n"
                      "unfix npt\nvelocity all set 0.0 0.0 0.0\nminimize 0.0 1.0e-6 500 5000")
                coord = per_atom(s.lmp, "coord", vector=True)
        fraction, top = _gather_check(comm, coord, z, grade)
        checks.append(check_crystal(t, a_t, a0, fraction, float(np.mean(energies)) - e_crystal, top,
                                    grading[2] if grading else None))
        blocks = np.array_split(np.array(samples), 5)
        means = np.array([b.mean() for b in blocks])
        temps.append(float(t))
        a_mean.append(a_t)
        a_err.append(float(means.std(ddof=1) / np.sqrt(len(means))))
    fit = np.polyfit(temps, a_mean, 1, w=1 / np.maximum(np.array(a_err), 1e-9)) if len(temps) > 1 else [np.nan]
    t_ref = 300.0
    a_ref = float(np.polyval(fit, t_ref)) if len(temps) > 1 else np.nan
    alpha = float("nan") if any(c.collapsed for c in checks) else float(fit[0] / a_ref)
    return {"temperatures": temps, "a": a_mean, "a_err": a_err, "alpha": alpha, "t_ref": t_ref, "checks": checks}


def _gather_check(comm, coord: np.ndarray, z: float, grade: np.ndarray | None) -> tuple[float, float | None]:
    """Fraction of atoms with coordination ``z`` and the largest grade, over every rank's local atoms."""
    ok, count = float(np.sum(np.isclose(coord, z))), float(len(coord))  # no atoms counted: fraction NaN
    top = float(grade.max()) if grade is not None and len(grade) else (-np.inf if grade is not None else None)
    if comm is not None and comm.size > 1:
        from mpi4py import MPI

        ok, count = comm.allreduce(ok, op=MPI.SUM), comm.allreduce(count, op=MPI.SUM)
        if top is not None:
            top = comm.allreduce(top, op=MPI.MAX)
    return (ok / count if count else float("nan")), top


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
