"""Linear SNAP with Bayesian linear regression (descriptors from LAMMPS ``compute snap``).

The model: E = N beta_0 + sum_i B_i . beta, forces and virial linear in beta through the descriptor
derivatives that ``compute snap`` returns (rows: 1 energy, 3N forces ordered by atom id, 6 virial = P V in eV).
Fitting uses scikit-learn's BayesianRidge on standardised columns with per-row weights, so the prior and
noise precisions are evidence-optimised and every prediction carries a predictive standard deviation.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
from ase import Atoms

from multiscale.elastic import stress_tensor, voigt_components
from multiscale.errors import ConfigError
from multiscale.fileio import write_text_atomic
from multiscale.grading import EXTRAPOLATION_THRESHOLD
from multiscale.lammps import (
    Potential,
    baseline_lines,
    baseline_potential,
    global_array,
    instance,
    load_atoms,
    per_atom,
    rotation,
    run,
)
from multiscale.units import EV_PER_A3_TO_GPA

MODELS = ("linear", "quadratic")


@dataclass
class DescriptorSettings:
    """SNAP bispectrum settings (LAMMPS ``compute snap``/``pair_style snap``; Thompson et al., J. Comput. Phys.
    285, 316 (2015)): the one home of the compute arguments and of the ``.snapparam`` file."""

    twojmax: int = 6
    rcutfac: float = 4.8  # Angstrom; with the default radius 0.5 this is the cutoff radius
    rfac0: float = 0.99363
    element_radius: float = 0.5  # SNAP radelem: cutoff = rcutfac * (R_i + R_j)
    element_weight: float = 1.0  # SNAP wj: weight of the element's neighbours in the density
    quadratic: bool = False  # set per fitted model, not from the config

    @property
    def cutoff(self) -> float:
        """Largest pair distance the descriptors see (Angstrom)."""
        return self.rcutfac * 2 * self.element_radius

    def compute_args(self, quadratic: bool | None = None) -> str:
        """Arguments of ``compute snap``/``sna/atom`` (``quadratic`` overrides the setting, e.g. 0 for the
        per-atom linear rows the uncertainty uses)."""
        q = self.quadratic if quadratic is None else quadratic
        return (f"{self.rcutfac} {self.rfac0} {self.twojmax} {self.element_radius} {self.element_weight} "
                f"rmin0 0.0 bzeroflag 1 quadraticflag {int(q)} switchflag 1")

    def snapparam(self) -> str:
        """Text of the LAMMPS ``.snapparam`` file."""
        return (f"# multiscale linear SNAP\nrcutfac {self.rcutfac}\ntwojmax {self.twojmax}\nrfac0 {self.rfac0}\n"
                f"rmin0 0.0\nbzeroflag 1\nquadraticflag {int(self.quadratic)}\nswitchflag 1\n")


# Group names of the active-learning loop's labels: LOOP_GROUP_PREFIX + explorer family (multiscale.active)
LOOP_GROUP_PREFIX = "al_"


@dataclass
class SplitSettings:
    """Train / calibration / test split drawn within every configuration group."""

    test_fraction: float = 0.25
    calibration_fraction: float = 0.25
    seed: int = 1

    def check(self) -> None:
        """Test and calibration parts leave a training part. Raises :class:`ConfigError` otherwise."""
        total = self.test_fraction + self.calibration_fraction
        if total >= 1:
            raise ConfigError(f"mlip.test_fraction + mlip.calibration_fraction = {self.test_fraction} + "
                              f"{self.calibration_fraction} = {total:g} leaves no configuration to train on. Fix: "
                              f"make their sum less than 1 (default 0.25 + 0.25)")


@dataclass
class FitSettings:
    """Row weights of the regression: per label kind (energy per atom, force component, stress component), and
    per-group factors on them (e.g. {elastic: {stress: 10}})."""

    weights: dict[str, float] = field(default_factory=lambda: {"energy": 100.0, "force": 1.0, "stress": 0.5})
    group_weights: dict[str, dict[str, float]] = field(default_factory=dict)
    fidelity_weights: dict[str, dict[str, float]] = field(default_factory=dict)

    def check(self) -> None:
        """Some kind of row carries weight (a group's factors may still be all 0: that leaves the group out).

        Raises :class:`ConfigError` naming mlip.weights otherwise."""
        if not any(w > 0 for w in self.weights.values()):
            raise ConfigError(f"mlip.weights = {self.weights}: every row weight is 0, so there is nothing to fit. "
                              f"Fix: give energy, force or stress a positive weight")

    def row_weights(self, group: str | None, fidelity: str | None) -> dict[str, float]:
        """Weights of a configuration's energy, force and stress rows: base x group factor x fidelity factor."""
        g = self.group_weights.get(group, {}) if group is not None else {}
        f = self.fidelity_weights.get(fidelity, {}) if fidelity is not None else {}
        return {k: v * g.get(k, 1.0) * f.get(k, 1.0) for k, v in self.weights.items()}

    def check_groups(self, groups, fidelities=()) -> None:
        """Every group named in ``group_weights`` and every fidelity in ``fidelity_weights`` must occur in the
        dataset (a typo, or weights for a fidelity the study does not compute, would silently do nothing)."""
        for key, names, given in (("group_weights", groups, self.group_weights),
                                  ("fidelity_weights", fidelities, self.fidelity_weights)):
            present = sorted({str(g) for g in names})
            # the active-learning loop's groups appear only once the loop has labelled them: a weight for one may
            # precede it (the study's checks hold such names against the explorer families)
            unknown = sorted(g for g in set(given) - set(present)
                             if not (key == "group_weights" and g.startswith(LOOP_GROUP_PREFIX)))
            if unknown:
                raise ConfigError(f"mlip.{key}: no configuration of the dataset is in {unknown} (the dataset "
                                  f"has: {present}). Fix: use one of those names or remove the key")


@dataclass
class ValidationSettings:
    """Which models are fitted (the first feeds MD), conformal coverage, extrapolation threshold, baseline.

    ``baseline`` is the ``mlip.baseline`` config value: ``auto`` (the element's published potential from
    :data:`multiscale.lammps.DEFAULT_BASELINES`), None (no baseline), ``{pair_style, file}`` or
    ``{pair_style, pair_coeff, files, name}`` (LAMMPS lines, :class:`multiscale.lammps.PotentialLines`)."""

    models: list[str] = field(default_factory=lambda: list(MODELS))
    coverage: float = 0.9
    extrapolation_threshold: float = EXTRAPOLATION_THRESHOLD
    baseline: dict[str, Any] | str | None = "auto"

    def check(self, element: str) -> None:
        """The baseline's files exist and are made for ``element`` (:meth:`PotentialLines.resolve`).

        Raises :class:`ConfigError` naming mlip.baseline and the fix otherwise."""
        lines = baseline_lines(self.baseline, element, "mlip.baseline")
        if lines is not None:
            lines.resolve(element, "mlip.baseline")

    def baseline_potential(self, element: str) -> Potential | None:
        """The baseline as a LAMMPS :class:`Potential` for ``element`` (None: no baseline); the one definition
        the validation and the MD speed benchmark use. Raises :class:`ConfigError` as :meth:`check`."""
        return baseline_potential(self.baseline, element, "mlip.baseline")


@dataclass
class SNAPSettings:
    """The ``mlip`` config section, grouped: descriptors, fit weights, split, validation."""

    descriptor: DescriptorSettings = field(default_factory=DescriptorSettings)
    fit: FitSettings = field(default_factory=FitSettings)
    split: SplitSettings = field(default_factory=SplitSettings)
    validation: ValidationSettings = field(default_factory=ValidationSettings)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> SNAPSettings:
        """From the flat ``mlip`` config section (keys as in the config schema)."""
        parts = {"descriptor": DescriptorSettings, "fit": FitSettings, "split": SplitSettings,
                 "validation": ValidationSettings}
        names = {name: {f for f in part.__dataclass_fields__} for name, part in parts.items()}
        unknown = set(d) - set().union(*names.values())
        if unknown:
            raise ConfigError(f"mlip: unknown key(s) {sorted(unknown)}. Fix: see workflow/schemas/config.schema.yaml")
        return cls(**{name: part(**{k: v for k, v in d.items() if k in names[name]}) for name, part in parts.items()})

    def to_dict(self) -> dict[str, Any]:
        """The flat ``mlip`` section these settings were made from (inverse of :meth:`from_dict`)."""
        out: dict[str, Any] = {}
        for part in (self.descriptor, self.fit, self.split, self.validation):
            out.update(asdict(part))
        return out

    def for_model(self, model: str) -> SNAPSettings:
        """The settings of one fitted model (linear or quadratic SNAP)."""
        if model not in MODELS:
            raise ConfigError(f"mlip.models: unknown SNAP model '{model}'. Fix: use linear or quadratic")
        return replace(self, descriptor=replace(self.descriptor, quadratic=model == "quadratic"))


def descriptors(atoms: Atoms, settings: DescriptorSettings) -> dict[str, np.ndarray]:
    """SNAP design rows of one configuration in the ASE frame.

    Returns ``energy`` (n_coeff,) per configuration, ``forces`` (3N, n_coeff), ``stress`` (6, n_coeff) in GPa
    (positive tensile, Voigt), and ``atom`` (N, 1 + n_linear) per-atom (linear) bispectrum components; column 0
    is the constant term. With ``settings.quadratic`` the rows also hold the quadratic products, in the order
    pair_style snap expects with quadraticflag 1. Raises :class:`ConfigError` for more than one element.
    """
    if len(set(atoms.numbers)) != 1:
        raise ConfigError("this SNAP fitter handles one element; got " + atoms.get_chemical_formula()
                          + ". Fix: a dataset of one element (material.element)")
    lmp = instance()
    try:
        prism = load_atoms(lmp, atoms)
        zero = Potential(f"zero {settings.cutoff}", "* *", "zero (SNAP descriptors only)")
        run(lmp, f"""{zero.commands()}
compute snap all snap {settings.compute_args()}
compute sna all sna/atom {settings.compute_args(quadratic=False)}
thermo_style custom step pe c_snap[1][1]
run 0""", zero)
        a = global_array(lmp, "snap")
        per_atom_rows = per_atom(lmp, "sna")
        ids = np.array(lmp.numpy.extract_atom("id"))[: len(atoms)]
        vol = float(lmp.get_thermo("vol"))
    finally:
        lmp.close()
    n = len(atoms)
    ncoef = a.shape[1] - 1
    b = a[:, :ncoef]
    rot = rotation(prism)
    # forces: rows ordered by atom id, in the LAMMPS frame -> ASE frame
    f = b[1 : 1 + 3 * n].reshape(n, 3, ncoef)
    f_ase = np.einsum("ij,njk->nik", rot, f)
    # virial (P V in eV, LAMMPS frame, Voigt xx yy zz yz xz xy) -> stress GPa positive tensile, ASE frame
    w = b[1 + 3 * n :]
    stress = np.empty((6, ncoef))
    for k in range(ncoef):
        stress[:, k] = -voigt_components(rot @ stress_tensor(w[:, k]) @ rot.T) / vol * EV_PER_A3_TO_GPA
    order = np.argsort(ids)
    atom_desc = np.empty((n, per_atom_rows.shape[1]))
    atom_desc[ids[order] - 1] = per_atom_rows[: len(atoms)][order]
    const = np.zeros((1, 1))
    return {
        "energy": np.concatenate([[n], b[0]]),
        "forces": np.concatenate([np.zeros((3 * n, 1)), f_ase.reshape(3 * n, ncoef)], axis=1),
        "stress": np.concatenate([np.repeat(const, 6, axis=0), stress], axis=1),
        "atom": np.concatenate([np.ones((n, 1)), atom_desc], axis=1),
    }


# --------------------------------------------------------------------------------------------- fitting
@dataclass
class GaussianPrior:
    """A Gaussian prior over SNAP coefficients: ``mean`` (n_coeff,) and ``covariance`` (n_coeff, n_coeff).

    ``width_from_evidence``: whether the fit rescales the prior's width by the evidence (lambda free, as for the default
    prior) or keeps it as given (lambda pinned at 1 by a sharp Gamma hyperprior). A prior learned elsewhere is
    knowledge the target's first few labels should not overrule: with its width free, a fit on a handful of
    equation-of-state cells widened it to a flat prior (measured on EMT Ag, prior from Cu/Au/Pd/Ni: test force
    RMSE 0.51 eV/A, against 0.032 for the prior's mean alone)."""

    mean: np.ndarray
    covariance: np.ndarray
    width_from_evidence: bool = False
    # noise precision of a unit-weight row to keep (pinned like lambda); None: evidence-optimised
    noise_precision: float | None = None

    def check(self, n_coeff: int) -> None:
        """Shapes (n_coeff,) and (n_coeff, n_coeff), a symmetric positive-definite covariance and a positive noise
        precision. Raises :class:`ValueError` naming what is wrong."""
        mean, cov = np.asarray(self.mean, float), np.asarray(self.covariance, float)
        if mean.shape != (n_coeff,) or cov.shape != (n_coeff, n_coeff):
            raise ValueError(f"GaussianPrior: mean {mean.shape} and covariance {cov.shape} do not match the model's "
                             f"{n_coeff} coefficients")
        if not np.allclose(cov, cov.T) or np.linalg.eigvalsh(cov).min() <= 0:
            raise ValueError("GaussianPrior: the covariance is not symmetric positive definite")
        if self.noise_precision is not None and not self.noise_precision > 0:
            raise ValueError(f"GaussianPrior: noise_precision = {self.noise_precision} must be positive")


@dataclass
class BayesianSNAP:
    """Bayesian linear SNAP. ``fit`` returns self; learned attributes end in ``_`` (scikit-learn's contract)."""

    settings: SNAPSettings = field(default_factory=SNAPSettings)

    def _rows(self, desc: list[dict[str, np.ndarray]], energies, forces, stresses, n_atoms, groups=None,
              fidelities=None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The weighted design: rows x (n_rows, n_coeff), targets y and row weights w (energy per atom, force
        components, Voigt stresses per configuration), the ``settings.fit`` weights applied."""
        fit = self.settings.fit
        xs, ys, ws = [], [], []
        groups = [None] * len(desc) if groups is None else groups
        fidelities = [None] * len(desc) if fidelities is None else fidelities
        for d, e, f, s, n, g, fid in zip(desc, energies, forces, stresses, n_atoms, groups, fidelities, strict=True):
            w = fit.row_weights(g, fid)
            if not np.isfinite(e):  # no energy label (a fidelity without a shared energy reference)
                e, w["energy"] = 0.0, 0.0
            xs += [d["energy"][None] / n, d["forces"], d["stress"]]
            ys += [[e / n], np.ravel(f), s]
            ws += [[w["energy"]], np.full(3 * n, w["force"]), np.full(6, w["stress"])]
        return np.vstack(xs), np.concatenate(ys), np.concatenate(ws)

    def fit(self, desc, energies, forces, stresses, n_atoms, groups=None, fidelities=None,
            prior: GaussianPrior | None = None) -> BayesianSNAP:
        """Evidence-optimised Bayesian ridge on weighted rows (energy per atom, force components, stresses);
        ``groups`` and ``fidelities`` (one label per configuration) apply the ``settings.fit`` weight factors.
        A NaN energy is no label (its row gets weight 0).

        The default prior is zero-mean and isotropic on the standardised coefficients. With ``prior`` the
        coefficients are beta = mean + L z with z ~ N(0, I / lambda) and L L^T the prior covariance (Cholesky):
        the same estimator on the whitened columns x L and the residual targets y - x . mean. Lambda (the prior's
        overall width) is evidence-optimised if ``prior.width_from_evidence``, else pinned at 1; the noise precision is
        evidence-optimised unless ``prior.noise_precision`` pins it (:mod:`multiscale.transfer` learns such a
        prior across elements). Raises :class:`ValueError` for a prior of the wrong shape or a covariance that is
        not positive definite (:meth:`GaussianPrior.check`)."""
        from sklearn.linear_model import BayesianRidge

        x, y, w = self._rows(desc, energies, forces, stresses, n_atoms, groups, fidelities)
        keep = w > 0
        x, y, w = x[keep], y[keep], w[keep]
        pinned: dict[str, float] = {}
        if prior is not None and not prior.width_from_evidence:
            pinned.update(lambda_1=1e8, lambda_2=1e8, lambda_init=1.0)
        if prior is not None and prior.noise_precision is not None:
            pinned.update(alpha_1=1e8 * prior.noise_precision, alpha_2=1e8, alpha_init=prior.noise_precision)
        model = BayesianRidge(fit_intercept=False, max_iter=1000, tol=1e-8, compute_score=True, **pinned)
        if prior is None:
            scale = np.sqrt(np.average(x**2, axis=0, weights=w**2))
            scale[scale == 0] = 1.0
            model.fit(x / scale, y, sample_weight=w**2)
            self.coef_ = model.coef_ / scale
            self.covariance_ = model.sigma_ / np.outer(scale, scale)
        else:
            prior.check(x.shape[1])
            root = np.linalg.cholesky(np.asarray(prior.covariance, float))  # covariance = root root^T
            mean = np.asarray(prior.mean, float)
            model.fit(x @ root, y - x @ mean, sample_weight=w**2)
            scale = 1.0 / np.sqrt(np.diag(prior.covariance))
            self.coef_ = mean + root @ model.coef_
            self.covariance_ = root @ model.sigma_ @ root.T
        self.scale_ = scale  # column scale the prior acts on: rms of each column, or 1/sqrt(prior variance)
        self.alpha_ = float(model.alpha_)  # noise precision of a unit-weight row
        self.lambda_ = float(model.lambda_)  # prior precision (of the standardised / whitened coefficients)
        # the log evidence; NaN when hyperparameters are pinned (BayesianRidge's score then holds the sharp
        # Gamma hyperpriors' terms, which mean nothing here)
        self.log_evidence_ = float(model.scores_[-1]) if not pinned else float("nan")
        self.n_rows_ = int(len(y))
        return self

    def predict_rows(self, x: np.ndarray, weight: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Mean, epistemic std and total predictive std (with the row's noise, 1/(alpha w^2)) of rows x."""
        mean = x @ self.coef_
        epi = np.sqrt(np.einsum("ij,jk,ik->i", x, self.covariance_, x).clip(0))
        noise = 1.0 / (self.alpha_ * weight**2) if weight > 0 else 0.0
        return mean, epi, np.sqrt(epi**2 + noise)

    def predict(self, d: dict[str, np.ndarray], n: int) -> dict[str, Any]:
        w = self.settings.fit.weights
        e, _, e_std = self.predict_rows(d["energy"][None] / n, w["energy"])
        f, f_epi, f_std = self.predict_rows(d["forces"], w["force"])
        s, _, s_std = self.predict_rows(d["stress"], w["stress"])
        return {"energy": float(e[0]), "energy_std": float(e_std[0]), "forces": f.reshape(n, 3),
                "forces_std": f_std.reshape(n, 3), "forces_std_epistemic": f_epi.reshape(n, 3), "stress": s,
                "stress_std": s_std}

    def atom_energy_std(self, atom_desc: np.ndarray) -> np.ndarray:
        """Epistemic std (eV) of each atom's energy, from its per-atom bispectrum row (linear models):
        the per-atom uncertainty used on MD frames."""
        if self.settings.descriptor.quadratic:
            raise ConfigError("per-atom uncertainty needs per-atom quadratic rows. Fix: list the linear model "
                              "first in mlip.models (the first model feeds MD)")
        return np.sqrt(np.einsum("ij,jk,ik->i", atom_desc, self.covariance_, atom_desc).clip(0))

    def snapcoeff(self, element: str, coefficients: np.ndarray | None = None) -> str:
        """Text of the LAMMPS ``.snapcoeff`` file: the posterior mean, or ``coefficients`` (e.g. a draw)."""
        st = self.settings.descriptor
        lines = [f"# multiscale {'quadratic' if st.quadratic else 'linear'} SNAP (Bayesian posterior mean), {element}",
                 f"1 {len(self.coef_)}", f"{element} {st.element_radius} {st.element_weight}"]
        lines += [f"{float(c)!r}" for c in (self.coef_ if coefficients is None else coefficients)]
        return "\n".join(lines) + "\n"

    def sample_coefficients(self, n: int, seed: int = 0) -> np.ndarray:
        rng = np.random.default_rng(seed)
        return rng.multivariate_normal(self.coef_, self.covariance_, size=n, method="eigh")

    def hyperparameters(self) -> dict[str, Any]:
        return {"alpha": self.alpha_, "lambda": self.lambda_, "log_evidence": self.log_evidence_,
                "n_rows": self.n_rows_, "settings": self.settings.to_dict()}


def include_file(model: BayesianSNAP, element: str, stem: str = "snap") -> str:
    """Text of a LAMMPS include file (``include snap.mod``) defining the fitted potential: ``pair_style`` and
    ``pair_coeff`` lines naming ``<stem>.snapcoeff`` and ``<stem>.snapparam`` (the lines of
    :meth:`multiscale.lammps.Potential.snap`), for one atom type that is ``element``."""
    from ase.data import atomic_masses, atomic_numbers

    st = model.settings.descriptor
    kind = "quadratic" if st.quadratic else "linear"
    mass = float(atomic_masses[atomic_numbers[element]])
    pot = Potential.snap(f"{stem}.snapcoeff", f"{stem}.snapparam", element)
    return (f"# multiscale {kind} SNAP for {element} (Bayesian posterior mean, 2J = {st.twojmax}, cutoff "
            f"{st.cutoff:g} A), LAMMPS metal units\n"
            f"# In a LAMMPS input, after the box and atoms exist, with atom type 1 = {element} (mass {mass:.4f}):\n"
            f"#   include {stem}.mod\n"
            f"# LAMMPS opens {stem}.snapcoeff and {stem}.snapparam from its working directory, or from the folder\n"
            f"# named by the environment variable LAMMPS_POTENTIALS (set it to this folder to run elsewhere).\n"
            f"{pot.commands()}\n")


def write_potential_files(model: BayesianSNAP, element: str, directory: str | Path,
                          stem: str = "snap") -> tuple[Path, Path, Path]:
    """The LAMMPS files of a fitted model in ``directory``, written atomically: ``<stem>.snapcoeff``,
    ``<stem>.snapparam`` and the include file ``<stem>.mod`` (:func:`include_file`); returns their paths."""
    d = Path(directory)
    coeff, param, mod = d / f"{stem}.snapcoeff", d / f"{stem}.snapparam", d / f"{stem}.mod"
    write_text_atomic(coeff, model.snapcoeff(element))
    write_text_atomic(param, model.settings.descriptor.snapparam())
    write_text_atomic(mod, include_file(model, element, stem))
    return coeff, param, mod
