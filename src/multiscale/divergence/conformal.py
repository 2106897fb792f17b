"""Validity regions with a coverage guarantee: where the continuum stays within tolerance of MD, tested on
specimens the calibration never saw.

The single-specimen ``d*`` of the atlas is an empirical reading of one specimen. Here the continuum-vs-MD
divergence of each grid cell (|FEM - MD stress| / |bulk stress|) is predicted from what a continuum user knows
without running MD (the cell's distance from the hole surface, absolute and in hole radii, and the FEM's local
strain and strain gradient) by gradient-boosted trees fitted on the study's specimen, and bounded by normalised
split-conformal prediction (Papadopoulos et al., ECML 2002; Lei et al., JASA 113, 1094 (2018)) calibrated on other
specimens: crepes' ``ConformalRegressor`` with its k-nearest-neighbour ``DifficultyEstimator`` as the normaliser.
Under exchangeability of calibration and test cells, the interval holds the true divergence with probability at
least the confidence level; the held-out specimens (other hole radius, strain, size, orientation) test whether
that assumption survives a change of specimen, and the achieved coverage is reported against the nominal level.

The validity region at the stated confidence is then the set of cells whose upper bound is within the tolerance;
its conformal ``d*`` is the distance from the hole beyond which every cell is certified.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from multiscale.artifacts import read_artifact
from multiscale.divergence.atlas import continuum_cell_records, specimen_crystal
from multiscale.material import bulk_coordination

FEATURES = ["distance_to_hole_nm", "distance_in_hole_radii", "fem_local_strain", "fem_strain_gradient"]


@dataclass
class CellTable:
    """The valid grid cells of one specimen: continuum-side ``features`` (n, 4; :data:`FEATURES`), the divergence
    ``y`` (n,) and the cells' ``distance`` from the hole surface (nm)."""

    features: np.ndarray
    y: np.ndarray
    distance: np.ndarray
    hole_radius_nm: float


def cell_table(specimen: str, continuum: str) -> CellTable:
    """Features and divergence of every valid cell of a specimen and its continuum solution."""
    sp = read_artifact(specimen, "md_specimen")
    cont = read_artifact(continuum, "continuum")
    desc = sp.attr("specimen")
    radius, grid = float(desc.geometry.hole_radius_nm), float(desc.grid.cell_nm)
    material, a0 = specimen_crystal(desc)
    c = continuum_cell_records(sp, cont, radius, grid, bulk_coordination(material, a0))
    dist, strain, grad = c["features"][:, 0], c["features"][:, 1], c["features"][:, 2]
    x = np.column_stack([dist, dist / radius, strain, grad])
    ok = np.isfinite(c["relative"]) & np.all(np.isfinite(x), axis=1)
    return CellTable(features=x[ok], y=c["relative"][ok], distance=dist[ok], hole_radius_nm=radius)


@dataclass
class SpecimenCoverage:
    """One specimen's cells under the conformal intervals: empirical coverage of the intervals, the certified
    share (upper bound within tolerance), how many certified cells truly are within tolerance, and the conformal
    d* (nm; None when no distance certifies every cell beyond it)."""

    label: str
    role: str                 # training, calibration or held-out
    cells: int
    coverage: float
    certified_fraction: float
    certified_correct: float | None
    d_star_nm: float | None
    empirical_d_star_nm: float | None  # the same reading from the true MD divergence


def _dstar(distance: np.ndarray, within: np.ndarray) -> float | None:
    """Smallest distance beyond which every cell is within (None if the farthest cell is not)."""
    order = np.argsort(distance)[::-1]
    bad = np.flatnonzero(~within[order])
    if len(bad) == 0:
        return float(distance.min())
    if bad[0] == 0:
        return None
    return float(distance[order][bad[0] - 1])


def conformal_validity(training: CellTable, calibration: list[CellTable], tests: dict[str, tuple[str, CellTable]],
                       tolerance: float, confidence: float, seed: int = 0) -> list[SpecimenCoverage]:
    """Fit the point model on ``training``, calibrate normalised split-conformal intervals on ``calibration``,
    and report every specimen of ``tests`` (label -> (role, cells); role: training, calibration or held-out).
    Raises ValueError on an empty calibration set."""
    from crepes import ConformalRegressor
    from crepes.extras import DifficultyEstimator
    from sklearn.ensemble import GradientBoostingRegressor

    cal_x = np.vstack([c.features for c in calibration]) if calibration else np.empty((0, len(FEATURES)))
    cal_y = np.concatenate([c.y for c in calibration]) if calibration else np.empty(0)
    if len(cal_y) == 0:
        raise ValueError("no calibration cells: divergence.validity.calibration needs at least one specimen")
    model = GradientBoostingRegressor(n_estimators=200, max_depth=3, learning_rate=0.05, random_state=seed)
    model.fit(training.features, training.y)
    difficulty = DifficultyEstimator().fit(X=training.features, y=training.y, scaler=True)
    conformal = ConformalRegressor().fit(residuals=cal_y - model.predict(cal_x), sigmas=difficulty.apply(cal_x))
    rows = []
    for label, (role, t) in tests.items():
        lo_hi = conformal.predict_int(model.predict(t.features), sigmas=difficulty.apply(t.features),
                                      confidence=confidence)
        inside = (t.y >= lo_hi[:, 0]) & (t.y <= lo_hi[:, 1])
        certified = lo_hi[:, 1] <= tolerance
        rows.append(SpecimenCoverage(
            label=label, role=role, cells=len(t.y), coverage=float(inside.mean()),
            certified_fraction=float(certified.mean()),
            certified_correct=float(np.mean(t.y[certified] <= tolerance)) if certified.any() else None,
            d_star_nm=_dstar(t.distance, certified), empirical_d_star_nm=_dstar(t.distance, t.y <= tolerance)))
    return rows
