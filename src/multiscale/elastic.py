"""Shared mechanics used by every scale: strain sets, EOS fits, cubic elastic constants, rotations.

Voigt order is (xx, yy, zz, yz, xz, xy); strains use engineering shear (gamma = 2 eps_ij), stresses are in GPa
with positive = tensile. The same functions fit DFT, MLIP and MD data, so the scales are compared like for like.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from multiscale.errors import CalculationError
from multiscale.units import EV_PER_A3_TO_GPA


def voigt_to_tensor(strain_voigt: np.ndarray) -> np.ndarray:
    """Engineering-shear Voigt strain -> symmetric 3x3 strain tensor."""
    e = np.asarray(strain_voigt, dtype=float)
    return np.array([[e[0], e[5] / 2, e[4] / 2], [e[5] / 2, e[1], e[3] / 2], [e[4] / 2, e[3] / 2, e[2]]])


def stress_tensor(voigt: np.ndarray) -> np.ndarray:
    """Symmetric 3x3 tensor of a stress (or virial) given by its Voigt components (xx, yy, zz, yz, xz, xy)."""
    v = np.asarray(voigt, dtype=float)
    return np.array([[v[0], v[5], v[4]], [v[5], v[1], v[3]], [v[4], v[3], v[2]]])


def voigt_components(t: np.ndarray) -> np.ndarray:
    """Voigt components (xx, yy, zz, yz, xz, xy) of a symmetric 3x3 stress tensor."""
    return np.array([t[0, 0], t[1, 1], t[2, 2], t[1, 2], t[0, 2], t[0, 1]])


def deform_cell(cell: np.ndarray, strain_voigt: np.ndarray) -> np.ndarray:
    """Apply a small homogeneous strain to cell vectors given as rows: cell' = cell (I + eps)."""
    return np.asarray(cell) @ (np.eye(3) + voigt_to_tensor(strain_voigt))


def cubic_stiffness(c11: float, c12: float, c44: float) -> np.ndarray:
    """6x6 Voigt stiffness of a cubic crystal in its cube axes (GPa)."""
    c = np.zeros((6, 6))
    c[:3, :3] = c12
    np.fill_diagonal(c[:3, :3], c11)
    c[3, 3] = c[4, 4] = c[5, 5] = c44
    return c


def elastic_strain_set(amplitudes: list[float]) -> list[tuple[str, np.ndarray]]:
    """Normal (xx) and shear (yz) strains, each amplitude with both signs: enough for cubic C11, C12, C44."""
    out = []
    for mode, index in (("xx", 0), ("yz", 3)):
        for amp in amplitudes:
            for sign in (1, -1):
                e = np.zeros(6)
                e[index] = sign * amp
                out.append((mode, e))
    return out


# ----------------------------------------------------------------------------------------------- fits
@dataclass
class LinearFit:
    slope: float
    slope_std: float


def _slope(x: np.ndarray, y: np.ndarray) -> LinearFit:
    """Slope at zero of y(x) with its standard error.

    Repeated strains (e.g. sigma_yy and sigma_zz of one xx strain, equal by symmetry) are averaged first, so a
    duplicate never counts as an independent degree of freedom. With strains of both signs a quadratic term is
    fitted too, so the (physical) curvature of the stress-strain curve neither biases the tangent modulus nor
    inflates its error. The standard error is NaN when nothing is left to estimate it (e.g. -e, 0, +e: a central
    difference; 0, +e: a one-sided one): no number is better than a fake one.
    """
    xu, inverse = np.unique(np.round(np.asarray(x, float), 12), return_inverse=True)
    y = np.asarray(y, float)
    yu = np.bincount(inverse, weights=y) / np.bincount(inverse)
    deg = 2 if (xu.min() < 0.0 < xu.max() and len(xu) >= 3) else 1
    a = np.stack([xu**p for p in range(deg + 1)], axis=1)
    coef, *_ = np.linalg.lstsq(a, yu, rcond=None)
    dof = len(xu) - a.shape[1]
    std = float("nan")
    if dof > 0:
        resid = yu - a @ coef
        cov = float(resid @ resid) / dof * np.linalg.inv(a.T @ a)
        std = float(np.sqrt(cov[1, 1]))
    return LinearFit(float(coef[1]), std)


def fit_cubic_elastic(strains: np.ndarray, stresses: np.ndarray) -> dict[str, tuple[float, float]]:
    """C11, C12, C44 (GPa) with standard errors from (strain, stress) pairs of single-component strains.

    ``strains``: (n, 6) engineering-shear Voigt; ``stresses``: (n, 6) GPa. Uses xx-normal and yz-shear
    deformations (others, e.g. yy or xz, are mapped by cubic symmetry). An unstrained point (all zero) may be
    included and is used in every fit.
    """
    strains = np.asarray(strains, float)
    stresses = np.asarray(stresses, float)
    xs11, ys11, xs12, ys12, xs44, ys44 = [], [], [], [], [], []
    for e, s in zip(strains, stresses, strict=True):
        nz = np.flatnonzero(np.abs(e) > 1e-12)
        if len(nz) == 0:  # sigma_xx = sigma_yy and sigma_yz = 0 by cubic symmetry: a point of every fit
            xs11.append(0.0), ys11.append(s[0]), xs12.append(0.0), ys12.append(s[1])
            xs44.append(0.0), ys44.append(s[3])
            continue
        if len(nz) != 1:
            continue
        i = int(nz[0])
        if i < 3:
            others = [j for j in range(3) if j != i]
            xs11.append(e[i]), ys11.append(s[i])
            for j in others:
                xs12.append(e[i]), ys12.append(s[j])
        else:
            xs44.append(e[i]), ys44.append(s[i])
    if min(len(set(xs11)), len(set(xs12)), len(set(xs44))) < 2:
        raise CalculationError("fit_cubic_elastic needs normal (xx) and shear (yz) strains of at least two distinct "
                               "values each (an amplitude of both signs, or one amplitude and the unstrained cell); "
                               "check the elastic strain amplitudes of the calling stage")
    c11, c12, c44 = _slope(xs11, ys11), _slope(xs12, ys12), _slope(xs44, ys44)
    return {"C11": (c11.slope, c11.slope_std), "C12": (c12.slope, c12.slope_std), "C44": (c44.slope, c44.slope_std)}


def birch_murnaghan(v: np.ndarray, e0: float, v0: float, b0: float, bp: float) -> np.ndarray:
    """Third-order Birch-Murnaghan energy (eV) vs volume; b0 in eV/Angstrom^3."""
    eta = (v0 / v) ** (2.0 / 3.0)
    return e0 + 9.0 * v0 * b0 / 16.0 * ((eta - 1) ** 3 * bp + (eta - 1) ** 2 * (6 - 4 * eta))


@dataclass
class EOSFit:
    e0: float
    v0: float
    b0: float  # GPa
    bp: float
    v0_std: float
    b0_std: float


def fit_eos(volumes: np.ndarray, energies: np.ndarray) -> EOSFit:
    """Birch-Murnaghan fit of energy per atom vs volume per atom, with covariance-based standard errors."""
    from scipy.optimize import curve_fit

    v = np.asarray(volumes, float)
    e = np.asarray(energies, float)
    a, b, c = np.polyfit(v, e, 2)
    v0 = -b / (2 * a)
    guess = (e.min(), v0, 2 * a * v0, 4.0)
    p, cov = curve_fit(birch_murnaghan, v, e, p0=guess, maxfev=20000)
    std = np.sqrt(np.clip(np.diag(cov), 0, None)) if np.all(np.isfinite(cov)) else np.full(4, np.nan)
    return EOSFit(float(p[0]), float(p[1]), float(p[2] * EV_PER_A3_TO_GPA), float(p[3]), float(std[1]),
                  float(std[2] * EV_PER_A3_TO_GPA))


def lattice_from_volume(v0_per_atom: float, atoms_per_cubic_cell: int) -> float:
    return float((v0_per_atom * atoms_per_cubic_cell) ** (1.0 / 3.0))


def eos_properties(volumes: np.ndarray, energies: np.ndarray, atoms_per_cubic_cell: int) -> dict[str, float]:
    """EOS fit (per-atom volumes and energies) as cubic lattice constant and bulk modulus, with standard errors."""
    fit = fit_eos(np.asarray(volumes, float), np.asarray(energies, float))
    a0 = lattice_from_volume(fit.v0, atoms_per_cubic_cell)
    return {"a0": a0, "a0_std": a0 / 3 * fit.v0_std / fit.v0, "B": fit.b0, "B_std": fit.b0_std, "Bp": fit.bp,
            "E0": fit.e0, "V0": fit.v0}
