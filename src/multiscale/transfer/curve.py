"""The transfer learning curve: test force RMSE vs DFT calls on a held-out element, learned prior vs default prior.

Reduced crystal. Each element's pool is mapped onto one reduced crystal: lengths scaled by s = 2.5 A / d_nn (its
nearest-neighbour distance at its own EOS lattice constant), energies divided by eps = B * Omega (bulk modulus
times atomic volume at equilibrium, from its own EOS points). The bispectrum of a reduced structure with a fixed
cutoff is then the same function of the crystal's geometry for every element, and the reduced labels are
E / eps, F / (eps s) and sigma / (eps s^3) (E(r) = eps E~(s r)). Scaling by the lattice and a cohesive scale is
the idea behind universal binding-energy relations (Rose, Smith, Guinea and Ferrante, Phys. Rev. B 29, 2963
(1984)); here it only has to make coefficients comparable, and the learned prior's width says how far it does.

Prior. Each source element's coefficients are fitted on its whole pool (default prior); the learned prior is the
diagonal Gaussian of their mean and spread across the sources (an empirical-Bayes hierarchical prior; the constant
per-atom term, an element's energy reference, which depends on its DFT atomic reference, gets a flat prior: else a
target's equation of state pushes its offset onto the bispectrum terms, which are nearly constant in a perfect
crystal, and spoils the forces: measured on EMT Ag, 0.19 eV/A vs 0.032 for the prior's mean), with the sources'
noise level (geometric mean of their noise precisions, reduced units). The target fit keeps both as learned
(:class:`multiscale.mlip.snap.GaussianPrior`): re-estimated from a few target labels they would let those labels
overrule everything the sources taught.

Curve. Both priors start from the target's EOS cells (its scales, and every curve's first DFT calls) and add one
candidate at a time by the same rule, the largest mean epistemic force std of the current model over the remaining
candidates; after each addition the force RMSE on the test cells (eV/A, in the element's own units) is recorded
with a bootstrap interval over the test atoms. Reported: the DFT calls each prior needs to reach the target error.
No library fits this loop (it is the experiment this project exists to make); the regression is scikit-learn's.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np

from multiscale.artifacts import read_artifact, write_artifact
from multiscale.atomsio import images_from_arrays
from multiscale.elastic import eos_properties
from multiscale.errors import ArtifactError
from multiscale.fileio import write_text_atomic
from multiscale.material import nearest_neighbour_distance
from multiscale.mlip.snap import BayesianSNAP, DescriptorSettings, GaussianPrior, SNAPSettings, descriptors
from multiscale.plotting import pyplot, save
from multiscale.transfer.pool import REFERENCE_NN
from multiscale.transfer.settings import PRIOR_LABELS, PRIORS, TransferSettings, material_of
from multiscale.units import EV_PER_A3_TO_GPA


@dataclass
class ReducedPool:
    """One element's pool on the reduced crystal: descriptors and reduced labels per configuration, its groups,
    and its scales (``a0`` A, ``B`` GPa from its EOS cells; ``length`` s; ``energy`` eps in eV)."""

    element: str
    names: list[str]
    groups: np.ndarray
    n_atoms: np.ndarray
    desc: list[dict[str, np.ndarray]]
    energy: np.ndarray
    forces: list[np.ndarray]
    stress: np.ndarray
    forces_ev: list[np.ndarray]
    a0: float
    bulk_modulus: float
    length: float
    energy_scale: float

    def take(self, idx) -> tuple[list, np.ndarray, list, np.ndarray, np.ndarray]:
        """(desc, energies, forces, stresses, n_atoms) of the configurations ``idx``: the fit's arguments."""
        idx = list(idx)
        return ([self.desc[i] for i in idx], self.energy[idx], [self.forces[i] for i in idx], self.stress[idx],
                self.n_atoms[idx])


def snap_settings(settings: TransferSettings) -> SNAPSettings:
    """The SNAP of the reduced crystal: ``twojmax``, cutoff ``cutoff_nn`` x 2.5 A; the study's default weights."""
    return replace(SNAPSettings(), descriptor=DescriptorSettings(twojmax=int(settings.twojmax),
                                                                 rcutfac=settings.cutoff_nn * REFERENCE_NN))


def reduce(dataset: str, element: str, settings: TransferSettings) -> ReducedPool:
    """Read ``element``'s pool (a ``dft_dataset`` artifact) and map it onto the reduced crystal.

    Raises :class:`ArtifactError` if the pool has fewer than 4 EOS cells or other elements' atoms."""
    art = read_artifact(dataset, "dft_dataset")
    material = material_of(element)
    images = images_from_arrays(art.data)
    groups = np.array([str(g) for g in art["groups"]])
    eos = np.flatnonzero(groups == "eos")
    if len(eos) < 4 or any(set(a.get_chemical_symbols()) != {element} for a in images):
        raise ArtifactError(f"{dataset}: not a transfer pool of {element} (needs >= 4 'eos' cells of {element} "
                            f"only). Fix: rerun its transfer_pool job")
    volumes = [images[i].get_volume() / len(images[i]) for i in eos]
    energies = [art["energy"][i] / len(images[i]) for i in eos]
    fit = eos_properties(np.array(volumes), np.array(energies), material.atoms_per_cubic_cell)
    length = REFERENCE_NN / nearest_neighbour_distance(material, fit["a0"])
    eps = fit["B"] / EV_PER_A3_TO_GPA * fit["V0"]
    snap = snap_settings(settings)
    desc, forces, forces_ev = [], [], []
    for atoms in images:
        reduced = atoms.copy()
        reduced.set_cell(atoms.cell[:] * length, scale_atoms=True)
        desc.append(descriptors(reduced, snap.descriptor))
        forces_ev.append(atoms.calc.results["forces"])
        forces.append(atoms.calc.results["forces"] / (eps * length))
    return ReducedPool(element=element, names=[str(n) for n in art["names"]], groups=groups,
                       n_atoms=np.array(art["n_atoms"]), desc=desc, energy=np.asarray(art["energy"]) / eps,
                       forces=forces, stress=np.asarray(art["stress"]) / (eps * length**3), forces_ev=forces_ev,
                       a0=float(fit["a0"]), bulk_modulus=float(fit["B"]), length=float(length),
                       energy_scale=float(eps))


@dataclass
class LearnedPrior:
    """What the sources teach: the coefficient prior and the noise model of the labels (``weights``: per label
    kind, 1 / the sources' residual std relative to the force one; the prior's ``noise_precision`` is that of a
    force component), and the sources' own coefficients (n_sources, n_coeff)."""

    prior: GaussianPrior
    weights: dict[str, float]
    coefficients: np.ndarray
    residual_std: dict[str, float]


def learned_prior(sources: list[ReducedPool], settings: TransferSettings) -> LearnedPrior:
    """The hierarchical prior from the sources, each fitted on its whole pool with the default prior.

    Coefficients: mean and sample covariance across sources (rank <= n_sources - 1: the directions the elements
    differ in), plus ``prior_shrinkage`` x each coefficient's spread, squared, on the diagonal (directions the few
    sources do not span stay open); the constant term, an element's energy reference (set by its DFT atomic
    reference), is flat. Noise: each label kind's residual std of the sources' own fits (RMS over sources,
    reduced units), kept in the target's fits. Both stay as learned there (:class:`GaussianPrior`): re-estimated
    from a target's few labels they would let those labels overrule what the sources taught (measured on EMT Ag
    with the project's default weights 100/1/0.5 and the noise re-estimated: the fit on Ag's 5 EOS cells alone
    gave a test force RMSE of 0.12-0.51 eV/A, the prior's mean alone 0.032)."""
    snap = snap_settings(settings)
    fits = [BayesianSNAP(snap).fit(*pool.take(range(len(pool.names)))) for pool in sources]
    coefs = np.array([f.coef_ for f in fits])
    mean = coefs.mean(axis=0)
    spread = np.cov(coefs, rowvar=False, ddof=1)
    ridge = (settings.prior_shrinkage * np.sqrt(np.diag(spread)) + 1e-6 * np.abs(mean).max()) ** 2
    covariance = spread + np.diag(ridge)
    covariance[0, :] = covariance[:, 0] = 0.0  # the energy reference: no knowledge transfers (flat)
    covariance[0, 0] = (100.0 * max(abs(mean[0]), 1.0)) ** 2
    sq: dict[str, list[float]] = {"energy": [], "force": [], "stress": []}
    for fit, pool in zip(fits, sources, strict=True):
        for i in range(len(pool.names)):
            pred = fit.predict(pool.desc[i], int(pool.n_atoms[i]))
            sq["energy"].append((pred["energy"] - pool.energy[i] / pool.n_atoms[i]) ** 2)
            sq["force"] += list(np.ravel(pred["forces"] - pool.forces[i]) ** 2)
            sq["stress"] += list((pred["stress"] - pool.stress[i]) ** 2)
    residual = {k: float(np.sqrt(np.mean(v))) for k, v in sq.items()}
    weights = {k: residual["force"] / max(v, 1e-12) for k, v in residual.items()}
    prior = GaussianPrior(mean=mean, covariance=covariance, noise_precision=1.0 / residual["force"] ** 2)
    return LearnedPrior(prior=prior, weights=weights, coefficients=coefs, residual_std=residual)


def learned_settings(settings: TransferSettings, learned: LearnedPrior) -> SNAPSettings:
    """The target's SNAP with the sources' noise model as its row weights."""
    snap = snap_settings(settings)
    return replace(snap, fit=replace(snap.fit, weights=dict(learned.weights)))


def force_rmse(model: BayesianSNAP, pool: ReducedPool, test: np.ndarray, rng: np.random.Generator,
               resamples: int) -> tuple[float, float, float]:
    """Force RMSE (eV/A) on the test configurations in the element's own units, and its 5-95 % bootstrap
    interval over the test atoms."""
    sq = []
    for i in test:
        pred = model.predict(pool.desc[i], int(pool.n_atoms[i]))["forces"] * pool.energy_scale * pool.length
        sq.append(np.sum((pred - pool.forces_ev[i]) ** 2, axis=1) / 3)
    sq = np.concatenate(sq)
    boot = [math.sqrt(np.mean(sq[rng.integers(0, len(sq), len(sq))])) for _ in range(int(resamples))]
    return math.sqrt(float(np.mean(sq))), float(np.percentile(boot, 5)), float(np.percentile(boot, 95))


def learning_curve(pool: ReducedPool, settings: TransferSettings, learned: LearnedPrior | None,
                   use_prior: bool = True) -> list[dict[str, Any]]:
    """Start from the EOS cells, add the candidate of largest mean epistemic force std until none is left;
    one row per DFT-call count: calls, RMSE with its interval, the configuration added. ``learned``: None for the
    default prior and noise model (the project's: zero mean, evidence-optimised width and noise, the study's
    default weights); else the sources' noise model, with their prior if ``use_prior``."""
    snap = snap_settings(settings) if learned is None else learned_settings(settings, learned)
    prior = learned.prior if learned is not None and use_prior else None
    labelled = list(np.flatnonzero(pool.groups == "eos"))
    remaining = list(np.flatnonzero(pool.groups == "candidate"))
    test = np.flatnonzero(pool.groups == "test")
    rng = np.random.default_rng(settings.seed)
    rows, added = [], ""
    while True:
        model = BayesianSNAP(snap).fit(*pool.take(labelled), prior=prior)
        rmse, lo, hi = force_rmse(model, pool, test, rng, settings.bootstrap)
        rows.append({"calls": len(labelled), "rmse": rmse, "rmse_lo": lo, "rmse_hi": hi, "added": added})
        if not remaining:
            return rows
        w = snap.fit.weights["force"]
        spread = [float(np.mean(model.predict_rows(pool.desc[i]["forces"], w)[1])) for i in remaining]
        pick = remaining.pop(int(np.argmax(spread)))
        labelled.append(pick)
        added = pool.names[pick]


def calls_to_reach(rows: list[dict[str, Any]], target: float) -> int | None:
    """The fewest DFT calls after which the RMSE stays at or below ``target`` (None: never)."""
    for k, row in enumerate(rows):
        if all(r["rmse"] <= target for r in rows[k:]):
            return int(row["calls"])
    return None


def run(pools: dict[str, str], transfer: dict, out: str, report: str, figure: str) -> None:
    """The experiment from the elements' pools (``{element: dft_dataset path}``): the ``transfer_curve``
    artifact, a markdown report and the figure. Raises :class:`ArtifactError` for a missing or wrong pool."""
    settings = TransferSettings.from_dict(transfer)
    missing = [e for e in settings.elements if e not in pools]
    if missing:
        raise ArtifactError(f"transfer: no pool for {missing}. Fix: run the transfer_pool jobs of every element")
    sources = [reduce(pools[e], e, settings) for e in settings.sources]
    target = reduce(pools[settings.target], settings.target, settings)
    learned = learned_prior(sources, settings)
    prior, coefs = learned.prior, learned.coefficients
    curves = {"default": learning_curve(target, settings, None),
              "learned_noise": learning_curve(target, settings, learned, use_prior=False),
              "learned": learning_curve(target, settings, learned)}
    goal = settings.target_force_rmse or 1.25 * curves["default"][-1]["rmse"]
    reached = {p: calls_to_reach(curves[p], goal) for p in PRIORS}
    zero_shot = _zero_shot(target, learned, settings)
    data = {"prior": [], "calls": [], "rmse": [], "rmse_lo": [], "rmse_hi": [], "added": []}
    for p in PRIORS:
        for row in curves[p]:
            data["prior"].append(p)
            for k in ("calls", "rmse", "rmse_lo", "rmse_hi", "added"):
                data[k].append(row[k])
    scales = {pool.element: {"a0": pool.a0, "B": pool.bulk_modulus, "length_scale": pool.length,
                             "energy_scale_eV": pool.energy_scale} for pool in [*sources, target]}
    attrs = {"target": settings.target, "sources": settings.sources, "scales": scales, "target_force_rmse": goal,
             "calls_to_target": reached, "zero_shot_force_rmse": zero_shot,
             "prior_mean": prior.mean.tolist(), "prior_std": np.sqrt(np.diag(prior.covariance)).tolist(),
             "source_coefficients": coefs.tolist(), "noise_model": {"residual_std": learned.residual_std,
                                                                    "weights": learned.weights},
             "settings": asdict(settings)}
    write_artifact(out, "transfer_curve", data, attrs, inputs=[pools[e] for e in settings.elements],
                   config={"transfer": transfer})
    write_report(curves, attrs, report, figure)
    plot(curves, attrs, figure)


def _zero_shot(pool: ReducedPool, learned: LearnedPrior, settings: TransferSettings) -> float:
    """Test force RMSE (eV/A) of the prior mean alone (no target label used but the EOS scales)."""
    model = BayesianSNAP(learned_settings(settings, learned))
    model.coef_, model.covariance_ = learned.prior.mean, learned.prior.covariance
    model.alpha_ = float(learned.prior.noise_precision)
    return force_rmse(model, pool, np.flatnonzero(pool.groups == "test"), np.random.default_rng(0), 1)[0]


def write_report(curves: dict[str, list[dict]], attrs: dict[str, Any], path: str, figure: str) -> None:
    """``transfer.md``: the scales, the calls to the target error per prior, the curves' table."""
    s = attrs["settings"]
    reached = attrs["calls_to_target"]
    lines = [f"# Few-shot transfer: {attrs['target']} from {', '.join(attrs['sources'])}", "",
             f"Pools at {json.dumps(s['dft'])} (the study's DFT settings otherwise); {s['pool']['eos_points']} EOS "
             f"cells, {s['pool']['candidates']} candidates, {s['pool']['test']} test cells per element; linear SNAP "
             f"2J={s['twojmax']}, cutoff {s['cutoff_nn']:g} nearest-neighbour distances on the reduced crystal.", "",
             "| element | a0 (A) | B (GPa) | length scale s | energy scale B*Omega (eV) |", "|---|---|---|---|---|"]
    for el, sc in attrs["scales"].items():
        lines.append(f"| {el} | {sc['a0']:.4f} | {sc['B']:.1f} | {sc['length_scale']:.4f} | "
                     f"{sc['energy_scale_eV']:.3f} |")
    goal = attrs["target_force_rmse"]
    lines += ["", f"Target test force RMSE: {goal:.4f} eV/A"
              + ("" if s["target_force_rmse"] else " (1.25 x the default prior's error after the whole pool)") + ".",
              ""]
    for p in PRIORS:
        lines.append(f"- {PRIOR_LABELS[p]}: {reached[p] if reached[p] is not None else 'not reached within the pool'}"
                     f" DFT calls (the {s['pool']['eos_points']} EOS cells included)")
    if reached["default"] and reached["learned"]:
        lines.append(f"- ratio learned / default: {reached['learned'] / reached['default']:.2f} "
                     f"(goal of the issue: 0.5 or less)")
    lines += [f"- zero-shot (the learned prior's mean, no {attrs['target']} force label): "
              f"{attrs['zero_shot_force_rmse']:.4f} eV/A", "",
              "Test force RMSE (eV/A) and its 5-95 % bootstrap interval over the test atoms:", "",
              "| DFT calls | " + " | ".join(PRIOR_LABELS[p] for p in PRIORS) + " |", "|---" * (len(PRIORS) + 1) + "|"]
    for k, row in enumerate(curves["default"]):
        cells = [f"{c['rmse']:.4f} ({c['rmse_lo']:.4f}-{c['rmse_hi']:.4f})" for c in (curves[p][k] for p in PRIORS)]
        lines.append(f"| {row['calls']} | " + " | ".join(cells) + " |")
    lines += ["", f"Figure: `{figure.rsplit('/', 1)[-1]}`."]
    write_text_atomic(path, "\n".join(lines) + "\n")


def plot(curves: dict[str, list[dict]], attrs: dict[str, Any], path: str) -> None:
    """Test force RMSE vs DFT calls, both priors with their bootstrap bands, and the target error."""
    fig, ax = pyplot().subplots(figsize=(6.5, 4.5))
    for p, colour in zip(PRIORS, ("C0", "C2", "C3"), strict=True):
        rows = curves[p]
        x = [r["calls"] for r in rows]
        ax.plot(x, [r["rmse"] for r in rows], "o-", color=colour, label=PRIOR_LABELS[p])
        ax.fill_between(x, [r["rmse_lo"] for r in rows], [r["rmse_hi"] for r in rows], color=colour, alpha=0.2)
    ax.axhline(attrs["target_force_rmse"], color="k", ls="--", lw=0.8, label="target")
    ax.set_yscale("log")
    ax.set_xlabel("DFT calls on the target element (EOS cells included)")
    ax.set_ylabel("test force RMSE (eV/A)")
    ax.set_title(f"{attrs['target']}: prior learned on {', '.join(attrs['sources'])} vs default", fontsize=10)
    ax.legend(fontsize=8)
    save(fig, path, dpi=120)
