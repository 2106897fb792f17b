"""DFT convergence study: are the configured settings converged, and what do converged settings give?

Two parts, each one workflow job (every calculation goes through the shared cache, so nothing is paid twice):

``cells``
    Energy, forces and stress of the bulk conventional cell and one rattled copy, scanning the plane-wave
    cutoff and the k-point density one at a time around the *configured* (training) settings. The error of a
    setting is its difference from the tightest value of its scan; the configured settings must meet the
    tolerances of ``convergence.tolerances``. The energy checked is the energy per atom of the rattled cell
    relative to the bulk cell at the same settings (what a potential learns: a constant shift per atom is
    absorbed by the potential's per-atom constant); the absolute energy per atom is reported beside it.
``elastic``
    The 1-atom primitive cell (cheap, so k-points can be dense): an equation of state at the *reference*
    settings of ``convergence.elastic.reference`` (a0, B; centred on ``material.a_guess``, so no training
    setting enters), then C11, C12, C44 at its a0 from +/- normal and + shear strains at the reference
    settings and with the k-density, smearing and cutoff changed one at a time. The remaining convergence
    error of each constant is its change to the next tighter value of each scan (higher k-density, smaller
    smearing, higher cutoff); it must stay within ``tolerances.elastic``. A scan may run at other settings
    than the reference (``convergence.elastic.scan_at``, e.g. the cutoff on a coarser k-mesh: the basis-set
    error of a plane-wave calculation hardly depends on the Brillouin-zone sampling, so the cutoff and the
    k-points are converged separately, as is common practice); its change is then measured there.

:func:`analyse` turns the two parts into a :class:`ConvergenceStudy`, and
:func:`multiscale.dft.stage.assemble_convergence` writes it as the ``dft_convergence`` artifact, a markdown table,
a figure and a ``properties`` artifact of the converged values (scale ``dft-converged``) that the atlas compares
with the training-settings values and with experiment.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np
from ase import Atoms

from multiscale.artifacts import read_artifact, read_properties, write_artifact
from multiscale.atomsio import structure_arrays
from multiscale.config import settings_from_dict
from multiscale.dft.calculator import DFTSettings, cached_single_point, kpoints_for, smearing_label
from multiscale.elastic import deform_cell, eos_properties, fit_cubic_elastic
from multiscale.errors import ConfigError
from multiscale.material import Material
from multiscale.progress import Progress
from multiscale.units import property_units

PARTS = ("cells", "elastic")
CELL_PARAMS = ("ecut", "kpt_density")
ELASTIC_PARAMS = ("kpt_density", "smearing", "ecut")
# which direction is "tighter" for each parameter
TIGHTER = {"ecut": 1, "kpt_density": 1, "smearing": -1}
CONSTANTS = ("C11", "C12", "C44")


@dataclass
class ElasticScanSettings:
    """The primitive-cell part: reference DFT settings (a partial ``dft`` section), the values scanned around
    them one at a time, the strain amplitude and the EOS (points in +-``eos_max_strain``)."""

    reference: dict[str, Any] = field(default_factory=lambda: {"kpt_density": 10.0, "smearing": 0.05, "ecut": 450.0})
    kpt_density: list[float] = field(default_factory=lambda: [6.0, 8.0, 10.0, 12.0])
    smearing: list[float] = field(default_factory=lambda: [0.025, 0.05, 0.1])
    ecut: list[float] = field(default_factory=lambda: [350.0, 450.0, 550.0])
    strain: float = 0.01
    eos_points: int = 7
    eos_max_strain: float = 0.02
    # scan -> settings it runs at instead of the reference's (a partial dft section without the scanned key);
    # null: at the reference (how a study clears an entry it would inherit from the default config)
    scan_at: dict[str, dict[str, float] | None] = field(default_factory=dict)

    def moved(self, param: str) -> dict[str, float]:
        """The settings of ``scan_at[param]`` that differ from the reference: where the scan of ``param`` runs
        away from the reference (empty: it passes through the reference)."""
        return {k: float(v) for k, v in (self.scan_at.get(param) or {}).items()
                if not math.isclose(float(v), float(self.reference[k]))}


@dataclass
class ConvergenceSettings:
    """The ``convergence`` config section: tolerances, the training-cell scans, the elastic scans."""

    tolerances: dict[str, float] = field(default_factory=lambda: {
        "energy": 1.0, "force": 0.02, "stress": 0.2, "elastic": 0.03})  # meV/atom, eV/A, GPa, relative
    ecut: list[float] = field(default_factory=lambda: [250.0, 300.0, 350.0, 450.0, 550.0])
    kpt_density: list[float] = field(default_factory=lambda: [3.0, 4.0, 5.0, 6.0, 7.0, 8.0])
    rattle: float = 0.08
    seed: int = 11
    elastic: ElasticScanSettings = field(default_factory=ElasticScanSettings)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ConvergenceSettings:
        return settings_from_dict(cls, d, "convergence")

    def check(self, dft: DFTSettings, where: str = "convergence") -> None:
        """Every scan must reach beyond the setting it judges, or the error estimate is meaningless."""
        for param in CELL_PARAMS:
            configured = getattr(dft, param)
            if not any(_tighter(param, v, configured) for v in getattr(self, param)):
                raise ConfigError(f"{where}.{param}: the scan {getattr(self, param)} has no value tighter than the "
                                  f"configured dft.{param} = {configured}, so its error cannot be estimated. Fix: add "
                                  f"a larger value to {where}.{param}")
        ref = self.elastic.reference
        for param, at in self.elastic.scan_at.items():
            if param not in ELASTIC_PARAMS:
                raise ConfigError(f"{where}.elastic.scan_at.{param}: not a scanned parameter. Fix: use one of "
                                  f"{ELASTIC_PARAMS}")
            bad = sorted(set(at or {}) - (set(ELASTIC_PARAMS) - {param}))
            if bad:
                raise ConfigError(f"{where}.elastic.scan_at.{param}: {bad} cannot be set there (the scan varies "
                                  f"{param} itself). Fix: set only {sorted(set(ELASTIC_PARAMS) - {param})}")
        smearing_mesh = self.elastic.moved("smearing").get("kpt_density")
        if smearing_mesh is not None and smearing_mesh < float(ref["kpt_density"]):
            raise ConfigError(f"{where}.elastic.scan_at.smearing.kpt_density = {smearing_mesh:g} is below the "
                              f"reference's {ref['kpt_density']:g}: on a coarser mesh the smearing scan measures a "
                              f"sampling error. Fix: a k-density at least the reference's, or smearing: null")
        if all(self.elastic.moved(p) for p in ELASTIC_PARAMS):
            raise ConfigError(f"{where}.elastic.scan_at moves every scan away from the reference settings, so no "
                              f"constant is computed at the reference. Fix: leave at least one of "
                              f"{ELASTIC_PARAMS} out of {where}.elastic.scan_at")
        for param in ELASTIC_PARAMS:
            if not any(_tighter(param, v, ref[param]) for v in getattr(self.elastic, param)):
                raise ConfigError(f"{where}.elastic.{param}: the scan {getattr(self.elastic, param)} has no value "
                                  f"tighter than "
                                  f"the reference {ref[param]}. Fix: add a "
                                  f"{'smaller' if TIGHTER[param] < 0 else 'larger'} value to {where}.elastic.{param}")


def _tighter(param: str, value: float, than: float) -> bool:
    return (value - than) * TIGHTER[param] > 1e-12


def at_least_as_tight(settings: dict[str, float], reference: dict[str, Any]) -> bool:
    """Whether ``settings`` (k-point density, smearing, cutoff) are the reference's or tighter in every one."""
    return all((float(settings[p]) - float(reference[p])) * TIGHTER[p] > -1e-9 for p in ELASTIC_PARAMS)


def scan(values: list[float], centre: float, param: str) -> list[float]:
    """The scan's values plus the centre, from the loosest to the tightest."""
    return sorted({float(v) for v in values} | {float(centre)}, key=lambda v: v * TIGHTER[param])


def cells_structures(material: Material, a0: float, conv: ConvergenceSettings) -> dict[str, Atoms]:
    """The bulk conventional cell at the DFT lattice constant and one rattled copy (seeded)."""
    bulk_cell = material.cubic_cell(a0)
    rattled = bulk_cell.copy()
    rattled.positions += np.random.default_rng(conv.seed).normal(0.0, conv.rattle, rattled.positions.shape)
    return {"bulk": bulk_cell, "rattled": rattled}


def elastic_strains(amplitude: float) -> list[tuple[str, np.ndarray]]:
    """Unstrained, +/- normal (xx) and + shear (yz): C11 and C12 from the first, C44 from the second.

    One shear sign is enough: in a cubic crystal the mirror x -> -x maps +e4 onto -e4, so sigma4 is odd in e4 and
    the unstrained cell (sigma4 = 0 by symmetry) is its other point. The sheared cell has the lowest symmetry and
    the most irreducible k-points of the set, so this halves the cost of the dense k-point scans.
    """
    e_xx, e_yz = np.zeros(6), np.zeros(6)
    e_xx[0], e_yz[3] = amplitude, amplitude
    return [("zero", np.zeros(6)), ("xx", e_xx), ("xx", -e_xx), ("yz", e_yz)]


# ------------------------------------------------------------------------------------------------ running
def run_part(part: str, material: dict, dft: dict, convergence: dict, eos: str | None, out: str, *,
             txt: str | None = None, comm=None) -> None:
    """Compute one part of the study (through the cache) and write its ``dft_convergence_runs`` artifact.

    ``eos``: the training EOS artifact, whose a0 the ``cells`` part builds its cells at; the ``elastic`` part
    fits its own EOS and takes none. Rank 0 writes one progress line per finished calculation to stdout (the
    job's log: n of N, elapsed, estimated remaining; :class:`multiscale.progress.Progress`). Raises
    :class:`ConfigError` for an unknown part, a cells part without ``eos`` or scans that do not judge the
    settings (:meth:`ConvergenceSettings.check`)."""
    if part not in PARTS:
        raise ConfigError(f"convergence part '{part}'. Fix: use one of {PARTS}")
    if part == "cells" and eos is None:
        raise ConfigError("convergence part 'cells' needs the training EOS. Fix: pass --eos "
                          "results/<study>/dft/eos.h5")
    mat = Material.from_dict(material)
    base = DFTSettings.from_dict(dft)
    conv = ConvergenceSettings.from_dict(convergence)
    conv.check(base)
    rows: list[dict[str, Any]] = []
    progress = Progress(planned_calculations(part, conv, base), f"DFT single points ({part} convergence part)",
                        enabled=comm is None or comm.rank == 0)

    def calc(atoms: Atoms, settings: DFTSettings, series: str, structure: str, strain=None) -> None:
        strain = np.zeros(6) if strain is None else strain
        atoms = atoms.copy()
        atoms.info["name"] = f"convergence:{series}:{structure}"
        path, ran = cached_single_point(atoms, settings, txt=txt, comm=comm)
        setting = f"{series} {getattr(settings, series):g}" if series in CELL_PARAMS + ELASTIC_PARAMS else series
        amplitude = strain[np.argmax(np.abs(strain))]
        progress.done(f"{setting}, {structure}" + (f" {amplitude:+g}" if amplitude else ""), cached=not ran)
        art = read_artifact(path, "dft_calc")
        rows.append({"atoms": atoms, "n_atoms": len(atoms), "volume": atoms.get_volume(), "series": series,
                     "structure": structure, "ecut": settings.ecut,
                     "kpt_density": settings.kpt_density, "smearing": settings.smearing,
                     "kpts": kpoints_for(atoms, settings), "strain_voigt": np.asarray(strain, float),
                     "energy": float(art["energy"][0]), "forces": art["forces"], "stress": art["stress"][0],
                     "scf_iterations": int(art["scf_iterations"][0]), "wall_time": float(art["wall_time"][0])})

    if part == "cells":
        structures = cells_structures(mat, float(read_artifact(eos, "eos").attrs["a0"]), conv)
        for param in CELL_PARAMS:
            for value in scan(getattr(conv, param), getattr(base, param), param):
                settings = replace(base, **{param: value})
                for label, atoms in structures.items():
                    calc(atoms, settings, param, label)
        reference = base.physics()
    else:
        el = conv.elastic
        ref = replace(base, **{k: v if isinstance(v, str) else float(v) for k, v in el.reference.items()})
        # centred on the material's guess, not the training EOS: the converged study depends on no training
        # setting, so changing those reuses every cached primitive-cell calculation
        a_guess = mat.a_guess
        mesh_cell = mat.primitive_cell(a_guess).cell[:].tolist()  # one k-mesh for every volume of the EOS
        for s in np.linspace(-el.eos_max_strain, el.eos_max_strain, int(el.eos_points)):
            atoms = mat.primitive_cell(a_guess * (1 + s))
            atoms.info["metadata"] = json.dumps({"kpoint_cell": mesh_cell})
            calc(atoms, ref, "eos", f"a={a_guess * (1 + s):.5f}")
        a_ref = _eos_fit([r for r in rows if r["series"] == "eos"], mat)["a0"]
        for param in ELASTIC_PARAMS:
            at = el.moved(param)
            for value in scan(getattr(el, param), el.reference[param], param):
                settings = replace(ref, **at, **{param: value})
                for mode, e in elastic_strains(float(el.strain)):
                    atoms = mat.primitive_cell(a_ref)
                    atoms.set_cell(deform_cell(atoms.cell[:], e), scale_atoms=True)
                    calc(atoms, settings, param, mode, e)
        reference = ref.physics()
    if comm is not None and comm.rank != 0:
        return
    images = [r["atoms"] for r in rows]
    data = structure_arrays(images)
    for key in ("series", "structure", "ecut", "kpt_density", "smearing", "kpts", "strain_voigt", "energy",
                "stress", "scf_iterations", "wall_time"):
        data[key] = [r[key] for r in rows]
    data["forces"] = np.concatenate([r["forces"] for r in rows])
    write_artifact(out, "dft_convergence_runs", data,
                   {"part": part, "settings": base.physics(), "reference": reference, "material": material,
                    "convergence": convergence}, inputs=[eos] if eos else [],
                   config={"dft": dft, "convergence": convergence})


def planned_calculations(part: str, conv: ConvergenceSettings, base: DFTSettings) -> int:
    """How many single points :func:`run_part` runs for ``part`` (cache hits included): the cells part every
    scanned value times the bulk and rattled cell; the elastic part the EOS points, then every scanned value
    times the strained cells."""
    if part == "cells":
        values = sum(len(scan(getattr(conv, p), getattr(base, p), p)) for p in CELL_PARAMS)
        return values * 2  # the bulk and the rattled cell of cells_structures
    el = conv.elastic
    values = sum(len(scan(getattr(el, p), el.reference[p], p)) for p in ELASTIC_PARAMS)
    return int(el.eos_points) + values * len(elastic_strains(float(el.strain)))


def _eos_fit(rows: list[dict[str, Any]], mat: Material) -> dict[str, float]:
    """a0, B (with standard errors) of the EOS rows (same cell, several volumes)."""
    n = int(rows[0]["n_atoms"])
    return eos_properties(np.array([r["volume"] / n for r in rows]), np.array([r["energy"] / n for r in rows]),
                          mat.atoms_per_cubic_cell)


# ----------------------------------------------------------------------------------------------- analysis
def _runs(path: str) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    art = read_artifact(path, "dft_convergence_runs")
    ends = np.cumsum(art["n_atoms"])
    rows = []
    for i, end in enumerate(ends):
        n = int(art["n_atoms"][i])
        rows.append({k: art[k][i] for k in ("series", "structure", "ecut", "kpt_density", "smearing", "kpts",
                                             "strain_voigt", "energy", "stress", "wall_time", "n_atoms")}
                    | {"forces": art["forces"][end - n:end], "volume": abs(np.linalg.det(art["cell"][i]))})
        rows[-1]["series"], rows[-1]["structure"] = str(rows[-1]["series"]), str(rows[-1]["structure"])
    return rows, dict(art.attrs)


def cells_table(rows: list[dict[str, Any]], configured: dict[str, Any], tol: dict[str, float]) -> list[dict]:
    """Errors of every scanned setting against the tightest value of its scan."""
    table = []
    for param in CELL_PARAMS:
        series = [r for r in rows if r["series"] == param]
        values = scan([r[param] for r in series], configured[param], param)
        by = {(float(r[param]), r["structure"]): r for r in series}
        tight = values[-1]

        def e_rel(v, by=by):
            b, r = by[(v, "bulk")], by[(v, "rattled")]
            return r["energy"] / r["n_atoms"] - b["energy"] / b["n_atoms"]

        for v in values:
            b, r = by[(v, "bulk")], by[(v, "rattled")]
            row = {"parameter": param, "value": v, "kpts": b["kpts"], "rattled_kpts": r["kpts"],
                   "energy_error": 1000 * abs(e_rel(v) - e_rel(tight)),
                   "energy_abs_error": 1000 * abs(b["energy"] / b["n_atoms"] - by[(tight, "bulk")]["energy"]
                                                  / by[(tight, "bulk")]["n_atoms"]),
                   "force_error": float(np.max(np.abs(r["forces"] - by[(tight, "rattled")]["forces"]))),
                   "stress_error": float(max(np.max(np.abs(x["stress"] - by[(tight, x["structure"])]["stress"]))
                                             for x in (b, r))),
                   "wall_time": float(b["wall_time"] + r["wall_time"]),
                   "configured": math.isclose(v, configured[param]), "tightest": v == tight}
            row["passes"] = bool(row["energy_error"] <= tol["energy"] and row["force_error"] <= tol["force"]
                                 and row["stress_error"] <= tol["stress"])
            table.append(row)
    return table


def elastic_table(rows: list[dict[str, Any]], reference: dict[str, Any],
                  moved: dict[str, dict[str, float]] | None = None) -> list[dict]:
    """C11, C12, C44 at every scanned setting; change to the next tighter value of the same scan.

    ``moved``: per scan, the settings it ran at away from the reference (:meth:`ElasticScanSettings.moved`).
    Each row's ``at_reference_value`` marks the scan's value equal to the reference's, whose change is the
    remaining error; ``reference`` marks the row computed at the reference settings themselves (its scan not
    moved)."""
    table = []
    moved = moved or {}
    for param in ELASTIC_PARAMS:
        series = [r for r in rows if r["series"] == param]
        values = scan([r[param] for r in series], reference[param], param)
        fits = {}
        for v in values:
            pts = [r for r in series if math.isclose(float(r[param]), v)]
            c = fit_cubic_elastic(np.array([p["strain_voigt"] for p in pts]), np.array([p["stress"] for p in pts]))
            fits[v] = c
        for i, v in enumerate(values):
            nxt = values[i + 1] if i + 1 < len(values) else None
            c = fits[v]
            change = [abs(fits[nxt][k][0] - c[k][0]) / abs(c[k][0]) if nxt is not None else float("nan")
                      for k in CONSTANTS]
            kpts = next(r["kpts"] for r in series if math.isclose(float(r[param]), v) and r["structure"] == "yz")
            table.append({"parameter": param, "value": v, "C": [c[k][0] for k in CONSTANTS],
                          "C_std": [c[k][1] for k in CONSTANTS], "change": change, "kpts": kpts,
                          "next": float("nan") if nxt is None else nxt,
                          "wall_time": float(sum(r["wall_time"] for r in series
                                                 if math.isclose(float(r[param]), v))),
                          "at_reference_value": math.isclose(v, float(reference[param])),
                          "at": dict(moved.get(param, {})),
                          "reference": math.isclose(v, float(reference[param])) and not moved.get(param)})
    return table


def remaining_error(table: list[dict]) -> dict[str, dict[str, float]]:
    """Per constant and parameter: the change of the scan's row at the reference value to the next tighter
    value of that scan."""
    out: dict[str, dict[str, float]] = {k: {} for k in CONSTANTS}
    for row in table:
        if row["at_reference_value"]:
            for k, ch in zip(CONSTANTS, row["change"], strict=True):
                out[k][row["parameter"]] = float(ch)
    return out


@dataclass
class ConvergenceStudy:
    """The convergence study computed from its two parts: what the report renders and the artifacts store.

    ``cells``/``elastic``: table rows (see :func:`cells_table`, :func:`elastic_table`); ``remaining``: per
    constant and parameter, the reference's relative change to the next tighter setting; ``converged_std``:
    each converged constant's uncertainty (GPa); ``eos``: a0 (Angstrom), B (GPa) with fit errors at the
    reference settings; ``training``: the training-settings properties {name: (value, std)}, if given."""

    cells: list[dict[str, Any]]
    elastic: list[dict[str, Any]]
    remaining: dict[str, dict[str, float]]
    converged_std: dict[str, float]
    eos: dict[str, float]
    eos_points: int
    tolerances: dict[str, float]
    configured: dict[str, Any]
    reference: dict[str, Any]
    verdict: dict[str, bool]
    settings: ConvergenceSettings
    training: dict[str, tuple[float, float]] | None = None

    @property
    def reference_row(self) -> dict[str, Any]:
        return next(r for r in self.elastic if r["reference"])

    def reference_label(self) -> str:
        """The reference settings in words (cell, functional, cutoff, k-points, smearing)."""
        ref = self.reference
        return (f"1-atom primitive cell, {ref['xc']}, ecut {ref['ecut']:g} eV, k-density "
                f"{ref['kpt_density']:g}/A^-1 ({'x'.join(map(str, self.reference_row['kpts']))} for the shear "
                f"cell), {smearing_label(ref)}")


def analyse(cells: str, elastic: str, training: str | None = None) -> ConvergenceStudy:
    """The study from its two ``dft_convergence_runs`` artifacts (and the training properties, if given)."""
    cell_rows, cell_attrs = _runs(cells)
    el_rows, el_attrs = _runs(elastic)
    conv = ConvergenceSettings.from_dict(json.loads(cell_attrs["convergence"]))
    configured = json.loads(cell_attrs["settings"])
    reference = json.loads(el_attrs["reference"])
    mat = Material.from_dict(json.loads(el_attrs["material"]))
    tol = conv.tolerances
    ctab = cells_table(cell_rows, configured, tol)
    etab = elastic_table(el_rows, reference, {p: conv.elastic.moved(p) for p in ELASTIC_PARAMS})
    remaining = remaining_error(etab)
    eos_rows = [r for r in el_rows if r["series"] == "eos"]
    eos = {k: v for k, v in _eos_fit(eos_rows, mat).items() if k in ("a0", "a0_std", "B", "B_std")}
    cells_ok = all(r["passes"] for r in ctab if r["configured"])
    elastic_ok = all(v <= tol["elastic"] for k in CONSTANTS for v in remaining[k].values())
    ref_row = next(r for r in etab if r["reference"])
    converged_std = {k: _uncertainty(c, s, remaining[k]) for k, c, s in zip(CONSTANTS, ref_row["C"],
                                                                             ref_row["C_std"], strict=True)}
    return ConvergenceStudy(cells=ctab, elastic=etab, remaining=remaining, converged_std=converged_std, eos=eos,
                            eos_points=len(eos_rows), tolerances=tol, configured=configured, reference=reference,
                            verdict={"cells_converged": cells_ok, "elastic_converged": elastic_ok}, settings=conv,
                            training=read_properties(training) if training else None)


def write_artifacts(study: ConvergenceStudy, inputs: list[str], out: str, properties_out: str) -> None:
    """The ``dft_convergence`` artifact and the ``properties`` artifact of the converged values (scale
    ``dft-converged``); ``inputs`` are the two runs artifacts the study was computed from."""
    ctab, etab = study.cells, study.elastic
    data = {
        "cell_parameter": [r["parameter"] for r in ctab], "cell_value": [r["value"] for r in ctab],
        "cell_kpts": [r["kpts"] for r in ctab], "cell_energy_error": [r["energy_error"] for r in ctab],
        "cell_energy_abs_error": [r["energy_abs_error"] for r in ctab],
        "cell_force_error": [r["force_error"] for r in ctab], "cell_stress_error": [r["stress_error"] for r in ctab],
        "cell_passes": [r["passes"] for r in ctab], "cell_configured": [r["configured"] for r in ctab],
        "elastic_parameter": [r["parameter"] for r in etab], "elastic_value": [r["value"] for r in etab],
        "elastic_kpts": [r["kpts"] for r in etab], "elastic_C": [r["C"] for r in etab],
        "elastic_C_std": [r["C_std"] for r in etab], "elastic_change": [r["change"] for r in etab],
        "elastic_reference": [r["reference"] for r in etab],
        "elastic_at_reference_value": [r["at_reference_value"] for r in etab],
        "elastic_kpt_density": [float(r["at"].get("kpt_density", study.reference["kpt_density"]))
                                if r["parameter"] != "kpt_density" else r["value"] for r in etab],
    }
    attrs = {"tolerances": study.tolerances, "configured": study.configured, "reference": study.reference,
             "remaining": study.remaining, "verdict": study.verdict, "eos": study.eos}
    write_artifact(out, "dft_convergence", data, attrs, inputs=inputs,
                   config={"convergence": asdict(study.settings)})
    eos, setting = study.eos, study.reference_label()
    names, values, std, notes = ["a0", "B"], [eos["a0"], eos["B"]], [eos["a0_std"], eos["B_std"]], [
        f"Birch-Murnaghan fit, {study.eos_points} volumes; {setting}"] * 2
    for k, c in zip(CONSTANTS, study.reference_row["C"], strict=True):
        names.append(k), values.append(c), std.append(study.converged_std[k])
        rem = ", ".join(f"{p} {100 * v:.1f}%" for p, v in study.remaining[k].items())
        notes.append(f"stress-strain fit, strain {study.settings.elastic.strain:g} (normal +/-, shear +); "
                     f"{setting}; std = fit error and largest remaining convergence error (change to the next "
                     f"tighter setting: {rem}) in quadrature")
    write_artifact(properties_out, "properties", {"names": names, "values": values, "std": std,
                                                  "units": [property_units(n) for n in names], "notes": notes},
                   {"scale": "dft-converged", "settings": study.reference}, inputs=[out], config=study.reference)


def _uncertainty(value: float, fit_std: float, remaining: dict[str, float]) -> float:
    """A converged constant's uncertainty: its fit error and its largest remaining convergence error."""
    return math.hypot(float(fit_std) if math.isfinite(fit_std) else 0.0, abs(value) * max(remaining.values()))
