"""The atlas' validity-region and feature logic on synthetic fields (no simulation needed)."""

from __future__ import annotations

import numpy as np

from multiscale.divergence.atlas import distance_threshold, fill_nearest


def test_fill_nearest_keeps_values_and_fills_the_hole():
    a = np.arange(25, dtype=float).reshape(5, 5)
    a[2, 2] = a[1, 2] = np.nan
    filled = fill_nearest(a)
    assert np.all(np.isfinite(filled))
    ok = np.isfinite(a)
    assert np.array_equal(filled[ok], a[ok])
    # a linear field differenced after filling stays finite next to the hole (one-sided there)
    gy, gx = np.gradient(filled)
    assert np.all(np.isfinite(gx)) and np.all(np.isfinite(gy))


def test_d_star_is_where_the_divergence_stays_below_tolerance_outward():
    distance = np.array([0.2, 0.4, 0.9, 1.5, 3.0, 6.0])
    rel = np.array([0.15, 0.08, 0.04, 0.06, 0.02, 0.01])  # the 1.5 nm cell still exceeds 5%
    out = distance_threshold(distance, rel, np.zeros_like(rel), 0.05, 0.5)
    assert out.d_star_nm == 3.0 and not out.within_everywhere
    inside = distance_threshold(distance, np.full(6, 0.01), np.zeros(6), 0.05, 0.5)
    assert inside.within_everywhere and inside.d_star_nm == 0.2
    # the FEM posterior std widens the range
    wide = distance_threshold(distance, rel, np.full(6, 0.015), 0.05, 0.5)
    assert wide.range_nm[0] <= 3.0 <= wide.range_nm[1]
