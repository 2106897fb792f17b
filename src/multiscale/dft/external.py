"""Bring your own data (``dft.external``): labelled configurations from files ASE reads, each as its own fidelity.

An entry names a file in any format ``ase.io.read`` returns with its labels (extended XYZ, ASE trajectory, VASP
OUTCAR or vasprun.xml, Quantum ESPRESSO output, ...), the frames to take (``index``, default all), the settings its
labels were made with as the user declares them, a fidelity name (several files may share one) and a group (or the
frames' own ``config_type``). :func:`external_configurations` turns the entries into dataset rows for
:func:`multiscale.dft.stage.gather`; :meth:`ExternalSource.check` and :func:`check_fidelities` do the same reading
and checks before any job runs (wired in ``multiscale.study.semantic_checks``).

Labels, in the dataset's units:

- energy (eV): the file's free (force-consistent) energy when it has one (ASE's ``free_energy``, e.g. VASP's
  TOTEN), as the product's own GPAW labels are, else its ``energy``;
- forces (eV/Angstrom): required in every frame;
- stress (GPa, Voigt xx yy zz yz xz xy, positive = tensile, ASE's sign): required in every frame. ASE holds it
  in eV/Angstrom^3 and converts VASP's and Quantum ESPRESSO's units itself; it is multiplied by
  :data:`multiscale.units.EV_PER_A3_TO_GPA`. An extended XYZ ``stress`` is taken as eV/Angstrom^3 unless the
  entry declares ``stress_units`` (GPa or kbar); a frame without ``stress`` may give QUIP's ``virial`` (eV,
  = -stress x volume), and a frame with both must have them agree (a stress in GPa read as eV/Angstrom^3 is 160x
  too large: an error, not a label).

Energies (``energy_reference``), since the fit has no per-fidelity energy offset:

- ``own`` (default): kept as labels of the fidelity (in the dataset and its extxyz export), but neither fitted nor
  scored: energies of another code or other settings share no reference with the training settings' (the
  pseudopotentials alone shift them by eV/atom). The forces and stresses are fitted.
- ``training``: they share the training settings' reference and are fitted like them; allowed only when the
  declared settings are the training settings (code GPAW, ``dft.xc``, ``ecut``, ``kpt_density``, ``smearing``,
  ``smearing_method``), e.g. the product's own export of a study at these settings.
- ``none``: dropped (energy NaN), e.g. for a file without energies.

The rule reaches the fit through the dataset's ``fidelities`` attribute: a fidelity's energies are fitted exactly
when its ``labels`` list ``energy`` (:func:`energy_labels`).
"""

from __future__ import annotations

import functools
import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from ase import Atoms

from multiscale.artifacts import Artifact, sha256_file
from multiscale.atomsio import structure_arrays
from multiscale.config import settings_from_dict
from multiscale.dft.calculator import DEFAULT_SMEARING_METHOD, DFTSettings
from multiscale.elastic import voigt_components
from multiscale.errors import ConfigError
from multiscale.units import EV_PER_A3_TO_GPA, KBAR_TO_GPA

# The study's own fidelities (the configured settings; the convergence study's scans); external names differ.
TRAINING, CONVERGED = "training", "converged"
ENERGY_REFERENCES = ("own", "training", "none")
# An extended XYZ stress in these units, to ASE's eV/Angstrom^3
STRESS_UNITS = {"eV/A^3": 1.0, "GPa": 1.0 / EV_PER_A3_TO_GPA, "kbar": KBAR_TO_GPA / EV_PER_A3_TO_GPA}
# Settings every entry declares (null: does not apply, e.g. the cutoff of a code without plane waves), plus the
# k-points as kpt_density or kpts
DECLARED = ("code", "xc", "ecut", "smearing")
KPOINTS = ("kpt_density", "kpts")


@dataclass
class ExternalSource:
    """One ``dft.external`` entry (keys and meaning as in the config schema). ``index`` is an ASE index (``":"``,
    ``"-1"``, ``"0:10"``, ``"::2"`` or an integer), ``format`` an ASE format name (None: ASE guesses from the file),
    ``stress_units`` the units of an extended XYZ ``stress`` (a key of :data:`STRESS_UNITS`)."""

    file: str = ""
    fidelity: str = ""
    settings: dict[str, Any] = field(default_factory=dict)
    index: str | int = ":"
    format: str | None = None
    group: str = "external"
    config_type: bool = True
    energy_reference: str = "own"
    stress_units: str = "eV/A^3"

    @classmethod
    def from_dict(cls, d: dict[str, Any], key: str) -> ExternalSource:
        """From one ``dft.external`` entry; ``key`` (e.g. ``dft.external[0]``) is named in errors."""
        if not isinstance(d, dict):
            raise ConfigError(f"{key} = {d!r}: an entry is a mapping with file, fidelity and settings. Fix: see "
                              f"dft.external in workflow/schemas/config.schema.yaml")
        return settings_from_dict(cls, d, key)

    # ----------------------------------------------------------------------------------------- declared
    def declaration_problems(self, key: str, training: DFTSettings) -> list[str]:
        """What the entry itself lacks or contradicts (no file read): file and fidelity named, every setting of
        :data:`DECLARED` and one of :data:`KPOINTS` declared, the energy reference and stress units known, and
        ``energy_reference: training`` only with the training settings. One message per problem, each naming
        ``<key>.<name>`` and the fix."""
        out = []
        if not self.file:
            out.append(f"{key}.file is missing. Fix: name the file (a path relative to the workflow's directory, "
                       f"or absolute)")
        if not self.fidelity:
            out.append(f"{key}.fidelity is missing. Fix: name the fidelity of its labels, e.g. external-vasp "
                       f"(files made with the same settings may share one)")
        elif self.fidelity in (TRAINING, CONVERGED):
            out.append(f"{key}.fidelity = '{self.fidelity}' is the study's own fidelity. Fix: give the external "
                       f"data a name of its own, e.g. external-{self.fidelity}")
        s = self.settings
        for name in DECLARED:
            if name not in s:
                out.append(f"{key}.settings.{name} is not declared. Fix: declare the {_MEANING[name]} the file's "
                           f"labels were made with (null if it does not apply)")
        if "code" in s and s["code"] in (None, ""):
            out.append(f"{key}.settings.code is empty. Fix: name the code that made the labels, e.g. VASP")
        given = [k for k in KPOINTS if k in s]
        if len(given) != 1:
            out.append(f"{key}.settings.kpt_density/kpts: declare exactly one (declared: {given or 'none'}). Fix: "
                       f"kpt_density (points per reciprocal Angstrom, 2 pi included) or kpts (the mesh, e.g. "
                       f"[8, 8, 8]; null if it does not apply)")
        if self.energy_reference not in ENERGY_REFERENCES:
            out.append(f"{key}.energy_reference = '{self.energy_reference}'. Fix: use one of {ENERGY_REFERENCES}")
        elif self.energy_reference == "training":
            differ = self.training_mismatch(training)
            if differ:
                out.append(f"{key}.energy_reference is 'training', but the declared settings are not the training "
                           f"settings ({'; '.join(differ)}): their energies share no reference. Fix: "
                           f"energy_reference: own (energies kept, not fitted), or declare the settings the file "
                           f"was really made with")
        if self.stress_units not in STRESS_UNITS:
            out.append(f"{key}.stress_units = '{self.stress_units}'. Fix: use one of {sorted(STRESS_UNITS)}")
        return out

    def training_mismatch(self, training: DFTSettings) -> list[str]:
        """The declared settings that differ from the training settings, as 'settings.<key> = x (training: y)'."""
        want = {"code": "gpaw", "xc": training.xc, "ecut": training.ecut, "kpt_density": training.kpt_density,
                "smearing": training.smearing, "smearing_method": training.smearing_method}
        got = {**self.settings, "code": str(self.settings.get("code", "")).lower(),
               "smearing_method": self.settings.get("smearing_method", DEFAULT_SMEARING_METHOD)}
        out = []
        for k, v in want.items():
            g = got.get(k)
            same = (math.isclose(float(g), float(v)) if isinstance(v, float) and isinstance(g, int | float)
                    else g == v)
            if not same:
                shown = repr(self.settings[k]) if k in self.settings else "not declared" + (
                    f" ({DEFAULT_SMEARING_METHOD})" if k == "smearing_method" else "")
                out.append(f"settings.{k} = {shown} (training: {v!r})")
        return out

    def record(self) -> dict[str, Any]:
        """The fidelity's entry of the dataset's ``fidelities`` attribute (without its sources): the declared
        settings, the labels that are fitted, and what happens to the energies."""
        fitted = self.energy_reference == "training"
        return {"settings": dict(self.settings), "external": True, "energy_reference": self.energy_reference,
                "labels": (["energy"] if fitted else []) + ["forces", "stress"],
                "energies": {"own": "stored as labels of this fidelity, not fitted (no shared energy reference)",
                             "training": "fitted (declared at the training settings)",
                             "none": "not stored (NaN)"}[self.energy_reference]}

    # ----------------------------------------------------------------------------------------- the file
    def rows(self, key: str, element: str | None = None, entry: int = 0) -> dict[str, Any]:
        """Dataset rows of the selected frames (the datasets of a ``dft_dataset`` artifact, plus ``source``: file,
        format, index and number of frames, for the ``fidelities`` attribute).

        Shapes: per configuration ``energy`` (eV; NaN: no energy), ``stress`` (6, GPa), ``names``, ``groups``,
        ``fidelity``, ``metadata`` (JSON: the frame's own metadata if it has JSON ``metadata``, plus ``source``:
        file, frame number, format and the frame's own name and fidelity); per atom ``forces`` (eV/Angstrom).
        ``element``: every frame must hold only it (None: not checked); ``entry`` numbers the names. Raises
        :class:`ConfigError` naming ``key`` (or the file and frame) and the fix."""
        images, kind, numbers = self._frames(key)
        if self.stress_units != "eV/A^3" and kind != "extxyz":
            raise ConfigError(f"{key}.stress_units = '{self.stress_units}' but {self.file} is read as '{kind}', "
                              f"whose stresses ASE converts to eV/Angstrom^3 itself. Fix: remove stress_units "
                              f"(it applies to extended XYZ files only)")
        energies, forces, stresses, names, groups, metas = [], [], [], [], [], []
        for atoms, n in zip(images, numbers, strict=True):
            where = f"{key}.file: {self.file} frame {n}"
            if element is not None and set(atoms.get_chemical_symbols()) != {element}:
                raise ConfigError(f"{where} holds {atoms.get_chemical_formula()}, but the study's element "
                                  f"(material.element) is {element}. Fix: a file of {element} only, or select "
                                  f"its frames with {key}.index")
            energy, f, s = self._labels(atoms, where, key)
            energies.append(energy)
            forces.append(f)
            stresses.append(s * EV_PER_A3_TO_GPA)
            own_name = str(atoms.info.get("name", ""))
            names.append(re.sub(r"[^A-Za-z0-9_.-]", "_", f"ext{entry}_{n:04d}" + (f"_{own_name}" if own_name
                                                                                 else "")))
            groups.append(str(atoms.info["config_type"]) if self.config_type and "config_type" in atoms.info
                          else self.group)
            metas.append(json.dumps(self._metadata(atoms, n, kind), sort_keys=True, default=str))
        if self.energy_reference == "none":
            energies = [math.nan] * len(energies)
        elif all(math.isnan(e) for e in energies):
            raise ConfigError(f"{key}.file: no selected frame of {self.file} has an energy. Fix: set "
                              f"{key}.energy_reference: none to use its forces and stresses only, or give a file "
                              f"with energies")
        data = structure_arrays(images)
        data.update(energy=np.array(energies), forces=np.concatenate(forces), stress=np.array(stresses),
                    names=names, groups=groups, fidelity=[self.fidelity] * len(images), metadata=metas,
                    scf_iterations=np.full(len(images), -1), wall_time=np.full(len(images), np.nan))
        data["source"] = {"file": self.file, "format": kind, "index": str(self.index), "frames": len(images)}
        return data

    def check(self, key: str, element: str, training: DFTSettings) -> None:
        """Everything :meth:`rows` would refuse, and the declaration (:meth:`declaration_problems`), before any
        job. Raises one :class:`ConfigError` listing this entry's problems, each naming its key and fix."""
        problems = self.declaration_problems(key, training)
        if self.file and self.stress_units in STRESS_UNITS:
            try:
                self.rows(key, element)
            except ConfigError as exc:
                problems.append(str(exc))
        if problems:
            raise ConfigError("\n  - ".join(problems))

    def _frames(self, key: str) -> tuple[list[Atoms], str, list[int]]:
        """The selected frames (ASE Atoms with their calculator's labels; shared, not to be changed), the format
        they were read as, and their numbers in the file."""
        path = Path(self.file)
        if not path.is_file():
            raise ConfigError(f"{key}.file: {self.file} does not exist (relative paths start at the workflow's "
                              f"directory, {Path.cwd()}). Fix: correct the path")
        stat = path.stat()
        images, kind = _read_all(str(path.resolve()), (stat.st_mtime_ns, stat.st_size), self.format, key)
        try:
            from ase.io.formats import string2index

            idx = string2index(self.index) if isinstance(self.index, str) else int(self.index)
            numbers = list(range(len(images)))[idx]
        except (ValueError, IndexError) as exc:
            raise ConfigError(f"{key}.index = {self.index!r} does not select frames of {self.file} ({len(images)} "
                              f"frames: {exc}). Fix: an ASE index such as ':' (all), '-1', '0:10' or '::2'") from exc
        numbers = numbers if isinstance(numbers, list) else [numbers]
        if not numbers:
            raise ConfigError(f"{key}.index = {self.index!r} selects no frame of {self.file} ({len(images)} "
                              f"frames). Fix: widen the index")
        return [images[n] for n in numbers], kind, numbers

    def _labels(self, atoms: Atoms, where: str, key: str) -> tuple[float, np.ndarray, np.ndarray]:
        """Energy (eV, NaN if none), forces (N, 3) eV/Angstrom and stress (6,) eV/Angstrom^3, ASE's sign."""
        results = atoms.calc.results if atoms.calc is not None else {}
        if results.get("forces") is None:
            raise ConfigError(f"{where} has no forces. Fix: every configuration needs forces (eV/Angstrom): give "
                              f"a file that has them, or leave this frame out with {key}.index")
        volume = abs(float(np.linalg.det(atoms.cell[:])))
        if volume == 0.0:
            raise ConfigError(f"{where} has no periodic cell (volume 0). Fix: only periodic cells with a stress "
                              f"can be training data here; leave this frame out with {key}.index")
        stress = results.get("stress")
        if stress is not None:
            stress = np.asarray(stress, float)
            stress = (voigt_components(stress) if stress.shape == (3, 3) else stress) * STRESS_UNITS[self.stress_units]
        virial = atoms.info.get("virial")
        if virial is not None:
            from_virial = voigt_components(-np.asarray(virial, float).reshape(3, 3) / volume)
            if stress is None:
                stress = from_virial
            elif not np.allclose(stress, from_virial, rtol=1e-4, atol=1e-7):
                big = int(np.argmax(np.abs(from_virial)))
                ratio = stress[big] / from_virial[big] if from_virial[big] else math.inf
                raise ConfigError(f"{where}: its stress (read as {self.stress_units}) is {ratio:.4g} x -virial/"
                                  f"volume; they must agree. Fix: declare the stress's units in "
                                  f"{key}.stress_units (GPa would make the ratio 1 if it is {EV_PER_A3_TO_GPA:.1f}, "
                                  f"kbar if {EV_PER_A3_TO_GPA * 10:.0f}), or correct the file")
        energy = results.get("free_energy", results.get("energy"))
        if stress is None:
            what = "neither an energy nor a stress" if energy is None else "no stress (and no virial)"
            raise ConfigError(f"{where} has {what}. Fix: every configuration needs its stress (compute it: VASP "
                              f"ISIF >= 1, Quantum ESPRESSO tstress = .true.), or leave this frame out with "
                              f"{key}.index")
        return (math.nan if energy is None else float(energy)), np.asarray(results["forces"], float), stress

    def _metadata(self, atoms: Atoms, n: int, kind: str) -> dict[str, Any]:
        own = atoms.info.get("metadata")
        try:
            meta = json.loads(own) if isinstance(own, str) else {}
        except ValueError:
            meta = {}
        meta = meta if isinstance(meta, dict) else {}
        source = {"file": self.file, "frame": n, "format": kind}
        source.update({k: str(atoms.info[k]) for k in ("name", "fidelity") if k in atoms.info})
        return {**meta, "source": source}


_MEANING = {"code": "code (e.g. VASP, Quantum ESPRESSO, GPAW)", "xc": "functional (e.g. PBE)",
            "ecut": "plane-wave cutoff (eV)", "smearing": "smearing width (eV)"}


@functools.lru_cache(maxsize=16)
def _read_all(path: str, stamp: tuple[int, int], fmt: str | None, key: str) -> tuple[list[Atoms], str]:
    """Every frame of a file and the ASE format it was read as; cached per (path, mtime, size, format), so the
    checks of every sweep point read a file once."""
    from ase.io import read
    from ase.io.formats import filetype

    try:
        kind = fmt or filetype(path)
        images = read(path, index=":", format=kind)
        images = list(images) if isinstance(images, list) else [images]
    except Exception as exc:  # ASE's readers raise anything from StopIteration to KeyError: report, not pass
        raise ConfigError(f"{key}.file: ASE cannot read {path}{f' as {fmt}' if fmt else ''} "
                          f"({type(exc).__name__}: {exc}). Fix: check the file, or name its ASE format in "
                          f"{key}.format (e.g. extxyz, traj, vasp-out, vasp-xml, espresso-out)") from exc
    if not images:
        raise ConfigError(f"{key}.file: ASE reads no frame from {path} (as '{kind}'). Fix: check the file, or name "
                          f"its ASE format in {key}.format (e.g. extxyz, traj, vasp-out, vasp-xml, espresso-out)")
    return images, str(kind)


def external_sources(dft: DFTSettings) -> list[tuple[str, ExternalSource]]:
    """The ``dft.external`` entries with their keys (``dft.external[i]``). Raises :class:`ConfigError` on an
    unknown key of an entry."""
    return [(f"dft.external[{i}]", ExternalSource.from_dict(d, f"dft.external[{i}]"))
            for i, d in enumerate(dft.external)]


def check_fidelities(sources: list[tuple[str, ExternalSource]]) -> None:
    """Entries that share a fidelity declare the same settings and energy reference (one fidelity is one set of
    settings). Raises :class:`ConfigError` naming both entries otherwise."""
    first: dict[str, tuple[str, ExternalSource]] = {}
    for key, src in sources:
        if src.fidelity in first:
            k0, s0 = first[src.fidelity]
            if (s0.settings, s0.energy_reference) != (src.settings, src.energy_reference):
                raise ConfigError(f"{k0} and {key} share the fidelity '{src.fidelity}' but declare different "
                                  f"settings or energy_reference. Fix: give them the same declaration, or "
                                  f"different fidelity names")
        else:
            first[src.fidelity] = (key, src)


def external_configurations(dft: DFTSettings, element: str | None = None) -> dict[str, Any]:
    """Dataset rows of every ``dft.external`` entry (:meth:`ExternalSource.rows`), in order, and ``fidelities``:
    per external fidelity its declared settings, fitted labels, energy rule and ``sources`` (file, sha256, format,
    index, number of frames). Raises :class:`ConfigError` as the checks before any job."""
    sources = external_sources(dft)
    check_fidelities(sources)
    parts: list[dict[str, Any]] = []
    fidelities: dict[str, Any] = {}
    for i, (key, src) in enumerate(sources):
        problems = src.declaration_problems(key, dft)
        if problems:
            raise ConfigError("\n  - ".join(problems))
        rows = src.rows(key, element, entry=i)
        source = {**rows.pop("source"), "sha256": sha256_file(src.file)}
        fidelities.setdefault(src.fidelity, {**src.record(), "sources": []})["sources"].append(source)
        parts.append(rows)
    data = {k: (np.concatenate([np.asarray(p[k]) for p in parts]) if parts else np.zeros(0))
            for k in ("n_atoms", "numbers", "positions", "cell", "pbc", "energy", "forces", "stress",
                      "scf_iterations", "wall_time")}
    for k in ("names", "groups", "fidelity", "metadata"):
        data[k] = [v for p in parts for v in p[k]]
    data["fidelities"] = fidelities
    return data


def energy_labels(ds: Artifact) -> np.ndarray:
    """The energies of a dataset that are labels (eV, per configuration), as the fit and its scores use them.

    NaN where a configuration has no energy, and for every configuration of a fidelity whose ``labels`` (in the
    ``fidelities`` attribute) do not list 'energy': the converged scans, and an external fidelity whose energies
    have their own reference (``energy_reference: own``)."""
    fitted = {name for name, f in ds.json_attr("fidelities").items() if "energy" in f.get("labels", [])}
    keep = np.array([str(f) in fitted for f in ds["fidelity"]], dtype=bool)
    return np.where(keep, ds["energy"], np.nan)
