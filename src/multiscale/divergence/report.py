"""The study's readable summary (``summary.md``): renders the divergence records and the atlas as Markdown.

Nothing is computed here beyond formatting: the records come from :mod:`.transitions`, the atlas from
:func:`.atlas.compute_atlas`, the validation tables from :mod:`multiscale.mlip.report`.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from multiscale.artifacts import read_artifact, read_properties
from multiscale.divergence.atlas import Atlas
from multiscale.divergence.transitions import DivergenceRecord, SummaryInputs, load_experiment
from multiscale.formatting import fmt, pm

NAN = float("nan")
FIGURE_NOTE = ("Figures (`figures/`): `stress_maps.png`, `divergence_vs_distance.png`, `shap_continuum.png`, "
               "`shap_mlip.png`, `properties_parity.png`, `parity_forces.png`, `plasticity.png`, "
               "`trust_monitor.png`.")


def render_summary(study: str, inputs: SummaryInputs, records: list[DivergenceRecord], atlas: Atlas | None) -> str:
    """The whole ``summary.md`` of a study."""
    dft_art = read_artifact(inputs.dft, "properties")
    pot = read_artifact(inputs.potential, "potential")
    cont = read_artifact(inputs.continuum, "continuum")
    metrics = pot.json_attr("metrics")
    hyper = pot.json_attr("hyperparameters")
    lines = [f"# Divergence summary: study `{study}`", ""]
    lines += ["Every row compares a coarser model with a finer reference. `relative` = (coarse - fine)/|fine|; "
              "for the held-out errors, fine is the spread of the DFT values (std of energies per atom, RMS of "
              "forces and stresses) and relative = RMSE/spread (a normalised RMSE).", ""]
    lines += ["## Settings behind the numbers", "",
              f"- DFT: {dft_art.json_attr('settings')}",
              f"- DFT properties: {dft_art['notes'][0]}; elastic constants: {dft_art['notes'][2]}",
              *fidelity_lines(inputs.dataset),
              f"- MLIP: linear SNAP {pot.json_attr('settings')}; Bayesian hyperparameters alpha = "
              f"{hyper['alpha']:.4g}, lambda = {hyper['lambda']:.4g}",
              f"- MD: {read_artifact(inputs.md, 'properties')['notes'][0]}",
              f"- Continuum: {cont.json_attr('mesh')}", ""]
    if inputs.convergence and inputs.converged:
        lines += convergence_lines(inputs.convergence, inputs.converged, inputs.dft)
    lines += ["## MLIP vs DFT, per split", "",
              "| split | configs | energy RMSE (meV/atom) | force RMSE (eV/A) | force MAE (eV/A) | stress RMSE (GPa) |",
              "|---|---|---|---|---|---|"]
    for s in ("train", "calibration", "test"):
        m = metrics.get(s) or {}
        if m:
            lines.append(f"| {s} | {m['n_configs']} | {fmt(m['energy_rmse_meV_atom'])} | "
                         f"{fmt(m['force_rmse_eV_A'])} | {fmt(m['force_mae_eV_A'])} | {fmt(m['stress_rmse_GPa'])} |")
    if inputs.validation:
        from multiscale.mlip.report import markdown

        loop = (["With the active-learning loop on, this section (and the atlas's grade threshold g*) scores the "
                 "MLIP stage's potential P_0 on the DFT stage's dataset; MD and every scale below use the loop's "
                 "last potential, scored on the fixed test set in 'Active learning'.", ""]
                if inputs.al_record else [])
        lines += ["", "## MLIP validation: models, groups, held-out groups, calibration, baseline", "", *loop,
                  markdown(inputs.validation), "", "Figures: `mlip/figures/parity.png`, `force_error_histogram.png`, "
                  "`calibration.png`."]
    lines += ["", "## Divergence records", "",
              "| transition | quantity | fine | coarse | coarse - fine | relative | units |",
              "|---|---|---|---|---|---|---|"]
    for r in records:
        lines.append(f"| {r.transition} | {r.quantity} | {pm(r.fine, r.fine_std)} | "
                     f"{pm(r.coarse, r.coarse_std)} | {fmt(r.difference)} | "
                     f"{fmt(100 * r.relative, 3) + ' %' if math.isfinite(r.relative) else '-'} | {r.units} |")
    if inputs.experiment:
        exp = load_experiment(inputs.experiment)
        lines += ["", "## Experimental references", ""]
        for name, e in exp.items():
            lines.append(f"- {name} = {e['value']} {e['units']} at {e['temperature_K']} K: {e['source']}")
    if atlas is not None:
        lines += atlas_lines(atlas)
        lines += validity_lines(inputs.validity)
        lines += environment_lines(inputs.environments)
    lines += stability_lines(inputs.md)
    lines += active_learning_lines(inputs.al_record)
    if inputs.thermal:
        th = read_artifact(inputs.thermal, "properties")
        lines += ["", "## Thermal expansion (MD, NPT)", "", "| quantity | value | std | units | how |",
                  "|---|---|---|---|---|"]
        for n, v, sd, u, note in zip(th["names"], th["values"], th["std"], th["units"], th["notes"], strict=True):
            shown = fmt(v, 5) if np.isfinite(v) else "not a number (collapsed)"
            lines.append(f"| {n} | {shown} | {fmt(sd, 2)} | {u} | {note} |")
        verdict = str(th["notes"][0]).split(";")[0]
        if verdict.startswith("NOT A NUMBER"):
            lines += ["", f"**Thermal expansion: not a number.** {verdict.split(':', 1)[1].strip()} (per-temperature "
                          f"checks in the table); no coefficient is reported or compared with experiment."]
        elif verdict.startswith("UNTRUSTED"):
            lines += ["", f"**Thermal expansion: untrusted.** {verdict.split(':', 1)[1].strip()} (per-temperature "
                          f"checks in the table); the value is shown, flagged."]
    if inputs.speed:
        sp_info = json.loads(Path(inputs.speed).read_text())
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
    return "\n".join(lines)


def active_learning_lines(record: str | None) -> list[str]:
    """The active-learning record: per iteration's potential, DFT labels so far, fixed-test-set RMSE, the trust
    monitor's online coverage, C44 and stacking-fault energies (closed form, ± posterior std), the explorer
    specimen's flagged free atoms and largest grade at its first strain."""
    if not record:
        return []
    r = read_artifact(record, "al_record")
    settings = r.json_attr("settings")
    lines = ["", f"## Active learning (`al/record.h5`, `al/learning_curve.png`): rule **{r.attrs['rule']}**"
             + (f", downstream quantity {r.attrs['qoi']}" if r.attrs["rule"] == "downstream" else ""), "",
             f"Batch {settings.get('batch_size')} per iteration, families "
             f"{settings.get('explorers', {}).get('families')}; "
             f"fixed test set: {len(r.json_attr('test_set')['names'])} configurations (one per family, never trained "
             f"on). Coverage: force components of the batch P_k chose that fell inside its split-conformal interval, "
             f"predicted before the DFT call. C44 and the (unrelaxed) stacking-fault energies are closed-form "
             f"predictions of P_k (± posterior std).", "",
             "| P_k | DFT calls before | test energy RMSE (meV/atom) | test force RMSE (eV/Å) | test stress RMSE (GPa) "
             "| monitor coverage | C44 (GPa) | USF (mJ/m²) | ISF (mJ/m²) | specimen flagged free atoms | max grade |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for i in range(len(r["iteration"])):
        flagged = int(r["specimen_flagged"][i])
        lines.append(f"| {int(r['iteration'][i])} | {int(r['dft_calls'][i])} | {fmt(r['energy_rmse'][i], 3)} | "
                     f"{fmt(r['force_rmse'][i], 3)} | {fmt(r['stress_rmse'][i], 3)} | {fmt(r['coverage'][i], 3)} | "
                     f"{pm(r['c44'][i], r['c44_std'][i])} | {pm(r['usf_111'][i], r['usf_111_std'][i])} | "
                     f"{pm(r['isf_111'][i], r['isf_111_std'][i])} | {flagged if flagged >= 0 else '-'} | "
                     f"{fmt(r['specimen_max_grade'][i], 3)} |")
    by_strain = r.json_attr("specimen_by_strain") if "specimen_by_strain" in r.attrs else []
    if any(len(st) > 1 for st in by_strain):
        lines += ["", "Explorer specimen per strain (free atoms beyond the threshold, max grade):", ""]
        for k, st in enumerate(by_strain):
            ordered = sorted(st.items(), key=lambda t: float(t[0]))
            lines.append(f"- P_{k}: " + "; ".join(
                f"strain {e}: {v['flagged_free_atoms']}, {v['max_grade']:.3g}"
                + (" (COLLAPSED)" if v.get("collapsed") else "") for e, v in ordered))
    return lines


def _relaxation_checks(r) -> str:
    """The collapse checks of one specimen relaxation, as a phrase."""
    parts = []
    if r.energy_above_crystal is not None:
        parts.append(f"energy {1000 * r.energy_above_crystal:+.1f} meV/atom over the crystal")
    if r.interior_crystal_fraction is not None:
        parts.append(f"interior {100 * r.interior_crystal_fraction:.1f}% crystalline")
    text = f" ({', '.join(parts)})" if parts else ""
    return text + (f" **COLLAPSED: {'; '.join(r.collapsed)}**" if r.collapsed else "")


def fidelity_lines(dataset: str | None) -> list[str]:
    """One line per fidelity of the training data: its settings, labels and number of configurations."""
    if not dataset:
        return []
    ds = read_artifact(dataset, "dft_dataset")
    counts = {str(f): int(np.sum(ds["fidelity"] == f)) for f in sorted(set(ds["fidelity"]))}
    lines = []
    for name, info in ds.json_attr("fidelities").items():
        lines.append(f"- Training data, fidelity `{name}`: {counts.get(name, 0)} configurations, labels "
                     f"{', '.join(info['labels'])}; settings {info['settings']}" +
                     (f"; scans: {'; '.join(info['scans'])}" if "scans" in info else ""))
    dropped = ds.json_attr("dropped")
    lines.append(f"- Dropped by the DFT failure policy (`dft.on_failure: drop`): {len(dropped)} configurations"
                 + (": " + "; ".join(f"{d['name']} ({d['why'][:120]})" for d in dropped) +
                    " (the split of the others is as without the drop)" if dropped else ""))
    return lines


def validity_lines(path: str | None) -> list[str]:
    """Conformal validity regions tested on held-out specimens: coverage against the nominal level, the
    certified share and the conformal d* against the empirical one, per specimen."""
    if not path:
        return []
    art = read_artifact(path, "validity")
    conf, tol, pooled = float(art.attrs["confidence"]), float(art.attrs["tolerance"]), float(
        art.attrs["held_out_coverage"])
    over = {v.name: v.override for v in art.attr("variants")}
    gap = 100 * (pooled - conf)
    verdict = (f"within 5 points of the nominal {100 * conf:.0f} %" if abs(gap) <= 5 else
               f"**{'above' if gap > 0 else 'below'} the nominal {100 * conf:.0f} % by {abs(gap):.1f} points**"
               + ("" if gap > 0 else ": the held-out specimens are not exchangeable with the calibration one (the "
                                      "divergence depends on what differs: hole radius, strain, size or "
                                      "orientation); see the per-specimen rows"))
    lines = ["", "### Validity regions with coverage (split-conformal, held-out specimens)", "",
             f"{art.attrs['method']}. Tolerance: |FEM - MD| / |bulk stress| <= {tol:g}; nominal coverage "
             f"{100 * conf:.0f} %. **Pooled coverage on the held-out specimens: {100 * pooled:.1f} %**, {verdict}.",
             "", "| specimen | role | override | cells | coverage | certified (upper bound <= tol) | certified and "
             "truly within | conformal d* (nm) | empirical d* (nm) |", "|---|---|---|---|---|---|---|---|---|"]
    for i, name in enumerate(art["specimen"]):
        d, e = float(art["d_star"][i]), float(art["empirical_d_star"][i])
        cc = float(art["certified_correct"][i])
        lines.append(f"| {name} | {art['role'][i]} | {over.get(str(name), {}) or 'the study specimen'} | "
                     f"{int(art['cells'][i])} | {100 * float(art['coverage'][i]):.1f} % | "
                     f"{100 * float(art['certified_fraction'][i]):.1f} % | "
                     f"{f'{100 * cc:.1f} %' if math.isfinite(cc) else '-'} | "
                     f"{fmt(d, 3) if math.isfinite(d) else 'none'} | {fmt(e, 3) if math.isfinite(e) else 'none'} |")
    return lines


def rare_event_lines(ev) -> list[str]:
    """Is the rare event preserved? MD's first plasticity (strain, place, defect) against the continuum's first
    slip (largest resolved shear stress reaching the critical strength). ``ev``: a :class:`RareEvent` or None."""
    if ev is None:
        return []
    c = ev.continuum
    w = ev.md_where
    md_place = (f"{w.atoms} interior atoms, median {fmt(w.median_distance_from_hole_nm, 3)} nm from the hole at "
                f"{fmt(w.angle_deg_median, 3)}° from the loading axis" if w else "-")
    mech = ", ".join(f"{k} {v}" for k, v in ev.md_mechanism.items()) or "-"
    return ["", f"**Rare event preserved?** {ev.verdict}.", "",
            "| | onset strain | where | what |", "|---|---|---|---|",
            f"| MD (first >= 4 non-lattice atoms away from the hole surface and frame) | "
            f"{ev.md_onset_strain if ev.md_onset_strain is not None else 'none'} | {md_place} | {ev.md_defect} "
            f"(CNA: {mech}) |",
            f"| linear continuum (largest {c.slip_systems} resolved shear stress = critical strength) | "
            f"{fmt(c.onset_strain, 3) if c.onset_strain is not None else 'none'} | cell "
            f"{fmt(c.distance_from_hole_nm, 3)} nm from the hole at {fmt(c.angle_deg, 3)}° | slip: max RSS "
            f"{fmt(c.max_rss_GPa, 3)} GPa at strain {c.at_strain:g}, critical "
            f"{fmt(c.critical_stress_GPa, 3) if c.critical_stress_GPa else '-'} GPa ({c.critical_stress_how}) |",
            "",
            f"First sweep strain with any non-lattice atom away from the surfaces: "
            f"{ev.md_first_interior_strain if ev.md_first_interior_strain is not None else 'none'}."]


def _pct(x: float) -> str:
    """A fraction as a percentage, 0.1 % resolution below 10 %, 1 % above."""
    return f"{100 * x:.1f} %" if 100 * x < 10 else f"{100 * x:.0f} %"


def _bound(c) -> str:
    if c.force_bound is None:
        return "-"
    cov = f"; {100 * c.bound_test_coverage:.0f} %" if c.bound_test_coverage is not None else ""
    return f"{fmt(c.force_bound, 3)} (n_cal {c.bound_calibration_atoms}{cov})"


def environment_lines(path: str | None) -> list[str]:
    """The atomic-environment clusters: a table, worst held-out force error first, and the worst clusters named
    in words (by held-out force error and by extrapolation grade)."""
    if not path:
        return []
    art = read_artifact(path, "environments")
    clusters = art.attr("clusters")
    conf, pooled = float(art.attrs["confidence"]), float(art.attrs["mondrian_test_coverage"])
    lines = ["", "### Atomic environments: which local structures the potential gets wrong", "",
             f"Every atom of the potential's DFT dataset, of the active-learning candidates and of the specimen (free "
             f"atoms at zero load, under load and at every sweep strain) in the potential's descriptor space: "
             f"{art.attrs['criterion']}. "
             f"Structure from coordination (neighbours within the first/second shell midpoint), common-neighbour "
             f"analysis and the nearest-neighbour (NN) strain; force errors where DFT exists (held-out = calibration "
             f"+ test atoms); std = epistemic force std of the potential; cells = specimen grid cells the cluster "
             f"dominates under load, with their mean |FEM - MD| / |bulk stress|. Figure: "
             f"`divergence/{Path(path).stem}.png`.", "",
             "| cluster | structure | atoms (train / held-out / candidates / specimen) | coordination | CNA | "
             "NN strain | force RMSE held-out (eV/Å) | force RMSE train (eV/Å) | "
             f"{100 * conf:.0f} % force-error bound (eV/Å; test coverage) | std median (eV/Å) | "
             "grade median / max | beyond threshold | share of specimen | cells (divergence) |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for c in clusters:
        n = c.atoms
        held = n.get("calibration", 0) + n.get("test", 0)
        spec = n.get("specimen_zero_load", 0) + n.get("specimen_loaded", 0) + n.get("specimen_sweep", 0)
        cells = (f"{c.cells_dominated} ({fmt(100 * c.cell_divergence_mean, 2)} %)"
                 if c.cell_divergence_mean is not None else f"{c.cells_dominated}")
        lines.append(
            f"| {c.cluster} | {c.label} | {n.get('train', 0)} / {held} / {n.get('candidate', 0)} / {spec} | "
            f"{fmt(c.coordination_median, 3)} | {c.structure} {_pct(c.structure_fraction)} | "
            f"{fmt(100 * c.nn_strain_median, 2)} % | "
            f"{fmt(c.force_rmse_held_out) if c.force_rmse_held_out is not None else '-'} | "
            f"{fmt(c.force_rmse_train) if c.force_rmse_train is not None else '-'} | {_bound(c)} | "
            f"{fmt(c.force_std_median, 2)} | "
            f"{fmt(c.grade_median, 2)} / {fmt(c.grade_max, 2)} | {_pct(c.above_threshold_fraction)} | "
            f"{_pct(c.specimen_share)} | {cells} |")
    lines += ["", f"- **Force-error bounds by cluster** (Mondrian split-conformal, crepes; calibrated on each "
                  f"cluster's calibration atoms, {100 * conf:.0f} % confidence; '-': fewer calibration atoms than "
                  f"the confidence needs, no finite bound; atoms whose DFT force vanishes by symmetry carry no "
                  f"error record): "
                  + (f"pooled coverage on the test atoms of the bounded clusters **{100 * pooled:.1f} %**"
                     if math.isfinite(pooled) else "**no cluster has the calibration atoms a bound at this "
                     "confidence needs** (or no test atom in one that has): more force-informative labels per "
                     "cluster, not a pooled bound, are the fix") + "."]
    held = [c for c in clusters if c.force_rmse_held_out is not None and
            c.atoms.get("calibration", 0) + c.atoms.get("test", 0) >= 5]
    err, src = art["force_error"], art["source"]
    pooled_err = err[np.isin(src, ("calibration", "test")) & np.isfinite(err)]
    overall = float(np.sqrt(np.mean(pooled_err**2))) if len(pooled_err) else NAN
    if len(held) > 1 and math.isfinite(overall) and overall > 0:
        w = max(held, key=lambda c: c.force_rmse_held_out)
        lines.append(f"- **Largest held-out force error**: cluster {w.cluster}, {w.label}: "
                     f"{fmt(w.force_rmse_held_out)} eV/Å RMSE, {fmt(w.force_rmse_held_out / overall, 2)}x the RMSE "
                     f"over all held-out atoms ({fmt(overall)} eV/Å).")
    big = max(clusters, key=lambda c: sum(c.atoms.values()))
    g = max(clusters, key=lambda c: c.grade_median)
    lines.append(f"- **Farthest from the training data**: cluster {g.cluster}, {g.label}: median grade "
                 f"{fmt(g.grade_median, 2)} (the largest cluster, {big.cluster}: {fmt(big.grade_median, 2)}), "
                 f"{_pct(g.above_threshold_fraction)} of its atoms beyond the threshold; it holds "
                 f"{_pct(g.specimen_share)} of the specimen's atoms"
                 + (" and no DFT-labelled atom" if not (g.atoms.get("train") or g.atoms.get("calibration")
                                                      or g.atoms.get("test")) else "") + ".")
    return lines


def stability_lines(md: str) -> list[str]:
    """Phase stability and stacking faults of the potential (MD, posterior mean ± std), and whether the potential is
    fit for the plasticity sweep: a competing phase below the crystal, or a negative intrinsic stacking-fault energy,
    makes a 'plasticity onset' possibly a phase transformation the material would never make."""
    props = read_properties(md)
    rows = [k for k in props if k.startswith("phase_") or k in ("isf_111", "usf_111")]
    if not rows:
        return []
    units = {str(n): str(u) for n, u in zip(*(read_artifact(md, "properties")[k] for k in ("names", "units")),
                                            strict=True)}
    lines = ["", "### Phase stability and stacking faults (MD, posterior mean ± std)", "",
             "| property | value | units |", "|---|---|---|"]
    lines += [f"| {k} | {pm(*props[k])} | {units[k]} |" for k in rows]
    bad = [f"{k} = {fmt(props[k][0])} {units[k]}" for k in rows
           if (k.startswith("phase_") or k == "isf_111") and props[k][0] < 0]
    lines += ["", f"- **unfit for the plasticity sweep**: {', '.join(bad)} < 0: the potential prefers another "
                  f"stacking or phase to the crystal it is used for, so an 'onset of plasticity' in the specimen may "
                  f"be a transformation the material would never make." if bad else
              "- the crystal is the potential's lowest phase of those compared and its intrinsic stacking fault "
              "costs energy: fit for the plasticity sweep in this respect."]
    return lines


def convergence_lines(convergence: str, converged: str, training: str) -> list[str]:
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
    train = read_properties(training)
    art = read_artifact(converged, "properties")
    for n, v, sd, u, note in zip(art["names"], art["values"], art["std"], art["units"], art["notes"], strict=True):
        t = train.get(n, (NAN, NAN))[0]
        lines.append(f"| {n} ({u}) | {fmt(t)} | {pm(v, sd)} | {fmt(t - v)} ({fmt(100 * (t - v) / abs(v), 2)}%) "
                     f"| {note} |")
    return lines + [""]


def atlas_lines(atlas: Atlas) -> list[str]:
    """The atlas sections: validity regions, explanations, trust monitor, rare events."""
    s, gstar, dstar = atlas.settings, atlas.validity.dft_mlip, atlas.validity.atomistic_continuum
    monitor, plast = atlas.monitor, atlas.plasticity
    lines = ["", "## Divergence atlas", ""]
    lines += ["### Validity regions", "",
              f"- **DFT -> MLIP forces** within {s.force_tolerance} eV/Å below extrapolation grade "
              f"g* = {fmt(gstar.g_star, 3)} ± {fmt(gstar.std, 2)} (bootstrap over {gstar.n_atoms} "
              f"out-of-sample atoms): {gstar.meaning}.",
              f"- **Atomistic -> continuum stress** within {100 * s.stress_tolerance:g} % of the bulk stress beyond "
              f"d* = {fmt(dstar.d_star_nm, 3)} nm from the hole surface (range {fmt(dstar.range_nm[0], 3)} "
              f"to {fmt(dstar.range_nm[1], 3)} nm with the FEM posterior std; grid resolution {atlas.grid_nm} nm): "
              f"{dstar.meaning}.", ""]
    lines += ["### Explanations (gradient-boosted trees + SHAP)", "",
              "| transition | records | CV R2 | trust | features, by mean abs SHAP |", "|---|---|---|---|---|"]
    for name, e in atlas.explanations.items():
        if e is None:
            lines.append(f"| {name} | - | - | too few records | - |")
            continue
        rank = ", ".join(f"{n} ({v:.2g})" for n, v in e.ranking[:5])
        lines.append(f"| {name} | {e.n_records} | {e.cv.r2_mean:.2f} ± {e.cv.r2_std:.2f} | {e.trust} | {rank} |")
    lines += ["", "### Trust monitor of the specimen", "",
              f"- flagged: **{monitor.flagged}** ({monitor.max_n_above} atoms above the extrapolation threshold at "
              f"worst, max grade {monitor.max_grade:.3g} over {monitor.frames} frames; under load "
              f"{monitor.atoms_above_at_load} atoms, median distance from the hole surface "
              f"{fmt(monitor.median_distance_of_flagged_atoms_nm or NAN, 3)} nm).",
              "- relaxations: " + "; ".join(f"strain {r.strain}: {r.iterations} iterations, fmax "
                                             f"{r.fmax:.2g} eV/Å{'' if r.converged else ' (NOT converged)'}"
                                             + _relaxation_checks(r) for r in monitor.relaxations), ""]
    ruined = [r for r in monitor.relaxations if r.collapsed]
    if ruined:
        lines += [f"**The specimen collapsed** at strain {ruined[0].strain} ({'; '.join(ruined[0].collapsed)}): the "
                  f"MD numbers from that relaxation on are the ruin of an unfit potential, not material behaviour.",
                  ""]
    lines += ["### Rare events: strain sweep of the specimen", ""]
    if plast.onset_strain is not None:
        w = plast.where
        atoms = w.atoms if w else None
        median = w.median_distance_from_hole_nm if w else None
        lines.append(f"- plasticity onset at strain **{plast.onset_strain}**: {atoms} non-lattice atoms in the "
                     f"whole specimen (surfaces and frame included), median {fmt(median or NAN, 3)} nm from the hole "
                     f"surface; the linear continuum has no such event of its own (its slip criterion: below).")
        onset = next(r for r in plast.sweep if r.strain == plast.onset_strain)
        if onset.n_above > 0:
            lines.append(f"- **not trusted**: at that strain {onset.n_above} atoms are beyond the potential's "
                         f"extrapolation threshold (max grade {onset.max_grade:.3g}); the event may be the "
                         f"potential's failure rather than the material's: check it with a potential trained on "
                         f"stacking-fault and large-strain configurations.")
    else:
        lines.append(f"- {plast.note}.")
    lines += rare_event_lines(plast.rare_event)
    if plast.sweep:
        lines += ["", "| strain | MD max sigma_xx (GPa) | linear FEM max (GPa) | divergence | non-lattice atoms "
                  "(interior) | atoms above grade threshold |", "|---|---|---|---|---|---|"]
        for r in plast.sweep:
            lines.append(f"| {r.strain} | {r.md_max_stress_xx:.3f} | {r.fem_max_stress_xx:.3f} | "
                         f"{100 * r.relative_max:.1f} % | {r.non_lattice_interior} | {r.n_above} |")
    if plast.untrusted_points:
        lines.append(f"\nSweep points outside the potential's trusted region: {plast.untrusted_points} "
                     f"(their MD numbers are extrapolations).")
    lines += ["", FIGURE_NOTE, ""]
    return lines
