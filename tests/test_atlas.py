"""The atlas' validity-region and feature logic on synthetic fields (no simulation needed)."""

from __future__ import annotations

import numpy as np
import pytest

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


def test_continuum_slip_uses_the_schmid_factor_of_the_loading_axis():
    """Uniaxial stress along [100]: the largest Schmid factor of the {111}<112> partials is 2/sqrt(18) = 0.471;
    along [111] it is 4/(3 sqrt(18)) = 0.314 (the full {111}<110> slip: 0.408 and 0.272, Hull and Bacon, ch. 3); the
    critical strain scales as critical stress / resolved stress."""
    from multiscale.divergence.atlas import continuum_slip, critical_shear_stress
    from multiscale.material import Material
    from multiscale.specimen import Specimen

    stress = np.zeros((4, 6))
    stress[:, 0] = 1.0  # GPa, sigma_xx
    stress[0] = np.nan  # a cell in the hole
    centres = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [2.0, 2.0]])
    al = Material()
    for axes, schmid in (([[1, 0, 0], [0, 1, 0], [0, 0, 1]], 2 / np.sqrt(18)),
                         ([[1, 1, 1], [1, -1, 0], [1, 1, -2]], 4 / (3 * np.sqrt(18)))):
        spec = Specimen(hole_radius=0.5, orientation=axes)
        tau_c, _ = critical_shear_stress(al, 4.04, 200.0)
        pred = continuum_slip(stress, centres, spec, al, 0.01, (tau_c, "test"))
        assert pred.max_rss_GPa == pytest.approx(schmid, abs=1e-3)
        assert pred.onset_strain == pytest.approx(0.01 * tau_c / schmid)
        assert pred.distance_from_hole_nm == pytest.approx(0.5)  # the first valid cell, 1 nm from the centre
    # pi gamma_us / b_p: 200 mJ/m^2 over a0/sqrt(6) = 1.649 Angstrom gives 3.81 GPa
    assert critical_shear_stress(al, 4.04, 200.0)[0] == pytest.approx(np.pi * 0.2 / (4.04e-10 / np.sqrt(6)) * 1e-9)
    assert critical_shear_stress(Material(element="Ta", lattice="bcc", a_guess=3.3), 3.3, None)[0] is None


def test_split_conformal_covers_exchangeable_specimens_and_reports_a_shift():
    """Cells drawn like the calibration ones are covered at the nominal level (within sampling error); cells of a
    specimen whose divergence doubles are not, and the shortfall shows in the coverage."""
    from multiscale.divergence.conformal import CellTable, conformal_validity

    rng = np.random.default_rng(5)

    def table(n, scale=1.0):
        d = rng.uniform(0.0, 5.0, n)
        x = np.column_stack([d, d / 0.8, 0.005 * (1 + 2 * np.exp(-d)), np.exp(-d)])
        y = scale * (0.2 * np.exp(-d) + 0.01 + rng.normal(0, 0.01, n) * (1 + np.exp(-d)))
        return CellTable(features=x, y=np.abs(y), distance=d, hole_radius_nm=0.8)

    rows = conformal_validity(table(400), [table(800)], {"same": ("held-out", table(2000)),
                                                         "shifted": ("held-out", table(2000, 2.0))}, 0.05, 0.9)
    same, shifted = rows
    assert same.coverage == pytest.approx(0.9, abs=0.03)
    assert shifted.coverage < 0.8
    assert same.d_star_nm is not None and same.certified_correct >= 0.9


def test_slip_system_tables():
    from multiscale.material import partial_slip_systems, slip_systems

    for name, n, d in (slip_systems("fcc"), slip_systems("bcc"), partial_slip_systems("fcc")):
        assert len(n) == 12 and np.allclose(np.einsum("ij,ij->i", n, d), 0.0), name
        assert np.allclose(np.linalg.norm(n, axis=1), 1.0) and np.allclose(np.linalg.norm(d, axis=1), 1.0)
    # the full {110}<111> Schmid factor along [100] in bcc: 0.408
    _, n, d = slip_systems("bcc")
    assert np.max(np.abs(n[:, 0] * d[:, 0])) == pytest.approx(1 / np.sqrt(6))
