"""Honest validation of fitted SNAP models: per group, leave-one-group-out, calibrated uncertainty, baseline.

- Errors per split (train / calibration / test, drawn within groups) and per group, for every model.
- Leave-one-group-out (LOGO): refit without a group, test on it (e.g. fit without rattled cells).
- Split-conformal intervals at ``coverage`` for force components and energies per atom: the scores
  |error| / sigma on the calibration split give the multiplier; empirical coverage is measured on the test
  split and on every held-out group (where it is allowed to fail: it is measured, not assumed).
- Calibration curve of the raw Bayesian sigma (expected vs observed Gaussian coverage) on test forces.
- Spearman correlation between predicted sigma and actual force error on test atoms.
- Extrapolation grade per atom: Mahalanobis distance of its bispectrum from the training atoms, divided by the
  largest training distance (grade <= 1 inside the training data's extent).
- Baseline: the same metrics for a classical potential shipped with LAMMPS (e.g. EAM), energies compared
  after removing the constant offset between the two energy zeros (fitted on training configurations).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
from scipy import stats

from multiscale.artifacts import Artifact, read_artifact, write_artifact
from multiscale.atomsio import images_from_arrays, split_atoms
from multiscale.dft.external import energy_labels
from multiscale.errors import ArtifactError
from multiscale.grading import Grader
from multiscale.lammps import Potential, baseline_lines, single_point
from multiscale.mlip.report import ValidationFigures, plot_validation
from multiscale.mlip.snap import SNAPSettings
from multiscale.mlip.stage import dataset_split, descriptor_list, fit_model, load_model, predict_all, split_metrics

LEVELS = np.array([0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99])


def conformal_quantile(scores: np.ndarray, coverage: float) -> float:
    """Split-conformal multiplier: the ceil((n+1) coverage)-th smallest score (inf if n is too small)."""
    scores = np.sort(np.asarray(scores, float))
    n = len(scores)
    k = math.ceil((n + 1) * coverage)
    return float(scores[k - 1]) if 0 < k <= n else float("inf")


def coverage_of(err: np.ndarray, sigma: np.ndarray, q: float) -> float:
    """Fraction of |err| within q sigma; NaN when there is nothing to cover or no finite interval (an infinite
    multiplier means the calibration set was too small to promise the coverage: that is not a coverage of 1)."""
    return float(np.mean(np.abs(err) <= q * sigma)) if len(err) and math.isfinite(q) else float("nan")


def _force_arrays(p: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    return (p["forces_pred"] - p["forces_dft"]), p["forces_std"]


def force_informative(p: dict[str, np.ndarray], n_atoms: np.ndarray, tol: float = 1e-4) -> np.ndarray:
    """Configurations whose DFT forces are not all zero by symmetry (perfect strained lattices carry no force
    information: their zero forces are reproduced exactly and would inflate any force coverage)."""
    out = []
    for sl in split_atoms({"n_atoms": n_atoms}):
        out.append(bool(np.abs(p["forces_dft"][sl]).max() > tol))
    return np.array(out)


def conformal_report(p: dict[str, np.ndarray], cal_cfg: np.ndarray, eval_masks: dict[str, np.ndarray],
                     n_atoms: np.ndarray, coverage: float) -> dict[str, Any]:
    """Calibrate on ``cal_cfg`` configurations; coverage on each evaluation mask (configurations). Force
    intervals use only configurations with non-zero DFT forces (see ``force_informative``), energy intervals only
    configurations with an energy label."""
    ferr, fstd = _force_arrays(p)
    eerr = p["energy_pred"] - p["energy_dft"]
    estd = p["energy_std"]
    informative = force_informative(p, n_atoms)
    labelled = np.isfinite(eerr)
    cal_atoms = np.repeat(cal_cfg & informative, n_atoms)
    qf = conformal_quantile((np.abs(ferr) / fstd)[cal_atoms].ravel(), coverage)
    qe = conformal_quantile((np.abs(eerr) / estd)[cal_cfg & labelled], coverage)
    out: dict[str, Any] = {"nominal": coverage, "force_multiplier": qf, "energy_multiplier": qe,
                           "n_calibration_force_components": int(cal_atoms.sum() * 3),
                           "n_calibration_energies": int((cal_cfg & labelled).sum())}
    for name, mask in eval_masks.items():
        atoms = np.repeat(mask & informative, n_atoms)
        emask = mask & labelled
        out[name] = {"force_coverage": coverage_of(ferr[atoms].ravel(), fstd[atoms].ravel(), qf),
                     "n_force_components": int(atoms.sum() * 3),
                     "energy_coverage": coverage_of(eerr[emask], estd[emask], qe), "n_energies": int(emask.sum())}
    return out


def calibration_curve(err: np.ndarray, sigma: np.ndarray) -> np.ndarray:
    z = stats.norm.ppf(0.5 + LEVELS / 2)
    return np.array([np.mean(np.abs(err) <= zi * sigma) for zi in z]) if len(err) else np.full(len(LEVELS), np.nan)


def baseline_predictions(ds: Artifact, potential: Potential, split: np.ndarray) -> dict[str, np.ndarray]:
    """Energies, forces and stresses of every configuration of the dataset ``ds`` with a classical LAMMPS
    ``potential`` (the ``mlip.baseline``, see :meth:`ValidationSettings.baseline_potential`), beside the DFT labels.

    Returns ``energy_dft``/``energy_pred`` (n_configs,) in eV/atom (``energy_dft`` NaN where the energy is no
    label, :func:`multiscale.dft.external.energy_labels`), the predicted energies shifted by their mean
    offset from DFT on the ``split == "train"`` configurations (the two energy zeros differ);
    ``forces_dft``/``forces_pred`` (n_atoms_total, 3) in eV/Angstrom; ``stress_dft``/``stress_pred``
    (n_configs, 6) in GPa, Voigt, positive tensile. Raises :class:`CalculationError` when LAMMPS fails."""
    images = images_from_arrays(ds.data, labels=False)
    points = [single_point(atoms, potential) for atoms in images]
    e = np.array([p.energy / len(atoms) for p, atoms in zip(points, images, strict=True)])
    forces = [p.forces for p in points]
    stresses = [p.stress for p in points]
    e_dft = energy_labels(ds) / ds["n_atoms"]
    e -= np.nanmean(e[split == "train"] - e_dft[split == "train"])  # align the energy zeros on training data
    return {"energy_dft": e_dft, "energy_pred": e, "forces_dft": ds["forces"], "forces_pred": np.concatenate(forces),
            "stress_dft": ds["stress"], "stress_pred": np.array(stresses)}


def validate(dataset: str, descriptor_paths: dict[str, str], potential_paths: dict[str, str], mlip: dict[str, Any],
             out: str, fig_dir: str) -> None:
    """Validate the fitted potentials (read, not refitted); only the leave-one-group-out models are new fits."""
    ds = read_artifact(dataset, "dft_dataset")
    settings = SNAPSettings.from_dict(mlip)
    split = dataset_split(ds, settings)
    groups = np.array(ds["groups"], dtype=object)
    n_atoms = ds["n_atoms"]
    report: dict[str, Any] = {"models": {}, "splits": {s: int((split == s).sum()) for s in set(split)}}
    primary = None
    for model_name, path in descriptor_paths.items():
        desc = descriptor_list(read_artifact(path, "descriptors"))
        st = settings.for_model(model_name)
        model, _ = load_model(potential_paths[model_name])
        if list(read_artifact(potential_paths[model_name], "potential")["split"]) != list(split):
            raise ArtifactError(f"{potential_paths[model_name]} was fitted on another split than {dataset} with "
                                f"these mlip settings; rerun mlip_fit")
        p = predict_all(model, desc, ds)
        entry: dict[str, Any] = {"metrics": split_metrics(split, groups, n_atoms, p), "n_coefficients":
                                 int(len(model.coef_))}
        entry["conformal"] = conformal_report(p, split == "calibration", {"test": split == "test"}, n_atoms,
                                              settings.validation.coverage)
        # leave one group out: fit on the other groups' training part, calibrate on the rest of them
        logo = {}
        for g in sorted(set(groups)):
            others = groups != g
            if (groups == g).sum() == 0 or not (others & (split == "train")).any():
                continue
            m = fit_model(desc, ds, st, others & (split != "test") & (split != "calibration"))
            q = predict_all(m, desc, ds)
            logo[g] = {"metrics": split_metrics(np.where(groups == g, "test", "train").astype(object), groups,
                                                n_atoms, q)["test"],
                       "conformal": conformal_report(q, others & (split != "train"), {"held_out": groups == g},
                                                     n_atoms, settings.validation.coverage)["held_out"]}
        entry["leave_one_group_out"] = logo
        report["models"][model_name] = entry
        if primary is None:
            primary = (model_name, model, desc, p)
    # uncertainty diagnostics for the model used downstream (the first listed)
    name, model, desc, p = primary
    ferr, fstd = _force_arrays(p)
    test_atoms = np.repeat((split == "test") & force_informative(p, n_atoms), n_atoms)
    err_norm, std_norm = np.linalg.norm(ferr, axis=1), np.linalg.norm(fstd, axis=1)
    rho = (stats.spearmanr(std_norm[test_atoms], err_norm[test_atoms]).statistic if test_atoms.sum() > 2
           else np.nan)
    report["primary_model"] = name
    report["spearman_force_std_vs_error_test"] = float(rho)
    observed = calibration_curve(ferr[test_atoms].ravel(), fstd[test_atoms].ravel())
    atom_desc = np.concatenate([d["atom"] for d in desc])
    grade = Grader().fit(atom_desc[np.repeat(split == "train", n_atoms)]).grade(atom_desc)
    threshold = settings.validation.extrapolation_threshold
    report["extrapolation"] = {
        "threshold": threshold,
        "atoms_above_threshold": {
            s: int((grade[np.repeat(split == s, n_atoms)] > threshold).sum())
            for s in ("train", "calibration", "test")},
        "max_grade": {s: float(grade[np.repeat(split == s, n_atoms)].max()) if (split == s).any() else float("nan")
                      for s in ("train", "calibration", "test")},
    }
    element = images_from_arrays(ds.data, labels=False)[0].get_chemical_symbols()[0]
    baseline = settings.validation.baseline_potential(element)
    b = baseline_predictions(ds, baseline, split) if baseline else None
    if baseline:
        lines = baseline_lines(settings.validation.baseline, element)
        report["baseline"] = {"potential": lines.to_dict(), "metrics": split_metrics(split, groups, n_atoms, b)}
    write_artifact(out, "mlip_validation", {
        "split": split, "groups": groups, "force_error": err_norm, "force_std": std_norm, "grade": grade,
        "levels": LEVELS, "observed": observed}, {"report": report, "settings": mlip},
        inputs=[dataset, *descriptor_paths.values(), *potential_paths.values()], config=mlip)
    plot_validation(ValidationFigures(n_atoms=n_atoms, split=split, groups=groups, predictions=p, levels=LEVELS,
                                      observed=observed, grade=grade, threshold=threshold, model=name,
                                      baseline=b, baseline_name=baseline.name if baseline else None),
                    Path(fig_dir))

