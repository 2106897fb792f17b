"""Explorers: candidate configurations small enough for DFT, each graded by the current potential.

Families (:data:`multiscale.active.settings.FAMILIES`):

- ``strained_bulk``: the crystal under uniaxial and shear strains up to the plasticity sweep's largest strain;
- ``stacking_fault``: the generalized stacking-fault path on {111}<112> (the unstable and intrinsic faults the
  plasticity onset depends on);
- ``hot_md``: NVT snapshots with the current potential near and below the melting point;
- ``specimen``: the plate with a hole relaxed with the current potential; around every atom beyond the
  extrapolation threshold a cylinder is cut out along the periodic hole axis (the curved surface's steps and kinks
  kept), with vacuum around, at most ``max_atoms`` atoms.

Every candidate gets its per-atom extrapolation grade and epistemic force std under the current potential
(:func:`grade`). The cut-out geometry is our own: no library carves DFT-sized cells out of an MD specimen (FLARE
and DP-GEN label whole frames; pacemaker's cluster extraction cuts spheres without periodic axes), and the plate's
periodic thickness must be kept for the hole surface to stay what it is.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from ase import Atoms

from multiscale.active.settings import (
    HotMDSettings,
    SpecimenExplorerSettings,
    StackingFaultSettings,
    StrainedBulkSettings,
)
from multiscale.elastic import deform_cell
from multiscale.errors import ConfigError
from multiscale.lammps import Potential, Session
from multiscale.material import Material, stacking_fault_cell
from multiscale.mlip.snap import LOOP_GROUP_PREFIX


def _tag(atoms: Atoms, family: str, name: str, **meta: Any) -> Atoms:
    atoms.info.update(name=name, group=f"{LOOP_GROUP_PREFIX}{family}", metadata=json.dumps({"family": family, **meta}))
    return atoms


def strained_bulk(material: Material, a0: float, s: StrainedBulkSettings, rng: np.random.Generator) -> list[Atoms]:
    """Uniaxial (xx) and shear (yz) strained cells, ``s.steps`` amplitudes up to ``s.max_strain`` (both signs
    for the normal strain), each rattled: (3 s.steps) configurations of 4 prod(s.supercell) atoms (fcc)."""
    out = []
    for i, amp in enumerate(np.linspace(s.max_strain / s.steps, s.max_strain, s.steps)):
        for mode, index, sign in (("xx+", 0, 1), ("xx-", 0, -1), ("yz", 3, 1)):
            strain = np.zeros(6)
            strain[index] = sign * amp
            atoms = material.cubic_cell(a0).repeat(tuple(s.supercell))
            atoms.set_cell(deform_cell(atoms.cell[:], strain), scale_atoms=True)
            atoms.positions += rng.normal(0.0, s.rattle, atoms.positions.shape)
            out.append(_tag(atoms, "strained_bulk", f"bulk_{mode}_{i}", strain_voigt=strain.tolist()))
    return out


def stacking_fault_path(material: Material, a0: float, s: StackingFaultSettings,
                        rng: np.random.Generator) -> list[Atoms]:
    """``s.points`` cells along the {111}<112> path (shift in partial Burgers vectors, (0, 1]), rattled.
    Raises :class:`ConfigError` for a lattice other than fcc."""
    out = []
    for i, shift in enumerate(np.linspace(1.0 / s.points, 1.0, s.points)):
        atoms = stacking_fault_cell(material, a0, s.periods, float(shift))
        atoms.positions += rng.normal(0.0, s.rattle, atoms.positions.shape)
        out.append(_tag(atoms, "stacking_fault", f"gsf_{i}", shift=float(shift)))
    return out


def hot_md(pot: Potential, material: Material, a0: float, s: HotMDSettings, comm=None) -> list[Atoms]:
    """NVT (Nose-Hoover) snapshots of the cubic ``s.supercell``^3 crystal at each temperature, one every
    ``s.steps`` steps after as many of equilibration, with ``pot``; the box at a0 (no thermal expansion: the
    strained-bulk family covers the volume)."""
    out = []
    for t in s.temperatures:
        atoms = material.cubic_cell(a0).repeat(s.supercell)
        with Session(atoms, pot, comm) as sess:
            sess.run(f"timestep {s.timestep}\nvelocity all create {2 * t} {s.seed} loop geom\n"
                     f"fix nvt all nvt temp {t} {t} {100 * s.timestep}\nrun {s.steps}")
            for k in range(s.snapshots):
                sess.run(f"run {s.steps}")
                snap = atoms.copy()
                snap.positions = sess.positions()
                out.append(_tag(snap, "hot_md", f"hot_{int(t)}K_{k}", temperature_K=float(t)))
    return out


def cut_cylinder(positions: np.ndarray, lz: float, centre: int, radius: float, max_atoms: int, vacuum: float,
                 number: int) -> Atoms | None:
    """Atoms within ``radius`` (Angstrom, in x-y) of atom ``centre``, over the full periodic length ``lz`` along
    z, in a cell with ``vacuum`` around in x and y (pbc False, False, True); the radius is shrunk in 0.25
    Angstrom steps until at most ``max_atoms`` remain. None if even half the radius holds more."""
    d = np.hypot(*(positions[:, :2] - positions[centre, :2]).T)
    r = radius
    while r >= radius / 2:
        keep = d <= r
        if keep.sum() <= max_atoms:
            pos = positions[keep].copy()
            pos[:, 2] %= lz
            lo, hi = pos[:, :2].min(axis=0), pos[:, :2].max(axis=0)
            pos[:, :2] += vacuum - lo
            cell = np.diag([*(hi - lo + 2 * vacuum), lz])
            return Atoms(numbers=[number] * int(keep.sum()), positions=pos, cell=cell, pbc=(False, False, True))
        r -= 0.25
    return None


def specimen_cutouts(positions: np.ndarray, lz: float, grade: np.ndarray, free: np.ndarray, threshold: float,
                     s: SpecimenExplorerSettings, number: int, strain: float) -> list[Atoms]:
    """Cut-outs around the free atoms beyond ``threshold``, worst first; a centre within ``s.radius`` of an
    earlier one is skipped (its neighbourhood is already in a cut), at most ``s.max_cuts``."""
    order = [int(i) for i in np.argsort(-grade) if free[i] and grade[i] > threshold]
    centres: list[int] = []
    out = []
    for i in order:
        if len(out) >= s.max_cuts:
            break
        if any(np.hypot(*(positions[i, :2] - positions[c, :2])) < s.radius for c in centres):
            continue
        atoms = cut_cylinder(positions, lz, i, s.radius, s.max_atoms, s.vacuum, number)
        if atoms is None:
            continue
        centres.append(i)
        out.append(_tag(atoms, "specimen", f"cut_{strain:g}_{i}", centre_atom=i, centre_grade=float(grade[i]),
                        strain=float(strain)))
    return out


@dataclass
class Graded:
    """Per-atom extrapolation grade and epistemic force std (eV/Angstrom, norm over x, y, z) of a candidate,
    with its SNAP design rows (for the downstream rule)."""

    grade: np.ndarray
    force_std: np.ndarray
    rows: dict[str, np.ndarray]


def grade(candidates: Sequence[Atoms], model, grader, descriptor_settings) -> list[Graded]:
    """Grade every candidate with the current potential (``model``: its posterior, ``grader``: its training
    atoms' descriptor distribution) from LAMMPS ``compute snap`` rows."""
    from multiscale.mlip.snap import descriptors

    out = []
    for atoms in candidates:
        d = descriptors(atoms, descriptor_settings)
        p = model.predict(d, len(atoms))
        out.append(Graded(grader.grade(d["atom"]), np.linalg.norm(p["forces_std_epistemic"], axis=1), d))
    return out


def check_lattice(material: Material, families: Sequence[str]) -> None:
    """The stacking-fault family needs an fcc crystal. Raises :class:`ConfigError` naming the key otherwise."""
    if "stacking_fault" in families and material.lattice != "fcc":
        raise ConfigError(f"active_learning.explorers.families lists stacking_fault, which builds the fcc "
                          f"{{111}}<112> path, but material.lattice is {material.lattice}. Fix: remove it")
