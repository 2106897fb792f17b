"""Configuration generators (ASE): each group reproducible from the seed, each configuration labelled.

Groups: ``eos`` (volumetric strains of the cubic cell at the guessed lattice constant), ``elastic`` (normal
and shear strains at the DFT lattice constant), ``rattle`` (strained cells with random displacements).
Element and lattice come from the config; nothing here is specific to aluminium.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from ase import Atoms
from ase.build import bulk

from multiscale.elastic import deform_cell, elastic_strain_set

GROUPS = ("eos", "elastic", "rattle")
# Groups whose structures are built on the DFT equilibrium lattice constant (they wait for the EOS fit).
NEEDS_A0 = ("elastic", "rattle")


@dataclass
class Material:
    element: str = "Al"
    lattice: str = "fcc"
    a_guess: float = 4.04

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Material:
        return cls(**d)

    def cubic_cell(self, a: float | None = None) -> Atoms:
        return bulk(self.element, self.lattice, a=a or self.a_guess, cubic=True)

    @property
    def atoms_per_cubic_cell(self) -> int:
        return len(self.cubic_cell())


@dataclass
class ConfigurationSettings:
    seed: int = 7
    eos: dict[str, Any] = field(default_factory=lambda: {"points": 7, "max_strain": 0.03})
    elastic: dict[str, Any] = field(default_factory=lambda: {"amplitudes": [0.005, 0.01]})
    rattle: dict[str, Any] = field(default_factory=lambda: {
        "amplitudes": [0.04, 0.08, 0.12], "per_amplitude": 2, "supercell": [1, 1, 1], "strain": 0.01})

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ConfigurationSettings:
        return cls(**d)

    def count(self, group: str) -> int:
        if group == "eos":
            return int(self.eos["points"])
        if group == "elastic":
            return 4 * len(self.elastic["amplitudes"])
        if group == "rattle":
            return len(self.rattle["amplitudes"]) * int(self.rattle["per_amplitude"])
        raise KeyError(f"unknown configuration group '{group}'; known: {GROUPS}")


def configuration_names(settings: ConfigurationSettings) -> dict[str, list[str]]:
    """Names of every configuration, per group, known before anything is computed (for the DAG)."""
    return {g: [f"{g}_{i:03d}" for i in range(settings.count(g))] for g in GROUPS if settings.count(g) > 0}


def _labelled(atoms: Atoms, name: str, group: str, meta: dict[str, Any]) -> Atoms:
    atoms.info.update({"name": name, "group": group, "metadata": json.dumps(meta, sort_keys=True)})
    return atoms


def generate(group: str, material: Material, settings: ConfigurationSettings, a0: float | None = None) -> list[Atoms]:
    """Build the configurations of one group. ``a0`` (DFT lattice constant) is required for NEEDS_A0 groups."""
    if group in NEEDS_A0 and a0 is None:
        raise ValueError(f"group '{group}' is built on the DFT lattice constant: pass a0")
    names = configuration_names(settings).get(group, [])
    out: list[Atoms] = []
    if group == "eos":
        n, smax = int(settings.eos["points"]), float(settings.eos["max_strain"])
        for name, s in zip(names, np.linspace(-smax, smax, n), strict=True):
            a = material.a_guess * (1 + s)
            out.append(_labelled(material.cubic_cell(a), name, group, {"lattice_constant": a, "linear_strain": s}))
    elif group == "elastic":
        for name, (mode, e) in zip(names, elastic_strain_set(settings.elastic["amplitudes"]), strict=True):
            atoms = material.cubic_cell(a0)
            atoms.set_cell(deform_cell(atoms.cell[:], e), scale_atoms=True)
            out.append(_labelled(atoms, name, group, {"strain_voigt": e.tolist(), "mode": mode, "a0": a0}))
    elif group == "rattle":
        r = settings.rattle
        rng = np.random.default_rng(settings.seed)
        amps = [a for a in r["amplitudes"] for _ in range(int(r["per_amplitude"]))]
        for name, amp in zip(names, amps, strict=True):
            atoms = material.cubic_cell(a0).repeat(tuple(r["supercell"]))
            e = rng.uniform(-r["strain"], r["strain"], 6) if r["strain"] > 0 else np.zeros(6)
            atoms.set_cell(deform_cell(atoms.cell[:], e), scale_atoms=True)
            atoms.positions += rng.normal(0.0, amp, atoms.positions.shape)
            out.append(_labelled(atoms, name, group, {"rattle_std": amp, "strain_voigt": e.tolist(), "a0": a0,
                                                      "supercell": list(r["supercell"])}))
    else:
        raise KeyError(f"unknown configuration group '{group}'; known: {GROUPS}")
    return out
