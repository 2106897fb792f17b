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
PROPERTIES = ("a0", "B", "C11", "C12", "C44", "vacancy_formation_energy", "surface_energy_100", "surface_energy_110",
              "surface_energy_111")
UNITS = {"a0": "Angstrom", "vacancy_formation_energy": "eV", "surface_energy_100": "J/m^2",
         "surface_energy_110": "J/m^2", "surface_energy_111": "J/m^2"}


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


def build_records(dft: str, potential: str, md: str, continuum: str, experiment: str | None,
                  specimen: str | None = None, thermal: str | None = None,
                  converged: str | None = None) -> list[dict[str, Any]]:
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

    # DFT at converged settings -> DFT at the training settings (what the potential can learn)
    dft_p, md_p = property_dict(dft), property_dict(md)
    conv_p = property_dict(converged) if converged else {}
    for name in PROPERTIES:
        if name in conv_p and name in dft_p:
            add("dft converged->dft training settings", name, *conv_p[name], *dft_p[name], UNITS.get(name, "GPa"))

    # DFT -> MLIP on properties (MLIP evaluated in LAMMPS at 0 K by the MD stage)
    for name in PROPERTIES:
        if name in dft_p and name in md_p:
            add("dft->mlip", name, *dft_p[name], *md_p[name], UNITS.get(name, "GPa"))

    # MD -> continuum: stress of the same homogeneous strain (block FEM vs periodic MD bulk cell)
    cont = read_artifact(continuum, "continuum")
    scale = float(np.max(np.abs(cont["stress_md"])))
    for k, name in enumerate(VOIGT_NAMES):
        fine, coarse = float(cont["stress_md"][k]), float(cont["stress_fem"][k])
        if max(abs(fine), abs(coarse)) > 1e-3 * scale:
            add("md->continuum", f"homogeneous stress_{name} at the specimen strain", fine, NAN, coarse, NAN, "GPa")
    if specimen:
        sp = read_artifact(specimen, "md_specimen")
        far_info = json.loads(sp.attrs["far_field"])
        bulk = np.array(json.loads(sp.attrs["bulk_stress"]))
        far = np.hypot(*sp["centres"].T) >= json.loads(sp.attrs["specimen"])["geometry"]["interior_half_width_nm"]
        for k, name in enumerate(VOIGT_NAMES[:3]):
            md_far = float(far_info["load_stress"][k])
            add("md bulk->md specimen", f"far-field stress_{name} (load-induced) vs periodic bulk", float(bulk[k]),
                NAN, md_far, NAN, "GPa")
            fem_far = float(np.nanmean(cont["stress"][far, k]))
            fem_far_std = float(np.nanmean(cont["std_stress"][far, k]))
            add("md->continuum", f"specimen far-field stress_{name}", md_far, NAN, fem_far, fem_far_std, "GPa")
        k_max = int(np.nanargmax(sp["load_stress"][:, 0]))
        add("md->continuum", "specimen max stress_xx (at the hole)", float(sp["load_stress"][k_max, 0]), NAN,
            float(np.nanmax(cont["stress"][:, 0])), float(cont["std_stress"][int(np.nanargmax(cont["stress"][:, 0])),
                                                                            0]), "GPa")
        add("md->continuum", "far-field residual stress_xx at zero load (surface stress)",
            float(far_info["residual_stress"][0]), NAN, 0.0, NAN, "GPa", relative=-1.0)

    # simulation -> experiment
    if experiment:
        exp = load_experiment(experiment)
        for scale_name, props in (("dft converged", conv_p), ("dft", dft_p), ("mlip", md_p)):
            for name in PROPERTIES:
                key = name if name in exp else ("surface_energy_average" if name.startswith("surface_energy")
                                                else None)
                if key in exp and name in props:
                    add(f"experiment->{scale_name}", name + (" (vs orientation average)" if key != name else ""),
                        float(exp[key]["value"]), NAN, *props[name], exp[key]["units"])
        if thermal and "thermal_expansion" in exp:
            th = property_dict(thermal)
            if "alpha" in th:
                add("experiment->mlip", "thermal expansion coefficient", float(exp["thermal_expansion"]["value"]),
                    NAN, *th["alpha"], "1/K")
    return recs


def _convergence_lines(convergence: str, converged: str, training: str) -> list[str]:
    """The DFT convergence verdicts and the properties at converged settings beside the training values."""
    conv = read_artifact(convergence, "dft_convergence")
    verdict, tol = conv.json_attr("verdict"), conv.json_attr("tolerances")
    cfg = conv.json_attr("configured")
    bad = [f"{p} {v:g}" for p, v, ok, c in zip(conv["cell_parameter"], conv["cell_value"], conv["cell_passes"],
                                              conv["cell_configured"], strict=True) if c and not ok]
    yes = {True: "yes", False: "**no**"}
    lines = ["## DFT convergence (`dft/convergence.md`, `dft/convergence.png`)", "",
             f"- Training settings (ecut {cfg['ecut']:g} eV, k-density {cfg['kpt_density']:g}/A^-1) within "
             f"{tol['energy']:g} meV/atom, {tol['force']:g} eV/A, {tol['stress']:g} GPa of the tightest scanned "
             f"settings: {yes[verdict['cells_converged']]}" + (f" (fails at {', '.join(bad)})" if bad else ""),
             f"- Elastic constants at the reference settings converged within {100 * tol['elastic']:g}%: "
             f"{yes[verdict['elastic_converged']]}", "",
             "| property | training settings | converged settings | training - converged | how (converged) |",
             "|---|---|---|---|---|"]
    train = property_dict(training)
    art = read_artifact(converged, "properties")
    for n, v, sd, u, note in zip(art["names"], art["values"], art["std"], art["units"], art["notes"], strict=True):
        t = train.get(n, (NAN, NAN))[0]
        lines.append(f"| {n} ({u}) | {_fmt(t)} | {_pm(v, sd)} | {_fmt(t - v)} ({_fmt(100 * (t - v) / abs(v), 2)}%) "
                     f"| {note} |")
    return lines + [""]


def _fmt(x: float, nd: int = 4) -> str:
    if not math.isfinite(x):
        return "-"
    return f"{x:.{nd}g}"


def _pm(v: float, s: float) -> str:
    return _fmt(v) + (f" ± {_fmt(s, 2)}" if math.isfinite(s) else "")


def write_summary(study: str, dft: str, potential: str, md: str, continuum: str, experiment: str | None,
                  out_h5: str, out_md: str, validation: str | None = None, specimen: str | None = None,
                  thermal: str | None = None, speed: str | None = None, figures: str | None = None,
                  atlas: dict[str, Any] | None = None, dataset: str | None = None, converged: str | None = None,
                  convergence: str | None = None) -> None:
    if figures:
        Path(figures).mkdir(parents=True, exist_ok=True)
    recs = build_records(dft, potential, md, continuum, experiment, specimen, thermal, converged)
    cols = {k: [r[k] for r in recs] for k in recs[0]}
    inputs = [p for p in (dft, potential, md, continuum, experiment, validation, specimen, thermal, speed, converged,
                          convergence) if p]
    atlas_data, atlas_attrs, atlas_lines = {}, {}, []
    if specimen and validation and dataset:
        atlas_data, atlas_attrs, atlas_lines = build_atlas(dft, dataset, potential, validation, md, specimen, continuum,
                                                           recs, atlas or {}, Path(figures) if figures else None)
    write_artifact(out_h5, "divergence", {**cols, **atlas_data}, {"study": study, **atlas_attrs}, inputs=inputs,
                   config={"study": study, "divergence": atlas or {}})

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
    if convergence and converged:
        lines += _convergence_lines(convergence, converged, dft)
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
        for name, e in exp.items():
            lines.append(f"- {name} = {e['value']} {e['units']} at {e['temperature_K']} K: {e['source']}")
    lines += atlas_lines
    if thermal:
        th = read_artifact(thermal, "properties")
        lines += ["", "## Thermal expansion (MD, NPT)", "", "| quantity | value | std | units | how |",
                  "|---|---|---|---|---|"]
        for n, v, sd, u, note in zip(th["names"], th["values"], th["std"], th["units"], th["notes"], strict=True):
            lines.append(f"| {n} | {_fmt(v, 5)} | {_fmt(sd, 2)} | {u} | {note} |")
    if speed:
        sp_info = json.loads(Path(speed).read_text())
        lines += ["", "## MD speed (same system, same process)", "", f"System: {sp_info['system']}, "
                  f"{sp_info['ranks']} rank(s).", ""]
        for name, v in sp_info["potentials"].items():
            lines.append(f"- {name}: {v['atom_steps_per_s']:.4g} atom-steps/s ({v['wall_s']:.2f} s)")
        if "baseline_over_fitted" in sp_info:
            lines.append(f"- the classical baseline is {sp_info['baseline_over_fitted']:.1f}x faster than the "
                         f"fitted SNAP")
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


def build_atlas(dft: str, dataset: str, potential: str, validation: str, md: str, specimen: str, continuum: str,
                recs: list[dict[str, Any]], settings: dict[str, Any], fig_dir: Path | None
                ) -> tuple[dict[str, Any], dict[str, Any], list[str]]:
    """Per-record divergences, validity regions, discrepancy models and figures; returns artifact datasets,
    attributes and summary lines."""
    from multiscale.divergence import atlas as at
    from multiscale.divergence import figures as fg

    s = at.AtlasSettings.from_dict(settings)
    pot = read_artifact(potential, "potential")
    val = read_artifact(validation, "mlip_validation")
    sp = read_artifact(specimen, "md_specimen")
    cont = read_artifact(continuum, "continuum")
    desc = json.loads(sp.attrs["specimen"])
    radius = float(desc["geometry"]["hole_radius_nm"])
    grid_h = float(desc["grid"]["cell_nm"])
    a0_md = float(desc["crystal"]["lattice_constant_A"])
    from multiscale.dft.structures import Material
    from multiscale.md.specimen import _shells

    mat = Material(element=desc["crystal"]["element"], lattice=desc["crystal"]["lattice"], a_guess=a0_md)
    shells = _shells(mat, a0_md)
    from ase.neighborlist import neighbor_list

    cell = mat.cubic_cell(a0_md)
    bulk_coord = len(neighbor_list("i", cell, 0.5 * (shells[0] + shells[1]))) / len(cell)

    # DFT -> MLIP, per atom
    ds = read_artifact(dataset, "dft_dataset")
    a = at.mlip_atom_records(ds, pot, val, a0_md, shells)
    mlip_exp = at.explain(a["features"], a["error"], at.MLIP_FEATURES, s) if len(a["error"]) > 2 else None
    gstar = at.grade_threshold(a["features"][:, at.MLIP_FEATURES.index("grade")], a["error"], s.force_tolerance, s)

    # atomistic -> continuum, per cell
    c = at.continuum_cell_records(sp, cont, radius, grid_h, bulk_coord)
    ok = c["valid"]
    cont_exp = at.explain(c["features"][ok], c["local_relative"][ok], at.CONTINUUM_FEATURES, s)
    cont_bulk_exp = at.explain(c["features"][ok], c["relative"][ok], at.CONTINUUM_FEATURES, s)
    cell_shap = np.full(c["features"].shape, np.nan)
    cell_shap[ok] = cont_exp["shap"]
    has = np.isfinite(c["relative"])  # d* from every cell with a divergence, whatever its features
    dstar = at.distance_threshold(c["distance"][has], c["relative"][has], np.nan_to_num(c["relative_std"][has]),
                                  s.stress_tolerance,
                                  grid_h)
    plast = at.plasticity_record(sp, cont, float(desc["boundary_conditions"]["strain"]), radius)
    flagged = bool(sp.attrs["flagged"])
    monitor = {"flagged": flagged, "frames": int(len(sp["monitor_step"])),
               "max_grade": float(np.max(sp["monitor_max_grade"])), "max_n_above": int(np.max(sp["monitor_n_above"])),
               "atoms_above_at_load": int(np.sum(sp["grade"] > pot.json_attr("settings").get(
                   "extrapolation_threshold", 1.5))),
               "median_distance_of_flagged_atoms_nm": _flag_distance(sp, radius, pot),
               "relaxations": json.loads(sp.attrs["relaxations"])}
    explanations = {"dft->mlip (per-atom force error)": _strip(mlip_exp),
                    "atomistic->continuum (per-cell |FEM - MD| / |MD stress|)": _strip(cont_exp),
                    "atomistic->continuum (per-cell |FEM - MD| / |bulk stress|, as in d*)": _strip(cont_bulk_exp)}
    validity = {"dft->mlip": gstar, "atomistic->continuum": dstar}
    data = {"mlip_feature_names": at.MLIP_FEATURES, "atom_features": a["features"], "atom_error": a["error"],
            "atom_shap": mlip_exp["shap"] if mlip_exp else np.full(a["features"].shape, np.nan),
            "atom_config": a["config"], "atom_group": a["group"],
            "continuum_feature_names": at.CONTINUUM_FEATURES, "cell_centres": sp["centres"],
            "cell_features": c["features"], "cell_stress_difference": c["ds"],
            "cell_displacement_difference": c["du"], "cell_relative": c["relative"],
            "cell_local_relative": c["local_relative"],
            "cell_relative_std": c["relative_std"], "cell_valid": ok, "cell_shap": cell_shap}
    attrs = {"validity": validity, "explanations": explanations, "plasticity": plast, "monitor": monitor,
             "settings": settings}

    if fig_dir is not None:
        fig_dir.mkdir(parents=True, exist_ok=True)
        strain = float(desc["boundary_conditions"]["strain"])
        fg.stress_maps(sp["centres"], sp["load_stress"][:, 0], cont["stress"][:, 0], radius, strain,
                       fig_dir / "stress_maps.png")
        fg.divergence_vs_distance(c["distance"][ok], c["relative"][ok], c["relative_std"][ok], s.stress_tolerance,
                                  dstar, fig_dir / "divergence_vs_distance.png")
        fg.shap_summary(cont_exp, "Atomistic -> continuum: |FEM - MD| / |MD stress| per cell", "1",
                        fig_dir / "shap_continuum.png")
        if mlip_exp:
            fg.shap_summary(mlip_exp, "DFT -> MLIP: force error per atom (out-of-sample)", "eV/Å",
                            fig_dir / "shap_mlip.png")
        prop_rows = [{**r, "relative_std": r["coarse_std"] / abs(r["fine"]) if abs(r["fine"]) > 0 else NAN}
                     for r in recs if r["transition"].startswith(("dft->mlip", "dft converged", "experiment")) and
                     "RMSE" not in r["quantity"] and math.isfinite(r["relative"])]
        fg.property_parity(prop_rows, fig_dir / "properties_parity.png")
        split = np.array(pot["split"], dtype=object)
        fg.force_parity(pot["forces_dft"], pot["forces_pred"], pot["forces_std"], np.repeat(split, pot["n_atoms"]),
                        fig_dir / "parity_forces.png")
        fg.plasticity(plast, fig_dir / "plasticity.png")
        fg.monitor({"max_grade": sp["monitor_max_grade"], "n_above": sp["monitor_n_above"]},
                   pot.json_attr("settings").get("extrapolation_threshold", 1.5), fig_dir / "trust_monitor.png")

    lines = ["", "## Divergence atlas", ""]
    lines += ["### Validity regions", "",
              f"- **DFT -> MLIP forces** within {s.force_tolerance} eV/Å below extrapolation grade "
              f"g* = {_fmt(gstar['g_star'], 3)} ± {_fmt(gstar['std'], 2)} (bootstrap over {gstar['n_atoms']} "
              f"out-of-sample atoms): {gstar.get('meaning', '')}.",
              f"- **Atomistic -> continuum stress** within {100 * s.stress_tolerance:g} % of the bulk stress beyond "
              f"d* = {_fmt(dstar['d_star_nm'], 3)} nm from the hole surface (range {_fmt(dstar['range_nm'][0], 3)} "
              f"to {_fmt(dstar['range_nm'][1], 3)} nm with the FEM posterior std; grid resolution {grid_h} nm): "
              f"{dstar['meaning']}.", ""]
    lines += ["### Explanations (gradient-boosted trees + SHAP)", "",
              "| transition | records | CV R2 | trust | features, by mean abs SHAP |", "|---|---|---|---|---|"]
    for name, e in explanations.items():
        if e is None:
            lines.append(f"| {name} | - | - | too few records | - |")
            continue
        rank = ", ".join(f"{n} ({v:.2g})" for n, v in e["ranking"][:5])
        lines.append(f"| {name} | {e['n_records']} | {e['cv']['r2_mean']:.2f} ± {e['cv']['r2_std']:.2f} | "
                     f"{e['trust']} | {rank} |")
    lines += ["", "### Trust monitor of the specimen", "",
              f"- flagged: **{flagged}** ({monitor['max_n_above']} atoms above the extrapolation threshold at worst, "
              f"max grade {monitor['max_grade']:.3g} over {monitor['frames']} frames; under load "
              f"{monitor['atoms_above_at_load']} atoms, median distance from the hole surface "
              f"{_fmt(monitor['median_distance_of_flagged_atoms_nm'] or NAN, 3)} nm).",
              "- relaxations: " + "; ".join(f"strain {r['strain']}: {r['iterations']} iterations, fmax "
                                             f"{r['fmax']:.2g} eV/Å{'' if r['converged'] else ' (NOT converged)'}"
                                             for r in monitor["relaxations"]), ""]
    lines += ["### Rare events: strain sweep of the specimen", ""]
    if plast.get("onset_strain") is not None:
        w = plast["where"] or {}
        lines.append(f"- plasticity onset at strain **{plast['onset_strain']}**: {w.get('atoms')} non-lattice atoms, "
                     f"median {_fmt(w.get('median_distance_from_hole_nm') or NAN, 3)} nm from the hole surface; "
                     f"the linear continuum has no such event.")
        onset = next(r for r in plast["sweep"] if r["strain"] == plast["onset_strain"])
        if onset["n_above"] > 0:
            lines.append(f"- **not trusted**: at that strain {onset['n_above']} atoms are beyond the potential's "
                         f"extrapolation threshold (max grade {onset['max_grade']:.3g}); the event may be the "
                         f"potential's failure rather than the material's: check it with a potential trained on "
                         f"stacking-fault and large-strain configurations.")
    else:
        lines.append(f"- {plast['note']}.")
    if plast["sweep"]:
        lines += ["", "| strain | MD max sigma_xx (GPa) | linear FEM max (GPa) | divergence | non-lattice atoms "
                  "(interior) | atoms above grade threshold |", "|---|---|---|---|---|---|"]
        for r in plast["sweep"]:
            lines.append(f"| {r['strain']} | {r['md_max_stress_xx']:.3f} | {r['fem_max_stress_xx']:.3f} | "
                         f"{100 * r['relative_max']:.1f} % | {r['non_lattice_interior']} | {r['n_above']} |")
    if plast.get("untrusted_points"):
        lines.append(f"\nSweep points outside the potential's trusted region: {plast['untrusted_points']} "
                     f"(their MD numbers are extrapolations).")
    lines += ["", "Figures (`figures/`): `stress_maps.png`, `divergence_vs_distance.png`, `shap_continuum.png`, "
              "`shap_mlip.png`, `properties_parity.png`, `parity_forces.png`, `plasticity.png`, "
              "`trust_monitor.png`.", ""]
    return data, attrs, lines


def _strip(e: dict[str, Any] | None) -> dict[str, Any] | None:
    return None if e is None else {k: v for k, v in e.items() if k != "shap"}


def _flag_distance(sp, radius: float, pot) -> float | None:
    thr = pot.json_attr("settings").get("extrapolation_threshold", 1.5)
    m = sp["grade"] > thr
    if not m.any():
        return None
    r = np.hypot(sp["reference"][m, 0], sp["reference"][m, 1]) - radius
    return float(np.median(r))
