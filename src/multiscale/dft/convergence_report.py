"""Rendering of the DFT convergence study: the Markdown table and the figure.

What is rendered is computed in :mod:`multiscale.dft.convergence` (:class:`ConvergenceStudy`).
"""

from __future__ import annotations

import math
from pathlib import Path

from multiscale.dft.calculator import smearing_label
from multiscale.dft.convergence import CELL_PARAMS, CONSTANTS, ELASTIC_PARAMS, ConvergenceStudy
from multiscale.fileio import write_text_atomic
from multiscale.formatting import fmt
from multiscale.plotting import pyplot, save


def write_markdown(study: ConvergenceStudy, path: str | Path, figure_name: str) -> None:
    """The study as a Markdown report (tables of every scan, verdicts, converged constants) at ``path``."""
    ctab, etab, remaining, eos = study.cells, study.elastic, study.remaining, study.eos
    tol, configured, reference, verdict = study.tolerances, study.configured, study.reference, study.verdict
    train, converged_std = study.training, study.converged_std
    ok = {True: "yes", False: "**NO**"}
    lines = ["# DFT convergence study", "",
             f"Configured (training) settings: {configured['xc']}, ecut {configured['ecut']:g} eV, k-density "
             f"{configured['kpt_density']:g}/A^-1, {smearing_label(configured)}. Tolerances: energy "
             f"{tol['energy']:g} meV/atom (rattled minus bulk cell), force {tol['force']:g} eV/A, stress "
             f"{tol['stress']:g} GPa, elastic constants {100 * tol['elastic']:g}%.", "",
             "## Training settings: bulk and rattled conventional cell", "",
             "Each error is the largest difference from the tightest value of the same scan (the other parameter "
             "at its configured value).", "",
             "| scan | value | k-points | energy error (meV/atom) | absolute energy error (meV/atom) | "
             "force error (eV/A) | stress error (GPa) | within tolerances | |", "|---|---|---|---|---|---|---|---|---|"]
    for r in ctab:
        mark = "configured" if r["configured"] else ("reference (tightest)" if r["tightest"] else "")
        lines.append(f"| {r['parameter']} | {r['value']:g} | {'x'.join(map(str, r['kpts']))} | "
                     f"{fmt(r['energy_error'], 3)} | {fmt(r['energy_abs_error'], 3)} | {fmt(r['force_error'], 3)} | "
                     f"{fmt(r['stress_error'], 3)} | {ok[r['passes']] if not r['tightest'] else '-'} | {mark} |")
    lines += ["", f"Configured settings within the tolerances: {ok[verdict['cells_converged']]}.", "",
              "## Elastic constants: 1-atom primitive cell", "",
              f"Reference settings: ecut {reference['ecut']:g} eV, k-density {reference['kpt_density']:g}/A^-1, "
              f"{smearing_label(reference)}. Each scan changes one parameter; 'change' is the relative change of "
              "each constant to the next tighter value of the scan.", "",
              "| scan | value | k-points (shear cell) | C11 (GPa) | C12 (GPa) | C44 (GPa) | change C11/C12/C44 (%) | |",
              "|---|---|---|---|---|---|---|---|"]
    for r in etab:
        cs = [f"{c:.1f} ± {s:.1f}" if math.isfinite(s) else f"{c:.1f}" for c, s in zip(r["C"], r["C_std"],
                                                                                        strict=True)]
        ch = " / ".join(fmt(100 * x, 2) for x in r["change"])
        at = ", ".join(f"{k} {v:g}" for k, v in r["at"].items())
        mark = "reference" if r["reference"] else (f"reference {r['parameter']}, at {at}"
                                                   if r["at_reference_value"] and at else f"at {at}" if at else "")
        lines.append(f"| {r['parameter']} | {r['value']:g} | {'x'.join(map(str, r['kpts']))} | {' | '.join(cs)} | "
                     f"{ch} | {mark} |")
    ref = next(r for r in etab if r["reference"])
    lines += ["", f"Remaining convergence error at the reference settings (within {100 * tol['elastic']:g}%: "
              f"{ok[verdict['elastic_converged']]}):", ""]
    for k, c in zip(CONSTANTS, ref["C"], strict=True):
        lines.append(f"- {k} = {c:.1f} GPa: " + ", ".join(f"{p} {100 * v:.2f}%" for p, v in remaining[k].items()))
    lines += ["", f"Equation of state at the reference settings: a0 = {eos['a0']:.4f} ± {fmt(eos['a0_std'], 2)} "
              f"A, B = {eos['B']:.2f} ± {fmt(eos['B_std'], 2)} GPa (fit errors).", ""]
    if train:
        lines += ["## Training settings vs converged settings", "",
                  "| property | training settings (conventional cell) | converged (primitive cell) | difference |",
                  "|---|---|---|---|"]
        conv_vals = {"a0": (eos["a0"], eos["a0_std"]), "B": (eos["B"], eos["B_std"])}
        conv_vals.update({k: (c, converged_std[k]) for k, c in zip(CONSTANTS, ref["C"], strict=True)})
        for k, (c, s) in conv_vals.items():
            if k in train:
                t, ts = train[k][0], train[k][1]
                lines.append(f"| {k} | {t:.4g} ± {fmt(ts, 2)} | {c:.4g} ± {fmt(s, 2)} | "
                             f"{100 * (t - c) / abs(c):+.1f}% |")
        lines.append("")
    lines.append(f"Figure: `{figure_name}`.")
    write_text_atomic(path, "\n".join(lines) + "\n")


def plot(study: ConvergenceStudy, path: str | Path) -> None:
    """Errors of the training cells vs cutoff and k-density, and C11/C12/C44 vs each scanned setting."""
    ctab, etab, tol = study.cells, study.elastic, study.tolerances
    configured, reference = study.configured, study.reference
    fig, axes = pyplot().subplots(2, 3, figsize=(13, 7.5))
    labels = {"ecut": "plane-wave cutoff (eV)", "kpt_density": r"k-point density ($\AA^{-1}$)",
              "smearing": f"{smearing_label(reference).split()[0]} smearing width (eV)"}
    for ax, param in zip(axes[0, :2], CELL_PARAMS, strict=True):
        rows = [r for r in ctab if r["parameter"] == param and not r["tightest"]]
        x = [r["value"] for r in rows]
        for key, name in (("energy_error", "energy"), ("force_error", "force"), ("stress_error", "stress")):
            ax.semilogy(x, [max(r[key] / tol[name], 1e-4) for r in rows], "o-", label=f"{name} / {tol[name]:g}")
        ax.axhline(1.0, color="k", lw=0.8, ls="--")
        ax.axvline(configured[param], color="grey", lw=0.8, ls=":", label="configured")
        ax.set_xlabel(labels[param])
        ax.set_ylabel("error / tolerance")
        ax.set_title(f"training cells vs {param}")
        ax.legend(fontsize=8)
    axes[0, 2].axis("off")
    for ax, param in zip(axes[1], ELASTIC_PARAMS, strict=True):
        rows = [r for r in etab if r["parameter"] == param]
        x = [r["value"] for r in rows]
        ref = next(r for r in rows if r["at_reference_value"])
        for j, k in enumerate(CONSTANTS):
            ax.errorbar(x, [r["C"][j] for r in rows], yerr=[r["C_std"][j] for r in rows], marker="o", label=k,
                        capsize=2)
            ax.axhspan(ref["C"][j] * (1 - tol["elastic"]), ref["C"][j] * (1 + tol["elastic"]), alpha=0.12,
                       color=f"C{j}")
        ax.axvline(reference[param], color="grey", lw=0.8, ls=":", label="reference")
        ax.set_xlabel(labels[param])
        ax.set_ylabel("elastic constant (GPa)")
        at = ", ".join(f"{k} {v:g}" for k, v in ref["at"].items())
        ax.set_title(f"primitive cell vs {param}" + (f" (at {at})" if at else "")
                     + f"\n(bands: ±{100 * tol['elastic']:g}%)", fontsize=9)
        ax.legend(fontsize=8)
    save(fig, path, dpi=120)

