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
