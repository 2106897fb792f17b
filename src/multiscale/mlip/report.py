"""Rendering of the MLIP validation: parity, error-histogram and calibration figures, and Markdown tables.

Computing lives in :mod:`multiscale.mlip.validation`; this module only draws and writes what it computed.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from multiscale.artifacts import read_artifact
from multiscale.formatting import fmt
from multiscale.plotting import pyplot, save


@dataclass
class ValidationFigures:
    """What the validation figures show: per-configuration split and group, the primary model's predictions
    (:func:`multiscale.mlip.stage.predict_all`), the calibration curve (nominal ``levels``, ``observed``
    coverage), per-atom extrapolation grades and their threshold, and the baseline's predictions."""

    n_atoms: np.ndarray
    split: np.ndarray
    groups: np.ndarray
    predictions: dict[str, np.ndarray]
    levels: np.ndarray
    observed: np.ndarray
    grade: np.ndarray
    threshold: float
    model: str
    baseline: dict[str, np.ndarray] | None = None
    baseline_name: str | None = None


def plot_validation(v: ValidationFigures, fig_dir: Path) -> None:
    """``parity.png``, ``force_error_histogram.png`` and ``calibration.png`` in ``fig_dir`` (written atomically)."""
    plt = pyplot()
    fig_dir.mkdir(parents=True, exist_ok=True)
    p, split, groups, n_atoms = v.predictions, v.split, v.groups, v.n_atoms
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
        lo, hi = float(np.nanmin([x, y])), float(np.nanmax([x, y]))  # NaN: a configuration without that label
        ax.plot([lo, hi], [lo, hi], "k--", lw=0.8)
        ax.set_xlabel(f"DFT {label}")
        ax.set_ylabel(f"SNAP ({v.model}) {label}")
    axes[0].legend(fontsize=6, ncol=2)
    fig.suptitle("MLIP vs DFT parity (marker: split)")
    save(fig, fig_dir / "parity.png", dpi=120)

    fig, ax = plt.subplots(figsize=(6.5, 4.5))
    err = np.linalg.norm(p["forces_pred"] - p["forces_dft"], axis=1)
    bins = np.linspace(0, max(float(err.max()), 1e-6), 25)
    for grp in sorted(set(groups)):
        ax.hist(err[atom_groups == grp], bins=bins, alpha=0.6, label=grp)
    if v.baseline:
        ax.hist(np.linalg.norm(v.baseline["forces_pred"] - v.baseline["forces_dft"], axis=1), bins=bins,
                histtype="step", color="k", label=f"baseline {v.baseline_name}")
    ax.set_xlabel("|F_pred - F_DFT| per atom (eV/Å)")
    ax.set_ylabel("atoms")
    ax.set_title("Force error per group (all splits)")
    ax.legend(fontsize=8)
    save(fig, fig_dir / "force_error_histogram.png", dpi=120)

    fig, axes = plt.subplots(1, 2, figsize=(11, 4.5))
    axes[0].plot([0, 1], [0, 1], "k--", lw=0.8, label="ideal")
    axes[0].plot(v.levels, v.observed, "o-",
                 label="Bayesian sigma, test forces\n(configurations with non-zero forces)")
    axes[0].set_xlabel("expected coverage (Gaussian interval)")
    axes[0].set_ylabel("observed coverage")
    axes[0].set_title("Calibration curve")
    axes[0].legend()
    for sp in ("train", "calibration", "test"):
        m = atom_split == sp
        if m.any():
            axes[1].hist(v.grade[m], bins=30, alpha=0.6, label=sp)
    axes[1].axvline(v.threshold, color="r", ls="--", label="threshold")
    axes[1].set_xlabel("extrapolation grade (1 = edge of training data)")
    axes[1].set_ylabel("atoms")
    axes[1].set_title("Extrapolation grade per atom")
    axes[1].legend()
    save(fig, fig_dir / "calibration.png", dpi=120)



def markdown(path: str) -> str:
    """The validation report as Markdown tables (for summary.md)."""
    art = read_artifact(path, "mlip_validation")
    r = art.json_attr("report")

    def f(x, nd=3):
        return fmt(x, nd)

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
            pot = r["baseline"]["potential"]
            row(f"baseline {pot.get('name') or pot.get('file')}", s, r["baseline"]["metrics"].get(s))
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
