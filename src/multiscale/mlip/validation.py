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

import glob
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
from scipy import stats

from multiscale.artifacts import Artifact, read_artifact, write_artifact
from multiscale.atomsio import images_from_arrays, split_atoms
from multiscale.errors import ArtifactError
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


class Grader:
    """Extrapolation grade of per-atom descriptors relative to the training atoms (Mahalanobis distance)."""

    def __init__(self, train_atoms: np.ndarray):
        x = train_atoms[:, 1:]  # drop the constant column
        self.mean = x.mean(axis=0)
        self.scale = x.std(axis=0) + 1e-12
        z = (x - self.mean) / self.scale
        cov = np.cov(z, rowvar=False) if len(z) > 1 else np.eye(z.shape[1])
        cov = np.atleast_2d(cov) + 1e-6 * np.eye(z.shape[1])  # ridge: directions the data never explored
        self.inv = np.linalg.inv(cov)
        self.edge = max(float(self._distance(train_atoms).max()), 1e-12)

    @classmethod
    def from_arrays(cls, mean: np.ndarray, scale: np.ndarray, inv: np.ndarray, edge: float) -> Grader:
        g = cls.__new__(cls)
        g.mean, g.scale, g.inv, g.edge = mean, scale, inv, float(edge)
        return g

    def _distance(self, atoms: np.ndarray) -> np.ndarray:
        z = (atoms[:, 1:] - self.mean) / self.scale
        return np.sqrt(np.einsum("ij,jk,ik->i", z, self.inv, z).clip(0))

    def grade(self, atoms: np.ndarray) -> np.ndarray:
        return self._distance(atoms) / self.edge


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
    intervals use only configurations with non-zero DFT forces (see ``force_informative``)."""
    ferr, fstd = _force_arrays(p)
    eerr = p["energy_pred"] - p["energy_dft"]
    estd = p["energy_std"]
    informative = force_informative(p, n_atoms)
    cal_atoms = np.repeat(cal_cfg & informative, n_atoms)
    qf = conformal_quantile((np.abs(ferr) / fstd)[cal_atoms].ravel(), coverage)
    qe = conformal_quantile((np.abs(eerr) / estd)[cal_cfg], coverage)
    out: dict[str, Any] = {"nominal": coverage, "force_multiplier": qf, "energy_multiplier": qe,
                           "n_calibration_force_components": int(cal_atoms.sum() * 3),
                           "n_calibration_energies": int(cal_cfg.sum())}
    for name, mask in eval_masks.items():
        atoms = np.repeat(mask & informative, n_atoms)
        out[name] = {"force_coverage": coverage_of(ferr[atoms].ravel(), fstd[atoms].ravel(), qf),
                     "n_force_components": int(atoms.sum() * 3),
                     "energy_coverage": coverage_of(eerr[mask], estd[mask], qe), "n_energies": int(mask.sum())}
    return out


def calibration_curve(err: np.ndarray, sigma: np.ndarray) -> np.ndarray:
    z = stats.norm.ppf(0.5 + LEVELS / 2)
    return np.array([np.mean(np.abs(err) <= zi * sigma) for zi in z]) if len(err) else np.full(len(LEVELS), np.nan)


def _lammps_potential_path(name: str) -> str:
    if Path(name).is_absolute():
        return name
    hits = glob.glob(str(Path(__import__("lammps").__file__).parent / "share/lammps/potentials" / name))
    if not hits:
        raise FileNotFoundError(f"baseline potential '{name}' not found among LAMMPS' shipped potentials; "
                                f"give an absolute path in mlip.baseline.file")
    return hits[0]


def baseline_predictions(ds: Artifact, baseline: dict[str, str], split: np.ndarray) -> dict[str, np.ndarray]:
    """Energies/forces/stresses of every configuration with a classical LAMMPS potential."""
    from multiscale.md.properties import Potential, _setup, _stress

    element = images_from_arrays({k: ds[k] for k in ("n_atoms", "numbers", "positions", "cell", "pbc")},
                                 labels=False)[0].get_chemical_symbols()[0]
    pot = Potential(baseline["pair_style"], f"* * {_lammps_potential_path(baseline['file'])} {element}",
                    baseline.get("name", baseline["file"]))
    energies, forces, stresses = [], [], []
    for atoms in images_from_arrays(ds.data, labels=False):
        lmp, rot = _setup(atoms, pot)
        try:
            lmp.command("run 0")
            energies.append(lmp.get_thermo("pe") / len(atoms))
            ids = np.array(lmp.numpy.extract_atom("id"))[: len(atoms)]
            forces.append(np.array(lmp.numpy.extract_atom("f"))[: len(atoms)][np.argsort(ids)] @ rot.T)
            stresses.append(_stress(lmp, rot))
        finally:
            lmp.close()
    e = np.array(energies)
    e_dft = ds["energy"] / ds["n_atoms"]
    e -= np.mean(e[split == "train"] - e_dft[split == "train"])  # align the energy zeros on training data
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
                                              settings.coverage)
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
                                                     n_atoms, settings.coverage)["held_out"]}
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
    grader = Grader(atom_desc[np.repeat(split == "train", n_atoms)])
    grade = grader.grade(atom_desc)
    report["extrapolation"] = {
        "threshold": settings.extrapolation_threshold,
        "atoms_above_threshold": {
            s: int((grade[np.repeat(split == s, n_atoms)] > settings.extrapolation_threshold).sum())
            for s in ("train", "calibration", "test")},
        "max_grade": {s: float(grade[np.repeat(split == s, n_atoms)].max()) if (split == s).any() else float("nan")
                      for s in ("train", "calibration", "test")},
    }
    if settings.baseline:
        b = baseline_predictions(ds, settings.baseline, split)
        report["baseline"] = {"potential": settings.baseline, "metrics": split_metrics(split, groups, n_atoms, b)}
    write_artifact(out, "mlip_validation", {
        "split": split, "groups": groups, "force_error": err_norm, "force_std": std_norm, "grade": grade,
        "levels": LEVELS, "observed": observed}, {"report": report, "settings": mlip},
        inputs=[dataset, *descriptor_paths.values(), *potential_paths.values()], config=mlip)
    plot_validation(ds, split, groups, p, observed, grade, settings, Path(fig_dir), name,
                    report.get("baseline") and b)


def plot_validation(ds, split, groups, p, observed, grade, settings, fig_dir: Path, model: str, baseline) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig_dir.mkdir(parents=True, exist_ok=True)
    n_atoms = ds["n_atoms"]
    atom_groups = np.repeat(groups, n_atoms)
    atom_split = np.repeat(split, n_atoms)
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.6))
    panels = [("energy per atom (eV)", p["energy_dft"], p["energy_pred"], groups, split),
              ("force component (eV/Å)", p["forces_dft"].ravel(), p["forces_pred"].ravel(),
               np.repeat(atom_groups, 3), np.repeat(atom_split, 3)),
              ("stress component (GPa)", p["stress_dft"].ravel(), p["stress_pred"].ravel(), np.repeat(groups, 6),
               np.repeat(split, 6))]
    for ax, (label, x, y, g, s) in zip(axes, panels, strict=True):
        for grp in sorted(set(groups)):
            for sp, marker in (("train", "o"), ("calibration", "s"), ("test", "^")):
                m = (g == grp) & (s == sp)
                if m.any():
                    ax.scatter(x[m], y[m], s=14, marker=marker, alpha=0.7, label=f"{grp} ({sp})")
        lo, hi = float(min(x.min(), y.min())), float(max(x.max(), y.max()))
        ax.plot([lo, hi], [lo, hi], "k--", lw=0.8)
        ax.set_xlabel(f"DFT {label}")
        ax.set_ylabel(f"SNAP ({model}) {label}")
    axes[0].legend(fontsize=6, ncol=2)
    fig.suptitle("MLIP vs DFT parity (marker: split)")
    fig.tight_layout()
    fig.savefig(fig_dir / "parity.png", dpi=120)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(6.5, 4.5))
    err = np.linalg.norm(p["forces_pred"] - p["forces_dft"], axis=1)
    bins = np.linspace(0, max(float(err.max()), 1e-6), 25)
    for grp in sorted(set(groups)):
        ax.hist(err[atom_groups == grp], bins=bins, alpha=0.6, label=grp)
    if baseline:
        ax.hist(np.linalg.norm(baseline["forces_pred"] - baseline["forces_dft"], axis=1), bins=bins, histtype="step",
                color="k", label=f"baseline {settings.baseline.get('file')}")
    ax.set_xlabel("|F_pred - F_DFT| per atom (eV/Å)")
    ax.set_ylabel("atoms")
    ax.set_title("Force error per group (all splits)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(fig_dir / "force_error_histogram.png", dpi=120)
    plt.close(fig)

    fig, axes = plt.subplots(1, 2, figsize=(11, 4.5))
    axes[0].plot([0, 1], [0, 1], "k--", lw=0.8, label="ideal")
    axes[0].plot(LEVELS, observed, "o-",
                 label="Bayesian sigma, test forces\n(configurations with non-zero forces)")
    axes[0].set_xlabel("expected coverage (Gaussian interval)")
    axes[0].set_ylabel("observed coverage")
    axes[0].set_title("Calibration curve")
    axes[0].legend()
    for sp in ("train", "calibration", "test"):
        m = atom_split == sp
        if m.any():
            axes[1].hist(grade[m], bins=30, alpha=0.6, label=sp)
    axes[1].axvline(settings.extrapolation_threshold, color="r", ls="--", label="threshold")
    axes[1].set_xlabel("extrapolation grade (1 = edge of training data)")
    axes[1].set_ylabel("atoms")
    axes[1].set_title("Extrapolation grade per atom")
    axes[1].legend()
    fig.tight_layout()
    fig.savefig(fig_dir / "calibration.png", dpi=120)
    plt.close(fig)


def markdown(path: str) -> str:
    """The validation report as Markdown tables (for summary.md)."""
    art = read_artifact(path, "mlip_validation")
    r = art.json_attr("report")

    def f(x, nd=3):
        return "-" if x is None or (isinstance(x, float) and not math.isfinite(x)) else f"{x:.{nd}g}"

    def cov(x, n):
        if n == 0:
            return "no force data"
        return f"{x:.3g} (n={n})" if math.isfinite(x) else f"not calibratable (n={n})"

    lines = ["| model | split/group | configs | energy RMSE (meV/atom) | force RMSE (eV/A) | force MAE (eV/A) | "
             "stress RMSE (GPa) |", "|---|---|---|---|---|---|---|"]

    def row(model, label, m):
        if m:
            lines.append(f"| {model} | {label} | {m['n_configs']} | {f(m['energy_rmse_meV_atom'])} | "
                         f"{f(m['force_rmse_eV_A'])} | {f(m['force_mae_eV_A'])} | {f(m['stress_rmse_GPa'])} |")

    for name, e in r["models"].items():
        for s in ("train", "test"):
            row(name, s, e["metrics"].get(s))
        for g, v in e["metrics"]["by_group"].items():
            if g.startswith("test/"):
                row(name, g, v)
    if "baseline" in r:
        for s in ("train", "test"):
            row(f"baseline {r['baseline']['potential'].get('file')}", s, r["baseline"]["metrics"].get(s))
    lines += ["", "Leave one group out (fit without the group, test on it), with split-conformal coverage at "
              f"{r['models'][r['primary_model']]['conformal']['nominal']:.0%} nominal, calibrated on the other "
              "groups' calibration and test configurations ('not calibratable': too few of them, or none with "
              "forces, to promise the coverage):",
              "",
              "| model | held-out group | energy RMSE (meV/atom) | force RMSE (eV/A) | force coverage | "
              "energy coverage |",
              "|---|---|---|---|---|---|"]
    for name, e in r["models"].items():
        for g, v in e["leave_one_group_out"].items():
            m, c = v["metrics"], v["conformal"]
            lines.append(f"| {name} | {g} | {f(m.get('energy_rmse_meV_atom'))} | {f(m.get('force_rmse_eV_A'))} | "
                         f"{cov(c['force_coverage'], c['n_force_components'])} | "
                         f"{cov(c['energy_coverage'], c['n_energies'])} |")
    lines += ["", "Split-conformal calibration on the in-distribution test split:", ""]
    for name, e in r["models"].items():
        c = e["conformal"]
        t = c["test"]
        lines.append(f"- {name}: force coverage {f(t['force_coverage'])} (n={t['n_force_components']}), energy "
                     f"coverage {f(t['energy_coverage'])} (n={t['n_energies']}) at nominal {c['nominal']:.0%}; "
                     f"multipliers of sigma: forces {f(c['force_multiplier'])}, energies {f(c['energy_multiplier'])}")
    lines += [f"- Spearman correlation of predicted force sigma with actual force error (test atoms, "
              f"{r['primary_model']}): {f(r['spearman_force_std_vs_error_test'])}",
              f"- Extrapolation grade: max per split {json.dumps(r['extrapolation']['max_grade'])}; atoms above "
              f"{r['extrapolation']['threshold']}: {json.dumps(r['extrapolation']['atoms_above_threshold'])}"]
    return "\n".join(lines)
