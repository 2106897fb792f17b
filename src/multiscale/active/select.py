"""Selection rules on one candidate pool, with the same DFT budget.

- ``uncertainty``: the largest maximum extrapolation grade first (pacemaker's D-optimality grade, here of the
  Bayesian SNAP's training-atom distribution), with a diversity term: a candidate whose mean standardised
  descriptor lies within ``diversity`` of one already in the batch is a near-duplicate and skipped;
- ``downstream`` (QoI-driven): greedily, the candidate whose labels most reduce the posterior variance of a
  downstream quantity q = g . beta (linear in the SNAP coefficients beta). For Bayesian linear regression with
  posterior covariance S and noise precision alpha w^2 per row (w: the row weight the fit gives it), adding rows X
  with noise covariance N gives S' = S - S X^T (N + X S X^T)^-1 X S, so the reduction of var(q) = g^T S g is
  (X S g)^T (N + X S X^T)^-1 (X S g): closed form, no refit (Bishop, Pattern Recognition and Machine Learning,
  2006, eq. 3.50-3.51; the expected-variance-reduction criterion of Cohn, Ghahramani and Jordan, J. Artif.
  Intell. Res. 4, 129 (1996));
- ``random``: the baseline, uniformly from the pool.

The quantities' gradients g (:func:`qoi_gradient`): C44 from the stress rows of the cubic cell sheared by
+-gamma (fcc is a Bravais lattice: no internal relaxation, so exact for a linear SNAP); the unstable and intrinsic
stacking-fault energies from the energy rows of the fault cells (unrelaxed: the relaxation normal to the fault
changes the energy by a few percent, measured in the MD stage, and leaves the gradient's direction).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from ase import Atoms

from multiscale.active.explore import Graded
from multiscale.elastic import deform_cell
from multiscale.material import Material, stacking_fault_cell
from multiscale.units import EV_PER_A2_TO_J_PER_M2


def _mean_descriptor(g: Graded, grader) -> np.ndarray:
    z = (g.rows["atom"][:, 1:] - grader.mean_) / grader.scale_
    return z.mean(axis=0)


def by_uncertainty(graded: Sequence[Graded], n: int, grader, diversity: float,
                   exclude: Sequence[int] = ()) -> list[int]:
    """Indices of up to ``n`` candidates, highest maximum grade first, none within ``diversity`` (standardised
    descriptor distance of the configurations' mean rows) of one already picked."""
    picked: list[int] = []
    means: list[np.ndarray] = []
    for i in np.argsort([-float(g.grade.max()) for g in graded]):
        i = int(i)
        if i in exclude:
            continue
        m = _mean_descriptor(graded[i], grader)
        if any(np.linalg.norm(m - other) < diversity for other in means):
            continue
        picked.append(i)
        means.append(m)
        if len(picked) == n:
            break
    return picked


def _rows(g: Graded, n_atoms: int, weights: dict[str, float]) -> tuple[np.ndarray, np.ndarray]:
    """Design rows of a candidate's labels (energy per atom, forces, stress) and each row's weight."""
    x = np.vstack([g.rows["energy"][None] / n_atoms, g.rows["forces"], g.rows["stress"]])
    w = np.concatenate([[weights["energy"]], np.full(3 * n_atoms, weights["force"]), np.full(6, weights["stress"])])
    return x[w > 0], w[w > 0]


def variance_reduction(cov: np.ndarray, alpha: float, g: np.ndarray, x: np.ndarray, w: np.ndarray) -> float:
    """Reduction of var(g . beta) when rows ``x`` (weights ``w``, noise variance 1/(alpha w^2)) are added to a
    Bayesian linear model with posterior covariance ``cov`` (module docstring)."""
    sg = cov @ g
    xs = x @ sg
    m = np.diag(1.0 / (alpha * w**2)) + x @ cov @ x.T
    return float(xs @ np.linalg.solve(m, xs))


def by_downstream(graded: Sequence[Graded], atoms: Sequence[Atoms], n: int, model, g: np.ndarray,
                  exclude: Sequence[int] = ()) -> tuple[list[int], list[float]]:
    """Greedy batch of up to ``n`` candidates maximising the reduction of the posterior variance of g . beta,
    the covariance updated after each pick. Returns the indices and each pick's variance reduction."""
    cov = model.covariance_.copy()
    alpha = model.alpha_
    picked: list[int] = []
    gains: list[float] = []
    rows = {}
    for i, (gr, a) in enumerate(zip(graded, atoms, strict=True)):
        if i not in exclude:
            w = model.settings.fit.row_weights(a.info.get("group"), "training")
            rows[i] = _rows(gr, len(a), w)
    for _ in range(min(n, len(rows))):
        best, gain = max(((i, variance_reduction(cov, alpha, g, *rows[i])) for i in rows if i not in picked),
                         key=lambda t: t[1])
        picked.append(best)
        gains.append(gain)
        x, w = rows[best]
        k = cov @ x.T
        cov = cov - k @ np.linalg.solve(np.diag(1.0 / (alpha * w**2)) + x @ k, k.T)
    return picked, gains


def by_random(n_pool: int, n: int, rng: np.random.Generator, exclude: Sequence[int] = ()) -> list[int]:
    """Up to ``n`` indices drawn uniformly without replacement."""
    pool = [i for i in range(n_pool) if i not in exclude]
    return [int(i) for i in rng.choice(pool, size=min(n, len(pool)), replace=False)]


def fixed_test_set(families: Sequence[str], per_family: int, rng: np.random.Generator) -> list[int]:
    """``per_family`` indices from every explorer family, drawn once (the test set no rule ever trains on)."""
    out = []
    for fam in sorted(set(families)):
        members = [i for i, f in enumerate(families) if f == fam]
        out += [int(i) for i in rng.choice(members, size=min(per_family, len(members)), replace=False)]
    return sorted(out)


def qoi_gradient(qoi: str, material: Material, a0: float, descriptor_settings) -> np.ndarray:
    """d q / d beta of a linear SNAP for ``qoi``: C44 (GPa), usf_111 or isf_111 (mJ/m^2). Shape (n_coeff,)."""
    from multiscale.mlip.snap import descriptors

    if qoi == "C44":
        gamma = 0.005
        rows = []
        for sign in (1, -1):
            cell = material.cubic_cell(a0)
            cell.set_cell(deform_cell(cell.cell[:], np.array([0, 0, 0, sign * gamma, 0, 0])), scale_atoms=True)
            rows.append(descriptors(cell, descriptor_settings)["stress"][3])
        return (rows[0] - rows[1]) / (2 * gamma)
    shift = 1.0 if qoi == "isf_111" else _usf_shift()
    periods = 2
    perfect = descriptors(stacking_fault_cell(material, a0, periods, 0.0), descriptor_settings)["energy"]
    fault_cell = stacking_fault_cell(material, a0, periods, shift)
    fault = descriptors(fault_cell, descriptor_settings)["energy"]
    area = float(np.linalg.norm(np.cross(fault_cell.cell[0], fault_cell.cell[1])))
    return (fault - perfect) / area * EV_PER_A2_TO_J_PER_M2 * 1000.0


def _usf_shift() -> float:
    """The unstable fault of an fcc {111}<112> path sits at half the partial Burgers vector (Vitek's gamma
    surface; e.g. Zimmerman, Gao and Abraham, Modell. Simul. Mater. Sci. Eng. 8, 103 (2000))."""
    return 0.5
