from __future__ import annotations

import numpy as np
import pytest

from multiscale.continuum.elasticity import rotate_stiffness
from multiscale.elastic import (
    birch_murnaghan,
    cubic_stiffness,
    elastic_strain_set,
    fit_cubic_elastic,
    fit_eos,
)


def test_cubic_fit_recovers_constants_despite_curvature():
    c = cubic_stiffness(110.0, 60.0, 30.0)
    strains = np.array([e for _, e in elastic_strain_set([0.005, 0.01])])
    stresses = strains @ c.T + 500.0 * strains**2  # nonlinearity must not bias the tangent modulus
    fit = fit_cubic_elastic(strains, stresses)
    assert fit["C11"][0] == pytest.approx(110.0, abs=1e-6)
    assert fit["C12"][0] == pytest.approx(60.0, abs=1e-6)
    assert fit["C44"][0] == pytest.approx(30.0, abs=1e-6)


def test_cubic_fit_errors_count_distinct_strains_only():
    """Noise gives a finite error once strains outnumber the fit's parameters; a central or one-sided difference
    (the primitive-cell scans: 0, +-e normal, +e shear) has no error estimate, and yy/zz duplicates add none."""
    c = cubic_stiffness(110.0, 60.0, 30.0)
    rng = np.random.default_rng(0)
    strains = np.array([np.zeros(6)] + [e for _, e in elastic_strain_set([0.0025, 0.005, 0.0075, 0.01])])
    stresses = strains @ c.T + 300.0 * strains**2 + rng.normal(0.0, 0.01, (len(strains), 6))
    fit = fit_cubic_elastic(strains, stresses)
    for k, ref in (("C11", 110.0), ("C12", 60.0), ("C44", 30.0)):
        value, std = fit[k]
        assert 0.0 < std < 5.0
        assert abs(value - ref) < 5 * std
    e = 0.01
    few = np.zeros((4, 6))
    few[1, 0], few[2, 0], few[3, 3] = e, -e, e
    fit = fit_cubic_elastic(few, few @ c.T + 300.0 * few**2)
    assert fit["C11"][0] == pytest.approx(110.0) and fit["C12"][0] == pytest.approx(60.0)
    assert fit["C44"][0] == pytest.approx(30.0 + 300.0 * e)  # one-sided: the curvature is not removed
    assert all(np.isnan(fit[k][1]) for k in ("C11", "C12", "C44"))


def test_eos_fit_recovers_parameters():
    v = np.linspace(14.5, 18.5, 9)
    e = birch_murnaghan(v, -3.7, 16.5, 78.0 / 160.21766208, 4.6)
    fit = fit_eos(v, e)
    assert fit.v0 == pytest.approx(16.5, rel=1e-6)
    assert fit.b0 == pytest.approx(78.0, rel=1e-5)


def test_cubic_stiffness_is_invariant_under_cube_rotations():
    c = cubic_stiffness(110.0, 60.0, 30.0)
    rz90 = np.array([[0, -1, 0], [1, 0, 0], [0, 0, 1]], float)
    np.testing.assert_allclose(rotate_stiffness(c, rz90), c, atol=1e-10)
    # 45 degrees about z: C11' = (C11 + C12)/2 + C44 (textbook result for cubic crystals)
    s = np.sqrt(0.5)
    r45 = np.array([[s, -s, 0], [s, s, 0], [0, 0, 1]])
    assert rotate_stiffness(c, r45)[0, 0] == pytest.approx((110 + 60) / 2 + 30)
