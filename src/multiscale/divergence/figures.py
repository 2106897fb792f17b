"""Figures of the divergence atlas (PNG): every axis labelled with units, every map with a colour bar."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from multiscale.divergence.atlas import Atlas
from multiscale.divergence.transitions import DivergenceRecord
from multiscale.plotting import pyplot, save
from multiscale.records import DistanceThreshold, Explanation, PlasticityRecord

FIGURES = ("stress_maps", "divergence_vs_distance", "shap_continuum", "shap_mlip", "properties_parity",
           "parity_forces", "plasticity", "trust_monitor")


def plot_atlas(atlas: Atlas, records: list[DivergenceRecord], fig_dir: Path) -> None:
    """Every atlas figure (:data:`FIGURES`, PNG) in ``fig_dir``; ``records`` feed the property parity."""
    from multiscale.divergence.atlas import CONTINUUM_LOCAL, MLIP_ATOMS

    fig_dir.mkdir(parents=True, exist_ok=True)
    m = atlas.maps
    stress_maps(m.centres, m.md_stress_xx, m.fem_stress_xx, atlas.hole_radius_nm, atlas.strain,
                fig_dir / "stress_maps.png")
    divergence_vs_distance(m.distance, m.relative, m.relative_std, atlas.settings.stress_tolerance,
                           atlas.validity.atomistic_continuum, fig_dir / "divergence_vs_distance.png")
    shap_summary(atlas.explanations[CONTINUUM_LOCAL], "Atomistic -> continuum: |FEM - MD| / |MD stress| per cell",
                 "1", fig_dir / "shap_continuum.png")
    if atlas.explanations[MLIP_ATOMS]:
        shap_summary(atlas.explanations[MLIP_ATOMS], "DFT -> MLIP: force error per atom (out-of-sample)", "eV/Å",
                     fig_dir / "shap_mlip.png")
    rows = [{"transition": r.transition, "quantity": r.quantity, "relative": r.relative,
             "relative_std": r.coarse_std / abs(r.fine) if abs(r.fine) > 0 else float("nan")}
            for r in records if r.transition.startswith(("dft->mlip", "dft converged", "experiment")) and
            "RMSE" not in r.quantity and math.isfinite(r.relative)]
    property_parity(rows, fig_dir / "properties_parity.png")
    force_parity(m.force_dft, m.force_pred, m.force_std, m.atom_split, fig_dir / "parity_forces.png")
    plasticity(atlas.plasticity, fig_dir / "plasticity.png")
    monitor({"max_grade": m.monitor_max_grade, "n_above": m.monitor_n_above}, atlas.threshold,
            fig_dir / "trust_monitor.png")


def _grid(values: np.ndarray) -> np.ndarray:
    n = int(round(np.sqrt(len(values))))
    return values.reshape(n, n)


def stress_maps(centres: np.ndarray, md: np.ndarray, fem: np.ndarray, radius: float, strain: float,
                path: Path) -> None:
    """MD, FEM and FEM - MD sigma_xx (load-induced) on the shared grid."""
    from matplotlib.patches import Circle

    plt = pyplot()
    half = float(np.max(np.abs(centres))) + 0.5 * float(np.diff(np.unique(centres[:, 0]))[0])
    ext = [-half, half, -half, half]
    vmin = float(np.nanmin([np.nanmin(md), np.nanmin(fem)]))
    vmax = float(np.nanmax([np.nanmax(md), np.nanmax(fem)]))
    diff = fem - md
    dmax = float(np.nanmax(np.abs(diff))) or 1.0
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.6))
    panels = [(md, "MD (LAMMPS, fitted SNAP)", "viridis", vmin, vmax),
              (fem, "continuum (dolfinx FEM)", "viridis", vmin, vmax),
              (diff, "FEM - MD", "RdBu_r", -dmax, dmax)]
    for ax, (v, title, cmap, lo, hi) in zip(axes, panels, strict=True):
        im = ax.imshow(_grid(v), origin="lower", extent=ext, cmap=cmap, vmin=lo, vmax=hi)
        ax.add_patch(Circle((0, 0), radius, fill=False, color="k", lw=1.2))
        ax.set_xlabel("x (nm)")
        ax.set_ylabel("y (nm)")
        ax.set_title(f"{title}: $\\sigma_{{xx}}$")
        fig.colorbar(im, ax=ax, label="$\\sigma_{xx}$ (GPa)" if cmap != "RdBu_r" else "$\\Delta\\sigma_{xx}$ (GPa)")
    fig.suptitle(f"Load-induced stress at uniaxial strain {strain:g} (kernel-averaged on the shared grid)")
    save(fig, path)


def divergence_vs_distance(distance: np.ndarray, rel: np.ndarray, rel_std: np.ndarray, tol: float,
                           dstar: DistanceThreshold, path: Path) -> None:
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 4.4))
    ax.errorbar(distance, 100 * rel, yerr=100 * rel_std, fmt="o", ms=3, alpha=0.6, lw=0.8,
                label="grid cells (error bar: FEM posterior std)")
    ax.axhline(100 * tol, color="r", ls="--", label=f"tolerance {100 * tol:g} %")
    d = dstar.d_star_nm
    if np.isfinite(d):
        lo, hi = dstar.range_nm
        ax.axvline(d, color="k", label=f"d* = {d:.2f} nm")
        if np.isfinite(lo) and np.isfinite(hi):
            ax.axvspan(min(lo, hi), max(lo, hi), color="k", alpha=0.12, label="d* range")
    ax.set_xlabel("distance from the hole surface (nm)")
    ax.set_ylabel("|FEM - MD stress| / |bulk stress| (%)")
    ax.set_title("Atomistic -> continuum divergence vs distance")
    ax.legend(fontsize=8)
    save(fig, path)


def shap_summary(explanation: Explanation, title: str, unit: str, path: Path) -> None:
    plt = pyplot()
    names = [r[0] for r in explanation.ranking][::-1]
    vals = [r[1] for r in explanation.ranking][::-1]
    fig, ax = plt.subplots(figsize=(6.4, 0.45 * len(names) + 1.6))
    ax.barh(names, vals, color="tab:blue")
    cv = explanation.cv
    ax.set_xlabel(f"mean |SHAP value| ({unit})")
    ax.set_title(f"{title}\nGBT discrepancy model, {cv.folds}-fold CV R$^2$ = {cv.r2_mean:.2f} "
                 f"± {cv.r2_std:.2f}", fontsize=10)
    save(fig, path)


def property_parity(rows: list[dict[str, Any]], path: Path) -> None:
    """Relative difference of each coarse value from its reference, with uncertainty bars."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7.5, 0.4 * len(rows) + 1.8))
    labels = [f"{r['transition']}: {r['quantity']}" for r in rows][::-1]
    vals = [100 * r["relative"] for r in rows][::-1]
    errs = [100 * r["relative_std"] if np.isfinite(r["relative_std"]) else 0.0 for r in rows][::-1]
    colours = ["tab:orange" if "experiment" in lab else "tab:green" if lab.startswith("dft converged") else "tab:blue"
               for lab in labels]
    ax.barh(labels, vals, xerr=errs, color=colours)
    ax.axvline(0, color="k", lw=0.8)
    ax.set_xlabel("(coarse - reference) / |reference| (%)")
    ax.set_title("Properties: MLIP vs DFT (blue), DFT training vs converged settings (green),\n"
                 "simulation vs experiment (orange)", fontsize=9)
    ax.tick_params(axis="y", labelsize=7)
    save(fig, path)


def force_parity(dft: np.ndarray, pred: np.ndarray, std: np.ndarray, split: np.ndarray, path: Path) -> None:
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(5.2, 5))
    for s, c in (("train", "tab:gray"), ("calibration", "tab:green"), ("test", "tab:red")):
        m = split == s
        if m.any():
            ax.errorbar(dft[m].ravel(), pred[m].ravel(), yerr=std[m].ravel(), fmt="o", ms=2.5, lw=0.5, color=c,
                        alpha=0.6, label=s)
    lim = float(np.max(np.abs(dft))) * 1.1 or 1.0
    ax.plot([-lim, lim], [-lim, lim], "k--", lw=0.8)
    ax.set_xlabel("DFT force component (eV/Å)")
    ax.set_ylabel("MLIP force component (eV/Å)")
    ax.set_title("DFT -> MLIP force parity (bar: predictive std)")
    ax.legend(fontsize=8)
    save(fig, path)


def plasticity(record: PlasticityRecord, path: Path) -> None:
    plt = pyplot()
    rows = record.sweep
    fig, ax = plt.subplots(figsize=(6.4, 4.4))
    if rows:
        e = [r.strain for r in rows]
        ax.plot(e, [r.md_max_stress_xx for r in rows], "o-", label="MD, max $\\sigma_{xx}$")
        ax.plot(e, [r.fem_max_stress_xx for r in rows], "s--", label="linear FEM, max $\\sigma_{xx}$")
        ax.plot(e, [r.md_far_stress_xx for r in rows], "o-", label="MD, far-field $\\sigma_{xx}$")
        ax.plot(e, [r.fem_far_stress_xx for r in rows], "s--", label="linear FEM, far-field $\\sigma_{xx}$")
        ax2 = ax.twinx()
        ax2.bar(e, [r.non_lattice_interior for r in rows], width=0.004, alpha=0.3, color="tab:red")
        ax2.set_ylabel("non-lattice atoms away from surfaces", color="tab:red")
        if record.onset_strain is not None:
            ax.axvline(record.onset_strain, color="tab:red", ls=":", label="plasticity onset")
    ax.set_xlabel("applied uniaxial strain")
    ax.set_ylabel("stress (GPa)")
    ax.set_title("Strain sweep: MD vs linear continuum")
    ax.legend(fontsize=8, loc="upper left")
    save(fig, path)


def monitor(frames: dict[str, np.ndarray], threshold: float, path: Path) -> None:
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    k = np.arange(len(frames["max_grade"]))
    ax.semilogy(k, frames["max_grade"], "o-", ms=3, label="max extrapolation grade")
    ax.axhline(threshold, color="r", ls="--", label=f"threshold {threshold:g}")
    ax.set_xlabel("monitored frame (relaxation segments, in loading order)")
    ax.set_ylabel("extrapolation grade (1 = training edge)")
    ax2 = ax.twinx()
    ax2.plot(k, frames["n_above"], "s:", color="tab:gray", ms=3)
    ax2.set_ylabel("atoms above threshold", color="tab:gray")
    ax.set_title("Trust monitor of the specimen relaxations")
    ax.legend(fontsize=8)
    save(fig, path)


def environments_map(env, path: Path, max_points: int = 30000) -> None:
    """The atomic environments in their 2-D embedding (first two principal components of the standardised
    bispectrum), coloured by cluster, by extrapolation grade (log scale) and, where DFT exists, by the MLIP
    force error. ``env``: :class:`multiscale.divergence.environments.Environments`."""
    from matplotlib.colors import LogNorm

    plt = pyplot()
    d = env.data
    rng = np.random.default_rng(0)
    n = len(d["cluster"])
    show = np.sort(rng.permutation(n)[:max_points]) if n > max_points else np.arange(n)
    xy, lab = d["embedding"][show], d["cluster"][show]
    fig, ax = plt.subplots(1, 3, figsize=(16, 5))
    cmap = plt.get_cmap("tab10" if lab.max() < 10 else "tab20")
    for c in np.unique(lab):
        m = lab == c
        ax[0].scatter(xy[m, 0], xy[m, 1], s=4, color=cmap(int(c) % cmap.N), label=f"cluster {c}")
    ax[0].legend(markerscale=3, fontsize=7, loc="best")
    ax[0].set_title(f"KMeans clusters (k = {env.clustering.k}, best mean silhouette)")
    g = np.clip(d["grade"][show], 1e-3, None)
    sc = ax[1].scatter(xy[:, 0], xy[:, 1], s=4, c=g, cmap="viridis",
                       norm=LogNorm(vmin=g.min(), vmax=max(g.max(), 1.01 * g.min())))
    fig.colorbar(sc, ax=ax[1], label="extrapolation grade (1)")
    ax[1].set_title(f"extrapolation grade (threshold {env.threshold:g})")
    err = d["force_error"][show]
    has = np.isfinite(err)
    ax[2].scatter(xy[~has, 0], xy[~has, 1], s=2, color="0.85", label="no DFT")
    sc = ax[2].scatter(xy[has, 0], xy[has, 1], s=8, c=err[has], cmap="magma_r")
    fig.colorbar(sc, ax=ax[2], label="|F_MLIP - F_DFT| (eV/Å)")
    ax[2].set_title("MLIP force error where DFT exists")
    ax[2].legend(markerscale=3, fontsize=7, loc="best")
    for a in ax:
        a.set_xlabel("principal component 1 (standardised bispectrum)")
        a.set_ylabel("principal component 2")
    save(fig, path)
