"""Divergence records between scales, and the study's readable summary.

Every record compares one quantity at a finer (reference) scale with a coarser one: value, uncertainty,
difference and relative difference. A gap is a finding: it is recorded and reported, never tuned away.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from multiscale.artifacts import read_artifact, write_artifact
from multiscale.continuum.stage import VOIGT_NAMES, property_dict

NAN = float("nan")
PROPERTIES = ("a0", "B", "C11", "C12", "C44")


def _rel(fine: float, coarse: float) -> float:
    return (coarse - fine) / abs(fine) if abs(fine) > 1e-12 and math.isfinite(fine) else NAN


def load_experiment(path: str | Path) -> dict[str, dict[str, Any]]:
    data = yaml.safe_load(Path(path).read_text())
    for name, entry in data.get("properties", {}).items():
        for key in ("value", "units", "source", "temperature_K"):
            if key not in entry:
                raise ValueError(f"{path}: properties.{name} lacks '{key}'. Fix: every experimental value "
                                 f"needs value, units, source and temperature_K")
    return data["properties"]


def build_records(dft: str, potential: str, md: str, continuum: str, experiment: str | None) -> list[dict[str, Any]]:
    recs: list[dict[str, Any]] = []

    def add(transition, quantity, fine, fine_std, coarse, coarse_std, units, relative=None):
        recs.append({"transition": transition, "quantity": quantity, "fine": fine, "fine_std": fine_std,
                     "coarse": coarse, "coarse_std": coarse_std, "difference": coarse - fine
                     if math.isfinite(fine) else NAN,
                     "relative": _rel(fine, coarse) if relative is None else relative, "units": units})

    # DFT -> MLIP on held-out configurations. fine = RMS of the DFT quantity on the test set, coarse = RMSE;
    # relative = RMSE / RMS (a scale-free error).
    pot = read_artifact(potential, "potential")
    split = np.array(pot["split"], dtype=object)
    test = split == "test"
    atom_test = np.repeat(test, pot["n_atoms"])
    de = (pot["energy_pred"] - pot["energy_dft"])[test]
    e_spread = float(np.std(pot["energy_dft"][test])) * 1000
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

    # DFT -> MLIP on properties (MLIP evaluated in LAMMPS at 0 K by the MD stage)
    dft_p, md_p = property_dict(dft), property_dict(md)
    units = {"a0": "Angstrom"}
    for name in PROPERTIES:
        if name in dft_p and name in md_p:
            add("dft->mlip", name, *dft_p[name], *md_p[name], units.get(name, "GPa"))

    # MD -> continuum: stress of the same homogeneous strain
    cont = read_artifact(continuum, "continuum")
    scale = float(np.max(np.abs(cont["stress_md"])))
    for k, name in enumerate(VOIGT_NAMES):
        fine, coarse = float(cont["stress_md"][k]), float(cont["stress_fem"][k])
        if max(abs(fine), abs(coarse)) > 1e-3 * scale:
            add("md->continuum", f"stress_{name} at the specimen strain", fine, NAN, coarse, NAN, "GPa")

    # simulation -> experiment
    if experiment:
        exp = load_experiment(experiment)
        for scale_name, props in (("dft", dft_p), ("mlip", md_p)):
            for name in PROPERTIES:
                if name in exp and name in props:
                    add(f"experiment->{scale_name}", name, float(exp[name]["value"]), NAN, *props[name],
                        exp[name]["units"])
    return recs


def _fmt(x: float, nd: int = 4) -> str:
    if not math.isfinite(x):
        return "-"
    return f"{x:.{nd}g}"


def _pm(v: float, s: float) -> str:
    return _fmt(v) + (f" ± {_fmt(s, 2)}" if math.isfinite(s) else "")


def write_summary(study: str, dft: str, potential: str, md: str, continuum: str, experiment: str | None,
                  out_h5: str, out_md: str, validation: str | None = None, specimen: str | None = None,
                  speed: str | None = None, figures: str | None = None) -> None:
    if figures:
        Path(figures).mkdir(parents=True, exist_ok=True)
    recs = build_records(dft, potential, md, continuum, experiment)
    cols = {k: [r[k] for r in recs] for k in recs[0]}
    inputs = [p for p in (dft, potential, md, continuum, experiment, validation) if p]
    write_artifact(out_h5, "divergence", cols, {"study": study}, inputs=inputs, config={"study": study})

    dft_art = read_artifact(dft, "properties")
    pot = read_artifact(potential, "potential")
    cont = read_artifact(continuum, "continuum")
    metrics = pot.json_attr("metrics")
    hyper = pot.json_attr("hyperparameters")
    lines = [f"# Divergence summary: study `{study}`", ""]
    lines += ["Every row compares a coarser model with a finer reference. `relative` = (coarse - fine)/|fine|; "
              "for the held-out errors, fine is the spread of the DFT values (std of energies per atom, RMS of "
              "forces and stresses) and relative = RMSE/spread (a normalised RMSE).", ""]
    lines += ["## Settings behind the numbers", "",
              f"- DFT: {dft_art.json_attr('settings')}",
              f"- DFT properties: {dft_art['notes'][0]}; elastic constants: {dft_art['notes'][2]}",
              f"- MLIP: linear SNAP {pot.json_attr('settings')}; Bayesian hyperparameters alpha = "
              f"{hyper['alpha']:.4g}, lambda = {hyper['lambda']:.4g}",
              f"- MD: {read_artifact(md, 'properties')['notes'][0]}",
              f"- Continuum: {cont.json_attr('mesh')}", ""]
    lines += ["## MLIP vs DFT, per split", "",
              "| split | configs | energy RMSE (meV/atom) | force RMSE (eV/A) | force MAE (eV/A) | stress RMSE (GPa) |",
              "|---|---|---|---|---|---|"]
    for s in ("train", "calibration", "test"):
        m = metrics.get(s) or {}
        if m:
            lines.append(f"| {s} | {m['n_configs']} | {_fmt(m['energy_rmse_meV_atom'])} | "
                         f"{_fmt(m['force_rmse_eV_A'])} | {_fmt(m['force_mae_eV_A'])} | {_fmt(m['stress_rmse_GPa'])} |")
    if validation:
        from multiscale.mlip.validation import markdown

        lines += ["", "## MLIP validation: models, groups, held-out groups, calibration, baseline", "",
                  markdown(validation), "", "Figures: `mlip/figures/parity.png`, `force_error_histogram.png`, "
                  "`calibration.png`."]
    lines += ["", "## Divergence records", "",
              "| transition | quantity | fine | coarse | coarse - fine | relative | units |",
              "|---|---|---|---|---|---|---|"]
    for r in recs:
        lines.append(f"| {r['transition']} | {r['quantity']} | {_pm(r['fine'], r['fine_std'])} | "
                     f"{_pm(r['coarse'], r['coarse_std'])} | {_fmt(r['difference'])} | "
                     f"{_fmt(100 * r['relative'], 3) + ' %' if math.isfinite(r['relative']) else '-'} | {r['units']} |")
    if experiment:
        exp = load_experiment(experiment)
        lines += ["", "## Experimental references", ""]
        for name in PROPERTIES:
            if name in exp:
                e = exp[name]
                lines.append(f"- {name} = {e['value']} {e['units']} at {e['temperature_K']} K: {e['source']}")
    prov = pot.provenance
    lines += ["", "## Provenance", "", f"- multiscale {prov.get('package_version')}, commit {prov.get('git_commit')}",
              f"- software: {json.dumps(prov.get('software'))}", ""]
    tmp = Path(out_md).with_name(f".{Path(out_md).name}.tmp")
    tmp.write_text("\n".join(lines))
    tmp.replace(out_md)


def write_sweep_table(study: str, points: dict[str, str], out: str) -> None:
    """Compare the sweep points: every coarse-scale value of every divergence record, one row per point."""
    arts = {label: read_artifact(path, "divergence") for label, path in points.items()}
    columns: list[tuple[str, str]] = []
    for art in arts.values():
        for t, q in zip(art["transition"], art["quantity"], strict=True):
            if not str(t).startswith("experiment") and (t, q) not in columns:
                columns.append((str(t), str(q)))
    lines = [f"# Sweep comparison: study `{study}`", "",
             "Each cell: the coarser scale's value (relative difference from the finer scale).", "",
             "| point | " + " | ".join(f"{t}: {q}" for t, q in columns) + " |",
             "|---|" + "---|" * len(columns)]
    for label, art in arts.items():
        rec = {(str(t), str(q)): (c, r) for t, q, c, r in zip(art["transition"], art["quantity"], art["coarse"],
                                                              art["relative"], strict=True)}
        cells = []
        for key in columns:
            c, r = rec.get(key, (NAN, NAN))
            cells.append(f"{_fmt(c)} ({_fmt(100 * r, 3)} %)" if math.isfinite(r) else _fmt(c))
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    tmp = Path(out).with_name(f".{Path(out).name}.tmp")
    tmp.write_text("\n".join(lines) + "\n")
    tmp.replace(out)
