"""Configuration generators (ASE): each group reproducible from the seed, each configuration labelled.

Groups: ``eos`` (volumetric strains of the cubic cell at the guessed lattice constant), ``elastic`` (normal
and shear strains at the DFT lattice constant), ``rattle`` (strained cells with random displacements),
``thermal`` (finite-temperature snapshots sampled cheaply with ASE's EMT), ``vacancy`` (a supercell with one
site empty; optionally relaxed by the DFT calculation itself) and ``surface`` (low-index slabs). Element and
lattice come from the config; nothing here is specific to aluminium.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from ase import Atoms

from multiscale.config import settings_from_dict
from multiscale.elastic import deform_cell, elastic_strain_set
from multiscale.errors import ConfigError
from multiscale.material import Material, phase_cell, slab

GROUPS = ("eos", "elastic", "rattle", "thermal", "vacancy", "surface", "phases")
# Groups whose structures are built on the DFT equilibrium lattice constant (they wait for the EOS fit).
NEEDS_A0 = ("elastic", "rattle", "thermal", "vacancy", "surface", "phases")


@dataclass
class EOSGroup:
    """Volumetric strains of the cubic cell around ``material.a_guess``: ``points`` in +-``max_strain`` (linear)."""

    points: int = 7
    max_strain: float = 0.03


@dataclass
class ElasticGroup:
    """Normal (xx) and shear (yz) strains of each amplitude, both signs, at the DFT lattice constant."""

    amplitudes: list[float] = field(default_factory=lambda: [0.005, 0.01])


@dataclass
class RattleGroup:
    """Cells strained by up to ``strain`` and rattled with Gaussian displacements (std ``amplitudes``, Angstrom)."""

    amplitudes: list[float] = field(default_factory=lambda: [0.04, 0.08, 0.12])
    per_amplitude: int = 2
    supercell: list[int] = field(default_factory=lambda: [1, 1, 1])
    strain: float = 0.01


@dataclass
class ThermalGroup:
    """Snapshots of Langevin MD with ASE's EMT at each temperature (K), ``steps`` of 2 fs."""

    temperatures: list[float] = field(default_factory=list)
    per_temperature: int = 2
    supercell: list[int] = field(default_factory=lambda: [1, 1, 1])
    steps: int = 400


@dataclass
class VacancyGroup:
    """One vacancy in each supercell; relaxed by DFT forces to ``relax_fmax`` (eV/Angstrom) when it is > 0."""

    supercells: list[list[int]] = field(default_factory=list)
    relax_fmax: float = 0.0
    relax_steps: int = 30


@dataclass
class SurfaceGroup:
    """1x1 slabs of each facet (``layers``, ``vacuum`` Angstrom each side), plus ``rattled`` rattled copies."""

    facets: list[str] = field(default_factory=list)
    layers: int = 5
    vacuum: float = 6.0
    rattled: int = 0
    rattle_std: float = 0.05


@dataclass
class PhasesGroup:
    """The element in competing lattices (fcc, bcc, hcp at ideal c/a) at the crystal's DFT volume per atom: their
    energies against the crystal's are the phase stability every scale is compared on."""

    lattices: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if isinstance(self.lattices, str):  # "auto" is resolved by multiscale.study before any stage sees it
            raise ConfigError(f"dft.configurations.phases.lattices = {self.lattices!r} reached a stage unresolved. "
                              f"Fix: load the study with multiscale.study.load_study (it resolves auto)")


@dataclass
class ConfigurationSettings:
    """The ``dft.configurations`` section: one settings group per configuration group, and the seed."""

    seed: int = 7
    eos: EOSGroup = field(default_factory=EOSGroup)
    elastic: ElasticGroup = field(default_factory=ElasticGroup)
    rattle: RattleGroup = field(default_factory=RattleGroup)
    thermal: ThermalGroup = field(default_factory=ThermalGroup)
    vacancy: VacancyGroup = field(default_factory=VacancyGroup)
    surface: SurfaceGroup = field(default_factory=SurfaceGroup)
    phases: PhasesGroup = field(default_factory=PhasesGroup)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ConfigurationSettings:
        """From the ``dft.configurations`` config section (missing groups take their defaults)."""
        return settings_from_dict(cls, d, "dft.configurations")

    def count(self, group: str) -> int:
        """Number of configurations of ``group``. Raises :class:`ConfigError` for an unknown group."""
        counts = {"eos": lambda: int(self.eos.points), "elastic": lambda: 4 * len(self.elastic.amplitudes),
                  "rattle": lambda: len(self.rattle.amplitudes) * int(self.rattle.per_amplitude),
                  "thermal": lambda: len(self.thermal.temperatures) * int(self.thermal.per_temperature),
                  "vacancy": lambda: len(self.vacancy.supercells),
                  "surface": lambda: len(self.surface.facets) * (1 + int(self.surface.rattled)),
                  "phases": lambda: len(self.phases.lattices)}
        if group not in counts:
            raise ConfigError(f"unknown configuration group '{group}'. Fix: use one of {GROUPS}")
        return counts[group]()


def configuration_names(settings: ConfigurationSettings) -> dict[str, list[str]]:
    """Names of every configuration, per group, known before anything is computed (for the DAG)."""
    return {g: [f"{g}_{i:03d}" for i in range(settings.count(g))] for g in GROUPS if settings.count(g) > 0}


def _labelled(atoms: Atoms, name: str, group: str, meta: dict[str, Any]) -> Atoms:
    atoms.info.update({"name": name, "group": group, "metadata": json.dumps(meta, sort_keys=True)})
    return atoms


def generate(group: str, material: Material, settings: ConfigurationSettings, a0: float | None = None) -> list[Atoms]:
    """Build the configurations of one group. ``a0`` (DFT lattice constant) is required for NEEDS_A0 groups."""
    if group in NEEDS_A0 and a0 is None:
        raise ConfigError(f"group '{group}' is built on the DFT lattice constant: pass a0 (the --eos artifact)")
    names = configuration_names(settings).get(group, [])
    out: list[Atoms] = []
    if group == "eos":
        n, smax = int(settings.eos.points), float(settings.eos.max_strain)
        for name, s in zip(names, np.linspace(-smax, smax, n), strict=True):
            a = material.a_guess * (1 + s)
            out.append(_labelled(material.cubic_cell(a), name, group, {
                "lattice_constant": a, "linear_strain": s,
                "kpoint_cell": material.cubic_cell().cell[:].tolist()}))  # one k-mesh for every volume
    elif group == "elastic":
        for name, (mode, e) in zip(names, elastic_strain_set(settings.elastic.amplitudes), strict=True):
            atoms = material.cubic_cell(a0)
            atoms.set_cell(deform_cell(atoms.cell[:], e), scale_atoms=True)
            out.append(_labelled(atoms, name, group, {"strain_voigt": e.tolist(), "mode": mode, "a0": a0}))
    elif group == "rattle":
        r = settings.rattle
        rng = np.random.default_rng(settings.seed)
        amps = [a for a in r.amplitudes for _ in range(int(r.per_amplitude))]
        for name, amp in zip(names, amps, strict=True):
            atoms = material.cubic_cell(a0).repeat(tuple(r.supercell))
            e = rng.uniform(-r.strain, r.strain, 6) if r.strain > 0 else np.zeros(6)
            atoms.set_cell(deform_cell(atoms.cell[:], e), scale_atoms=True)
            atoms.positions += rng.normal(0.0, amp, atoms.positions.shape)
            out.append(_labelled(atoms, name, group, {"rattle_std": amp, "strain_voigt": e.tolist(), "a0": a0,
                                                      "supercell": list(r.supercell)}))
    elif group == "thermal":
        out = _thermal(names, material, settings, a0)
    elif group == "vacancy":
        for name, sc in zip(names, settings.vacancy.supercells, strict=True):
            atoms = material.cubic_cell(a0).repeat(tuple(sc))
            n_sites = len(atoms)
            del atoms[0]
            meta = {"a0": a0, "supercell": list(sc), "sites": n_sites, "relaxed": False}
            fmax = float(settings.vacancy.relax_fmax)
            if fmax > 0.0:  # relaxed by the DFT calculation itself (calculator.run_single_point)
                meta.update(relaxed=True, relax={"fmax": fmax, "steps": int(settings.vacancy.relax_steps)})
            out.append(_labelled(atoms, name, group, meta))
    elif group == "surface":
        sf = settings.surface
        rng = np.random.default_rng(settings.seed + 2000)
        copies = 1 + int(sf.rattled)
        jobs = [(facet, i) for facet in sf.facets for i in range(copies)]
        for name, (facet, i) in zip(names, jobs, strict=True):
            atoms = slab(material, str(facet), int(sf.layers), float(sf.vacuum), a0)
            amp = float(sf.rattle_std) if i > 0 else 0.0
            if amp:
                atoms.positions += rng.normal(0.0, amp, atoms.positions.shape)
            area = float(np.linalg.norm(np.cross(atoms.cell[0], atoms.cell[1])))
            out.append(_labelled(atoms, name, group, {"a0": a0, "facet": str(facet), "layers": int(sf.layers),
                                                      "vacuum": float(sf.vacuum), "area": area,
                                                      "rattle_std": amp, "vacuum_axis": 2}))
    elif group == "phases":
        for name, lattice in zip(names, settings.phases.lattices, strict=True):
            if lattice == material.lattice:
                raise ConfigError(f"dft.configurations.phases.lattices names the crystal's own lattice "
                                  f"'{lattice}'. Fix: list only competing lattices")
            out.append(_labelled(phase_cell(material, lattice, a0), name, group,
                                 {"a0": a0, "phase": lattice, "crystal": material.lattice}))
    else:
        raise ConfigError(f"unknown configuration group '{group}'. Fix: use one of {GROUPS}")
    return out


def _thermal(names: list[str], material: Material, settings: ConfigurationSettings, a0: float) -> list[Atoms]:
    """Snapshots of Langevin MD with ASE's EMT at each temperature (cheap geometries, labelled later by DFT).

    EMT only describes Al, Cu, Ag, Au, Ni, Pd and Pt; other elements need another sampler."""
    from ase import units
    from ase.calculators.emt import EMT, parameters
    from ase.md.langevin import Langevin
    from ase.md.velocitydistribution import MaxwellBoltzmannDistribution

    if material.element not in parameters:
        raise ConfigError(f"dft.configurations.thermal: ASE's EMT has no parameters for {material.element}; "
                         f"set dft.configurations.thermal.temperatures: [] or sample with another potential")
    th = settings.thermal
    out: list[Atoms] = []
    temps = [t for t in th.temperatures for _ in range(int(th.per_temperature))]
    for i, (name, temp) in enumerate(zip(names, temps, strict=True)):
        atoms = material.cubic_cell(a0).repeat(tuple(th.supercell))
        atoms.calc = EMT()
        rng = np.random.default_rng(settings.seed + 1000 + i)
        MaxwellBoltzmannDistribution(atoms, temperature_K=2 * temp, rng=rng)
        dyn = Langevin(atoms, 2 * units.fs, temperature_K=temp, friction=0.02, rng=rng)
        dyn.run(int(th.steps))
        snap = material.cubic_cell(a0).repeat(tuple(th.supercell))
        snap.positions = atoms.positions
        out.append(_labelled(snap, name, "thermal", {"a0": a0, "temperature": temp, "sampler": "EMT Langevin",
                                                     "steps": int(th.steps), "supercell": list(th.supercell)}))
    return out
