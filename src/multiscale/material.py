"""The material and its crystal: one element on a cubic lattice, and the structures every scale builds from it.

Shared by all stages (DFT configurations, LAMMPS properties and specimen, the atlas' per-atom features), so that
a slab, a neighbour shell or an oriented crystal is the same object at every scale. Nothing here is specific to
one element: element and lattice come from the study's ``material`` section.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
from ase import Atoms
from ase.build import bulk

from multiscale.config import settings_from_dict
from multiscale.errors import ConfigError

LATTICES = ("fcc", "bcc", "sc")
# ASE builders of 1x1 low-index slabs per lattice and facet
SLABS = {"fcc": {"100": "fcc100", "110": "fcc110", "111": "fcc111"},
         "bcc": {"100": "bcc100", "110": "bcc110", "111": "bcc111"}}
# Common-neighbour-analysis structure id of each lattice (LAMMPS ``compute cna/atom``: 1 fcc, 3 bcc) and the
# CNA cutoff in units of a0 (between the first and second shells, from the LAMMPS manual)
CNA = {"fcc": (1, 0.854), "bcc": (3, 1.207)}
# The lattices a whole study handles (slabs and CNA exist for them; the schema's material.lattice), and how far
# material.a_guess may lie from the element's reference lattice constant (relative)
STUDY_LATTICES = ("fcc", "bcc")
A_GUESS_TOLERANCE = 0.10

# The one table of what differs between lattices where a study builds structures, so no stage branches on the
# lattice for it. ``hole_min_coordination``: the smallest number of first-shell neighbours an atom has on a
# low-index ({100}, {110}, {111}) surface of the lattice (fcc: 7 on (110), 8 on (100), 9 on (111); bcc: 4 on
# (100) and (111), 6 on (110); computed from ASE's slabs in the tests). A hole cut in a crystal keeps atoms with at
# least this many neighbours (the surface a real hole would have) and removes the corner atoms no surface has;
# with the fcc value, a bcc hole loses its whole surface ring and grows to twice its radius.
#
# ``snap_cutoff_nn``: the SNAP cutoff (``mlip.rcutfac: auto``) in nearest-neighbour distances: 1.68, aluminium's
# 4.8 A (between the 2nd and 3rd fcc shells, at 1.41 and 1.73). For bcc the 3rd shell (1.633) lies just inside,
# where the switching function has almost vanished (0.002), so it sees 2 shells in effect; the published bcc SNAPs
# shipped with LAMMPS span the same range (Ta06A 4.67 A = 1.63, Mo 4.6 A = 1.69, W 4.73 A = 1.73).
# The specimen's hole axis needs no entry: the default orientation (x [110], y [001], hole axis [1-10]) holds two
# {111} slip planes of fcc and two {112}<111> edge systems of bcc (Schmid factor ~0.47 under the x load).
#
# ``competing_phases``: the lattices ``dft.configurations.phases.lattices: auto`` compares the crystal with (the
# close-packed and the bcc alternatives of an fcc metal, the close-packed ones of a bcc metal).
LATTICE_TABLE: dict[str, dict[str, Any]] = {
    "fcc": {"hole_min_coordination": 7, "snap_cutoff_nn": 1.68, "competing_phases": ["hcp", "bcc"]},
    "bcc": {"hole_min_coordination": 4, "snap_cutoff_nn": 1.68, "competing_phases": ["fcc", "hcp"]},
}
# Initial magnetic moments (Bohr magnetons per atom) of the elements whose ground state is ferromagnetic: the
# measured saturation moments at 0 K (C. Kittel, Introduction to Solid State Physics, 8th ed., Wiley (2005),
# ch. 11, Table 2: Fe 2.22, Co 1.72, Ni 0.606). A DFT calculation of these elements starts spin-polarised from them
# (``dft.magmom: auto``); every other element is computed spin-paired.
MAGNETIC_MOMENTS: dict[str, float] = {"Fe": 2.22, "Co": 1.72, "Ni": 0.606}


def hole_min_coordination(lattice: str, configured: int | None = None) -> int:
    """The hole clean-up threshold: ``configured`` (``specimen.min_coordination``) if set, else the lattice's
    value in :data:`LATTICE_TABLE`. Raises :class:`ConfigError` for a lattice the table does not hold."""
    if configured is not None:
        return int(configured)
    if lattice not in LATTICE_TABLE:
        raise ConfigError(f"material.lattice = '{lattice}': no hole clean-up rule for it. Fix: set "
                          f"specimen.min_coordination, or use one of {sorted(LATTICE_TABLE)}")
    return int(LATTICE_TABLE[lattice]["hole_min_coordination"])


def snap_cutoff(material: Material) -> float:
    """The SNAP cutoff radius of ``mlip.rcutfac: auto`` (Angstrom): the lattice's ``snap_cutoff_nn``
    nearest-neighbour distances at ``material.a_guess``, rounded to 0.01 A (aluminium 4.80, copper 4.31, tantalum
    4.82). The guess, not the DFT lattice constant: the descriptors are fixed before the DFT stage has run, and the
    guess is checked within 10% of the element's reference lattice constant. Raises :class:`ConfigError` for a
    lattice the table does not hold."""
    if material.lattice not in LATTICE_TABLE:
        raise ConfigError(f"material.lattice = '{material.lattice}': no SNAP cutoff rule for it. Fix: set "
                          f"mlip.rcutfac (Angstrom), or use one of {sorted(LATTICE_TABLE)}")
    nn = nearest_neighbour_distance(material, material.a_guess)
    return round(float(LATTICE_TABLE[material.lattice]["snap_cutoff_nn"] * nn), 2)


def initial_magnetic_moment(element: str, configured: float | str = "auto") -> float:
    """Initial magnetic moment (Bohr magnetons per atom) of a DFT calculation: ``configured`` (``dft.magmom``) if a
    number, else the element's entry of :data:`MAGNETIC_MOMENTS` (0: spin-paired)."""
    if configured != "auto":
        return float(configured)
    return float(MAGNETIC_MOMENTS.get(element, 0.0))


@dataclass
class Material:
    """One element on a cubic lattice; ``a_guess`` (Angstrom) seeds the DFT equation of state."""

    element: str = "Al"
    lattice: str = "fcc"
    a_guess: float = 4.04

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Material:
        return settings_from_dict(cls, d, "material")

    def check(self) -> None:
        """The element exists (:meth:`check_element`) and the crystal is its reference crystal
        (:meth:`check_crystal`). Raises :class:`ConfigError` naming the key and the fix otherwise."""
        self.check_element()
        self.check_crystal()

    def check_element(self) -> None:
        """``element`` is a chemical symbol. Raises :class:`ConfigError` naming material.element otherwise."""
        from ase.data import chemical_symbols

        if self.element not in chemical_symbols[1:]:
            raise ConfigError(f"material.element = '{self.element}' is not a chemical element. Fix: use a chemical "
                              f"symbol whose reference crystal is {' or '.join(STUDY_LATTICES)}, e.g. Al, Cu, Ni "
                              f"(fcc) or Ta, W, Fe (bcc)")

    def check_crystal(self) -> None:
        """The crystal is the element's reference crystal (``ase.data.reference_states``); ``element`` is known.

        A study treats each element in its reference crystal: ``lattice`` must be that lattice, which must be one
        of :data:`STUDY_LATTICES`, and ``a_guess`` must lie within :data:`A_GUESS_TOLERANCE` of its lattice
        constant. Raises :class:`ConfigError` naming the key and the fix otherwise."""
        from ase.data import atomic_numbers, reference_states

        ref = reference_states[atomic_numbers[self.element]] or {}
        symmetry = ref.get("symmetry")
        if symmetry not in STUDY_LATTICES:
            raise ConfigError(f"material.element = '{self.element}': its reference crystal (ase.data.reference_states)"
                              f" is {symmetry or 'unknown'}, and a study builds {' and '.join(STUDY_LATTICES)} "
                              f"crystals only. Fix: choose an element whose reference crystal is "
                              f"{' or '.join(STUDY_LATTICES)}, e.g. Al, Cu, Ni (fcc) or Ta, W, Fe (bcc)")
        a_ref = float(ref["a"])
        if self.lattice != symmetry:
            raise ConfigError(f"material.lattice = '{self.lattice}': the reference crystal of {self.element} "
                              f"(ase.data.reference_states) is {symmetry} with a = {a_ref} A, and a study treats each "
                              f"element in its reference crystal. Fix: set material.lattice: {symmetry} (and "
                              f"material.a_guess near {a_ref})")
        if abs(self.a_guess / a_ref - 1) > A_GUESS_TOLERANCE:
            raise ConfigError(f"material.a_guess = {self.a_guess} A is {abs(self.a_guess / a_ref - 1):.0%} from the "
                              f"lattice constant of {symmetry} {self.element}, {a_ref} A (ase.data.reference_states; "
                              f"at most {A_GUESS_TOLERANCE:.0%} allowed). Fix: set material.a_guess near {a_ref}")

    def cubic_cell(self, a: float | None = None) -> Atoms:
        """The conventional cubic cell at lattice constant ``a`` (default ``a_guess``), Angstrom."""
        return bulk(self.element, self.lattice, a=a or self.a_guess, cubic=True)

    def primitive_cell(self, a: float | None = None) -> Atoms:
        """The primitive cell (1 atom for fcc/bcc/sc) at lattice constant ``a``."""
        return bulk(self.element, self.lattice, a=a or self.a_guess)

    @property
    def atoms_per_cubic_cell(self) -> int:
        return len(self.cubic_cell())


def neighbour_shells(material: Material, a0: float) -> tuple[float, float]:
    """First and second neighbour distances (Angstrom) of the ideal lattice at ``a0``."""
    return _shells(material.element, material.lattice, float(a0))


@lru_cache(maxsize=32)
def _shells(element: str, lattice: str, a0: float) -> tuple[float, float]:
    from ase.neighborlist import neighbor_list

    atoms = Material(element, lattice, a0).cubic_cell(a0).repeat(3)
    d = np.unique(np.round(neighbor_list("d", atoms, 1.5 * a0), 4))
    return float(d[0]), float(d[1])


def coordination_cutoff(material: Material, a0: float) -> float:
    """Cutoff between the first and second neighbour shells (Angstrom): what counts as a neighbour."""
    first, second = neighbour_shells(material, a0)
    return 0.5 * (first + second)


def bulk_coordination(material: Material, a0: float) -> float:
    """Neighbours of an atom in the perfect crystal within :func:`coordination_cutoff` (12 fcc, 8 bcc)."""
    from ase.neighborlist import neighbor_list

    cell = material.cubic_cell(a0)
    return len(neighbor_list("i", cell, coordination_cutoff(material, a0))) / len(cell)


def nearest_neighbour_distance(material: Material, a0: float) -> float:
    """Nearest-neighbour distance (Angstrom) of the ideal lattice: a0/sqrt(2) (fcc), a0 sqrt(3)/2 (bcc), a0 (sc).

    Raises :class:`ConfigError` for another lattice."""
    if material.lattice == "fcc":
        return a0 / np.sqrt(2)
    if material.lattice == "bcc":
        return a0 * np.sqrt(3) / 2
    if material.lattice == "sc":
        return float(a0)
    raise ConfigError(f"material.lattice = '{material.lattice}'. Fix: use one of {LATTICES}")


PHASES = ("fcc", "bcc", "hcp")


def phase_cell(material: Material, phase: str, a0: float) -> Atoms:
    """The element as ``phase`` (fcc, bcc or hcp with ideal c/a) at the same volume per atom as its own lattice at
    ``a0``: the competing phases of a phase-stability comparison at fixed volume (no relaxation needed: every
    atom sits on a symmetry site). Raises :class:`ConfigError` for an unknown phase."""
    volume = material.cubic_cell(a0).get_volume() / material.atoms_per_cubic_cell
    if phase == "fcc":
        return bulk(material.element, "fcc", a=(4 * volume) ** (1 / 3), cubic=True)
    if phase == "bcc":
        return bulk(material.element, "bcc", a=(2 * volume) ** (1 / 3), cubic=True)
    if phase == "hcp":  # ideal c/a = sqrt(8/3); volume per atom = sqrt(3)/2 a^2 c / 2 = a^3 / sqrt(2)
        a = (np.sqrt(2) * volume) ** (1 / 3)
        return bulk(material.element, "hcp", a=a, c=a * np.sqrt(8 / 3))
    raise ConfigError(f"phase '{phase}': use one of {PHASES}")


def stacking_fault_cell(material: Material, a0: float, periods: int, shift: float) -> Atoms:
    """A periodic fcc block with a generalized stacking fault on (111): x = [1-10], y = [11-2], z = [111],
    ``periods`` of three {111} layers along z, and the cell vector c tilted by ``shift`` partial Burgers vectors
    b_p = a0/sqrt(6) along y, so one fault sits at the periodic boundary (shift 1: the intrinsic stacking fault;
    the maximum along 0..1: the unstable one). Six atoms per period; in-plane area sqrt(3)/2 a0^2. Raises
    :class:`ConfigError` for a lattice other than fcc (its close-packed slip system is what this builds)."""
    if material.lattice != "fcc":
        raise ConfigError(f"material.lattice = '{material.lattice}': the {{111}}<112> stacking fault is an fcc "
                          f"property. Fix: leave md.stacking_fault.periods at 0 for a {material.lattice} metal")
    atoms = oriented_crystal(material, a0, [[1, -1, 0], [1, 1, -2], [1, 1, 1]], (1, 1, int(periods)))
    cell = atoms.cell[:].copy()
    cell[2, 1] += shift * a0 / np.sqrt(6)
    atoms.set_cell(cell, scale_atoms=False)
    atoms.wrap()
    return atoms


def oriented_crystal(material: Material, a0: float, orientation: list[list[int]], size: tuple[int, int, int]
                     ) -> Atoms:
    """A periodic block with crystal directions ``orientation`` (rows: x, y, z) repeated ``size`` times.

    Raises :class:`ConfigError` for a lattice with no ASE builder."""
    from ase.lattice.cubic import BodyCenteredCubic, FaceCenteredCubic, SimpleCubic

    make = {"fcc": FaceCenteredCubic, "bcc": BodyCenteredCubic, "sc": SimpleCubic}.get(material.lattice)
    if make is None:
        raise ConfigError(f"material.lattice = '{material.lattice}': oriented crystals exist for {LATTICES}. "
                          f"Fix: use one of them")
    return make(directions=[list(map(int, d)) for d in orientation], size=size, symbol=material.element,
                latticeconstant=a0, pbc=True)


def slab(material: Material, facet: str, layers: int, vacuum: float, a0: float) -> Atoms:
    """A 1x1 low-index slab, periodic in plane, ``vacuum`` (Angstrom) on each side (the same at every scale).

    Raises :class:`ConfigError` for a facet without a builder for the lattice."""
    from ase import build

    try:
        make = getattr(build, SLABS[material.lattice][str(facet)])
    except KeyError:
        raise ConfigError(f"surface facet '{facet}': no slab for a {material.lattice} lattice. Fix: use one of "
                          f"{sorted(SLABS.get(material.lattice, {}))} in the surface facets of the config") from None
    return make(material.element, size=(1, 1, int(layers)), a=a0, vacuum=float(vacuum), periodic=True)


def slip_systems(lattice: str) -> tuple[str, np.ndarray, np.ndarray]:
    """The lattice's primary slip systems in crystal coordinates: name, unit plane normals (n, 3) and unit slip
    directions (n, 3), one row per system: fcc {111}<110> (12 systems), bcc {110}<111> (12 systems) (Hull and
    Bacon, Introduction to Dislocations, 5th ed. (2011), ch. 3). Raises :class:`ConfigError` for another lattice."""
    from itertools import product

    if lattice == "fcc":
        name, planes = "{111}<110>", [np.array(p) for p in ((1, 1, 1), (-1, 1, 1), (1, -1, 1), (1, 1, -1))]
        dirs = [np.array(d) for d in product((-1, 0, 1), repeat=3) if sorted(map(abs, d)) == [0, 1, 1]]
    elif lattice == "bcc":
        name, planes = "{110}<111>", [np.array(p) for p in product((-1, 0, 1), repeat=3)
                                      if sorted(map(abs, p)) == [0, 1, 1]]
        dirs = [np.array(d) for d in product((-1, 1), repeat=3)]
    else:
        raise ConfigError(f"no slip systems for lattice {lattice!r}. Fix: material.lattice one of fcc, bcc")
    normals, slips, seen = [], [], set()
    for n in planes:
        for d in dirs:
            key = (tuple(n), tuple(d))
            if n @ d == 0 and (tuple(-n), tuple(d)) not in seen and (tuple(n), tuple(-d)) not in seen \
                    and (tuple(-n), tuple(-d)) not in seen:
                seen.add(key)
                normals.append(n / np.linalg.norm(n))
                slips.append(d / np.linalg.norm(d))
    return name, np.array(normals), np.array(slips)


def partial_slip_systems(lattice: str) -> tuple[str, np.ndarray, np.ndarray]:
    """The Shockley partials of an fcc crystal, {111}<112> (12 plane-direction pairs, each direction with both
    senses counted by |tau|), as :func:`slip_systems` returns them: the systems whose critical stress the unstable
    stacking-fault energy sets (Rice, J. Mech. Phys. Solids 40, 239 (1992)). Raises :class:`ConfigError` for
    another lattice."""
    from itertools import permutations

    if lattice != "fcc":
        raise ConfigError(f"no partial slip systems for lattice {lattice!r}. Fix: material.lattice fcc")
    planes = [np.array(p) for p in ((1, 1, 1), (-1, 1, 1), (1, -1, 1), (1, 1, -1))]
    dirs = {tuple(s * np.array(q)) for q in set(permutations((2, 1, 1))) for s in (1, -1)}
    dirs |= {tuple(np.array(d) * np.array(m)) for d in list(dirs) for m in ((1, -1, -1), (-1, 1, -1), (-1, -1, 1))}
    normals, slips, seen = [], [], set()
    for n in planes:
        for d in sorted(dirs):
            d = np.array(d)
            if n @ d == 0 and (tuple(n), tuple(-d)) not in seen:
                seen.add((tuple(n), tuple(d)))
                normals.append(n / np.linalg.norm(n))
                slips.append(d / np.linalg.norm(d))
    return "{111}<112> partials", np.array(normals), np.array(slips)
