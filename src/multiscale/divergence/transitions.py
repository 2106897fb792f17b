"""Divergence records between scales: one quantity at a finer (reference) scale and at a coarser one.

Every record has the value and uncertainty at both scales, their difference and the relative difference. A gap
is a finding: it is recorded and reported, never tuned away. The transitions: DFT -> MLIP on held-out data and on
properties, DFT at converged vs training settings, MD bulk -> MD specimen, MD -> continuum, and each scale against
the cited experiments of ``data/experiment/<element>.yaml``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from multiscale.artifacts import read_artifact, read_properties
from multiscale.errors import ConfigError
from multiscale.units import VOIGT_NAMES, property_units

NAN = float("nan")
PROPERTIES = ("a0", "B", "C11", "C12", "C44", "vacancy_formation_energy", "surface_energy_100", "surface_energy_110",
              "surface_energy_111", "isf_111", "usf_111", *(f"phase_{p}_minus_{q}" for p in ("fcc", "bcc", "hcp")
                                                         for q in ("fcc", "bcc", "hcp") if p != q))
EXPERIMENT_KEYS = ("value", "units", "source", "temperature_K")


@dataclass
class SummaryInputs:
    """Paths of the artifacts a study's divergence summary is computed from (optional ones may be None)."""

    dft: str                          # properties at the DFT training settings (dft/reference.h5)
    potential: str                    # the potential that feeds MD
    md: str                           # MD properties
    continuum: str                    # continuum summary
    experiment: str | None = None     # data/experiment/<element>.yaml
    validation: str | None = None     # mlip/validation.h5
    specimen: str | None = None       # md/specimen.h5
    thermal: str | None = None        # md/thermal.h5
    speed: str | None = None          # speed.json of the MD benchmark
    dataset: str | None = None        # dft/dataset.h5
    converged: str | None = None      # dft/converged.h5
    convergence: str | None = None    # dft/convergence.h5
    al_record: str | None = None      # al/record.h5 of the active-learning loop
    environments: str | None = None   # divergence/environments.h5
    validity: str | None = None       # divergence/validity.h5

    def paths(self) -> list[str]:
        """Every input given (for provenance)."""
        return [getattr(self, f.name) for f in fields(self) if getattr(self, f.name)]

    @property
    def has_atlas(self) -> bool:
        """The atlas needs the specimen, the validation and the dataset."""
        return bool(self.specimen and self.validation and self.dataset)


@dataclass
class EnvironmentInputs:
    """Paths the atomic-environment clusters are computed from: the DFT dataset the potential was fitted on, the
    potential, the specimen, its continuum solution and the active-learning candidate pools (may be empty)."""

    dataset: str
    potential: str
    specimen: str
    continuum: str
    candidates: list[str]


@dataclass
class DivergenceRecord:
    """One quantity at the finer (reference) and the coarser scale; NaN where unknown."""

    transition: str
    quantity: str
    fine: float
    fine_std: float
    coarse: float
    coarse_std: float
    difference: float
    relative: float
    units: str


def columns(records: list[DivergenceRecord]) -> dict[str, list[Any]]:
    """The records as the columns of the ``divergence`` artifact."""
    return {f.name: [getattr(r, f.name) for r in records] for f in fields(DivergenceRecord)}


def _rel(fine: float, coarse: float) -> float:
    return (coarse - fine) / abs(fine) if abs(fine) > 1e-12 and math.isfinite(fine) else NAN


def load_experiment(path: str | Path) -> dict[str, dict[str, Any]]:
    """The cited experimental values of a ``data/experiment/<element>.yaml`` file, by property name.

    Raises :class:`ConfigError` naming the file and the property when a value lacks a key of
    :data:`EXPERIMENT_KEYS`."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: no such experiment file. Fix: add data/experiment/<element>.yaml with cited "
                          f"values (see data/experiment/Al.yaml) or remove the --experiment argument")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML ({exc}). Fix: correct the file") from None
    if not isinstance(data, dict) or not isinstance(data.get("properties"), dict):
        raise ConfigError(f"{path}: no 'properties' mapping. Fix: list each value under properties: <name>:")
    for name, entry in data["properties"].items():
        if not isinstance(entry, dict):
            raise ConfigError(f"{path}: properties.{name} is not a mapping. Fix: give value, units, source and "
                              f"temperature_K under it")
        for key in EXPERIMENT_KEYS:
            if key not in entry:
                raise ConfigError(f"{path}: properties.{name} lacks '{key}'. Fix: every experimental value "
                                  f"needs value, units, source and temperature_K")
        for key in ("value", "temperature_K", "uncertainty"):
            if key == "temperature_K" and entry.get(key) is None:
                continue  # null: the value is derived over a temperature range (an Arrhenius fit), said in its note
            if key in entry and (isinstance(entry[key], bool) or not isinstance(entry[key], int | float)):
                raise ConfigError(f"{path}: properties.{name}.{key} = {entry[key]!r} is not a number. Fix: a plain "
                                  f"number (units in 'units', Kelvin for temperature_K)")
    return data["properties"]


def build_records(inputs: SummaryInputs) -> list[DivergenceRecord]:
    """Every divergence record the inputs allow, in report order."""
    recs: list[DivergenceRecord] = []

    def add(transition, quantity, fine, fine_std, coarse, coarse_std, units, relative=None):
        recs.append(DivergenceRecord(transition, quantity, fine, fine_std, coarse, coarse_std,
                                     coarse - fine if math.isfinite(fine) else NAN,
                                     _rel(fine, coarse) if relative is None else relative, units))

    # DFT -> MLIP on held-out configurations. fine = RMS of the DFT quantity on the test set, coarse = RMSE;
    # relative = RMSE / RMS (a scale-free error).
    pot = read_artifact(inputs.potential, "potential")
    split = np.array(pot["split"], dtype=object)
    test = split == "test"
    atom_test = np.repeat(test, pot["n_atoms"])
    e_test = test & np.isfinite(pot["energy_dft"])  # configurations with an energy label
    de = (pot["energy_pred"] - pot["energy_dft"])[e_test]
    e_spread = float(np.std(pot["energy_dft"][e_test])) * 1000
    e_rmse = float(np.sqrt(np.mean(de**2))) * 1000
    add("dft->mlip", "energy RMSE, held-out", e_spread, NAN, e_rmse, NAN, "meV/atom",
        e_rmse / e_spread if e_spread > 0 else NAN)
    df = (pot["forces_pred"] - pot["forces_dft"])[atom_test]
    f_rms = float(np.sqrt(np.mean(pot["forces_dft"][atom_test] ** 2))) if df.size else NAN
    f_rmse = float(np.sqrt(np.mean(df**2))) if df.size else NAN
    if f_rms > 1e-6:  # perfect-lattice configurations carry no force information
        add("dft->mlip", "force RMSE, held-out", f_rms, NAN, f_rmse, NAN, "eV/Angstrom", f_rmse / f_rms)
    ds = (pot["stress_pred"] - pot["stress_dft"])[test]
    s_rms = float(np.sqrt(np.mean(pot["stress_dft"][test] ** 2)))
    s_rmse = float(np.sqrt(np.mean(ds**2)))
    add("dft->mlip", "stress RMSE, held-out", s_rms, NAN, s_rmse, NAN, "GPa", s_rmse / s_rms)

    # DFT at converged settings -> DFT at the training settings (what the potential can learn)
    dft_p, md_p = read_properties(inputs.dft), read_properties(inputs.md)
    conv_p = read_properties(inputs.converged) if inputs.converged else {}
    for name in PROPERTIES:
        if name in conv_p and name in dft_p:
            add("dft converged->dft training settings", name, *conv_p[name], *dft_p[name], property_units(name))

    # DFT -> MLIP on properties (MLIP evaluated in LAMMPS at 0 K by the MD stage), against DFT at the training
    # settings and at converged settings: which reference the potential matches
    for name in PROPERTIES:
        if name in dft_p and name in md_p:
            add("dft->mlip", name, *dft_p[name], *md_p[name], property_units(name))
    for name in PROPERTIES:
        if name in conv_p and name in md_p:
            add("dft converged->mlip", name, *conv_p[name], *md_p[name], property_units(name))

    # MD -> continuum: stress of the same homogeneous strain (block FEM vs periodic MD bulk cell)
    cont = read_artifact(inputs.continuum, "continuum")
    scale = float(np.max(np.abs(cont["stress_md"])))
    for k, name in enumerate(VOIGT_NAMES):
        fine, coarse = float(cont["stress_md"][k]), float(cont["stress_fem"][k])
        if max(abs(fine), abs(coarse)) > 1e-3 * scale:
            add("md->continuum", f"homogeneous stress_{name} at the specimen strain", fine, NAN, coarse, NAN, "GPa")
    if inputs.specimen:
        _specimen_records(inputs.specimen, cont, add)

    # simulation -> experiment
    if inputs.experiment:
        exp = load_experiment(inputs.experiment)
        for scale_name, props in (("dft converged", conv_p), ("dft", dft_p), ("mlip", md_p)):
            for name in PROPERTIES:
                key = name if name in exp else ("surface_energy_average" if name.startswith("surface_energy")
                                                else None)
                if key in exp and name in props:
                    add(f"experiment->{scale_name}", name + (" (vs orientation average)" if key != name else ""),
                        float(exp[key]["value"]), NAN, *props[name], exp[key]["units"])
        if inputs.thermal and "thermal_expansion" in exp:
            th = read_properties(inputs.thermal)
            if "alpha" in th:
                add("experiment->mlip", "thermal expansion coefficient", float(exp["thermal_expansion"]["value"]),
                    NAN, *th["alpha"], "1/K")
    return recs


def _specimen_records(specimen: str, cont, add) -> None:
    """MD bulk -> MD specimen and MD -> continuum records of the plate with a hole."""

    sp = read_artifact(specimen, "md_specimen")
    far_info = sp.attr("far_field")
    bulk = np.array(sp.attr("bulk_stress"))
    far = np.hypot(*sp["centres"].T) >= sp.attr("specimen").geometry.interior_half_width_nm
    for k, name in enumerate(VOIGT_NAMES[:3]):
        md_far = float(far_info.load_stress[k])
        add("md bulk->md specimen", f"far-field stress_{name} (load-induced) vs periodic bulk", float(bulk[k]),
            NAN, md_far, NAN, "GPa")
        fem_far = float(np.nanmean(cont["stress"][far, k]))
        fem_far_std = float(np.nanmean(cont["std_stress"][far, k]))
        add("md->continuum", f"specimen far-field stress_{name}", md_far, NAN, fem_far, fem_far_std, "GPa")
    k_max = int(np.nanargmax(sp["load_stress"][:, 0]))
    add("md->continuum", "specimen max stress_xx (at the hole)", float(sp["load_stress"][k_max, 0]), NAN,
        float(np.nanmax(cont["stress"][:, 0])), float(cont["std_stress"][int(np.nanargmax(cont["stress"][:, 0])), 0]),
        "GPa")
    add("md->continuum", "far-field residual stress_xx at zero load (surface stress)",
        float(far_info.residual_stress[0]), NAN, 0.0, NAN, "GPa", relative=-1.0)
