"""Units, conversion factors and the one table of property units: the single home of every such constant.

Conventions (everywhere in multiscale): lengths in Angstrom (the specimen and FEM in nm), energies in eV, forces
in eV/Angstrom, stresses in GPa in Voigt order (xx, yy, zz, yz, xz, xy) with ASE's sign (positive = tensile) and
engineering shear strains. Conversion factors are CODATA 2014 values as used by ASE (``ase.units``).
"""

from __future__ import annotations

EV_PER_A3_TO_GPA = 160.21766208          # 1 eV/Angstrom^3 in GPa
EV_PER_A2_TO_J_PER_M2 = 16.021766208     # 1 eV/Angstrom^2 in J/m^2
BAR_TO_GPA = 1e-4                        # LAMMPS 'metal' pressure unit (bar) in GPa
KBAR_TO_GPA = 0.1                        # VASP's stress unit (kbar) in GPa
ANGSTROM_PER_NM = 10.0

VOIGT_NAMES = ("xx", "yy", "zz", "yz", "xz", "xy")
VOIGT_PAIRS = ((0, 0), (1, 1), (2, 2), (1, 2), (0, 2), (0, 1))   # tensor indices of each Voigt component

# Units of every material property a stage reports (properties artifacts, divergence records); anything not
# listed is an elastic modulus in GPa.
PROPERTY_UNITS = {
    "a0": "Angstrom", "E0": "eV/atom", "B": "GPa", "C11": "GPa", "C12": "GPa", "C44": "GPa",
    "vacancy_formation_energy": "eV", "surface_energy_100": "J/m^2", "surface_energy_110": "J/m^2",
    "surface_energy_111": "J/m^2", "alpha": "1/K",
    "isf_111": "mJ/m^2", "usf_111": "mJ/m^2",
    **{f"phase_{p}_minus_{q}": "meV/atom" for p in ("fcc", "bcc", "hcp") for q in ("fcc", "bcc", "hcp") if p != q},
}


def property_units(name: str) -> str:
    """Units of property ``name`` (GPa for an elastic modulus not in :data:`PROPERTY_UNITS`)."""
    return PROPERTY_UNITS.get(name, "GPa")
