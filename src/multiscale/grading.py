"""Extrapolation grade: how far an atomic environment lies outside the potential's training data.

The grade of an atom is the Mahalanobis distance of its (linear) bispectrum from the training atoms' bispectra,
divided by the largest such distance of a training atom, so grade <= 1 inside the training data's extent and
grade > :data:`EXTRAPOLATION_THRESHOLD` marks an extrapolation. This is the D-optimality idea of pacemaker's
extrapolation grade (Lysogorskiy et al., npj Comput. Mater. 2023) in its simplest, descriptor-space form; no
maintained library computes it on LAMMPS bispectrum rows, so it is written here, with scikit-learn's estimator
contract (``fit`` returns self, learned attributes end in ``_``).
"""

from __future__ import annotations

import numpy as np

from multiscale.errors import ArtifactError

# Grade above which an atom is an extrapolation: the default of ``mlip.extrapolation_threshold`` (config schema),
# of the specimen's trust monitor and of every report that lacks the potential's own setting.
EXTRAPOLATION_THRESHOLD = 1.5


class Grader:
    """Extrapolation grade of per-atom descriptor rows (n_atoms, 1 + n_bispectrum; column 0 is the constant).

    ``ridge`` regularises directions the training data never explored (added to the covariance of the
    standardised descriptors)."""

    def __init__(self, ridge: float = 1e-6):
        self.ridge = ridge

    def fit(self, train_atoms: np.ndarray) -> Grader:
        """Learn mean_, scale_, inverse_ (inverse ridged covariance of standardised rows) and edge_ (largest
        training distance) from the training atoms' rows. Raises :class:`ArtifactError` on no rows."""
        x = np.asarray(train_atoms, float)[:, 1:]  # drop the constant column
        if len(x) == 0:
            raise ArtifactError("extrapolation grader: no training atoms to fit on (empty training split)")
        self.mean_ = x.mean(axis=0)
        self.scale_ = x.std(axis=0) + 1e-12
        z = (x - self.mean_) / self.scale_
        cov = np.cov(z, rowvar=False) if len(z) > 1 else np.eye(z.shape[1])
        cov = np.atleast_2d(cov) + self.ridge * np.eye(z.shape[1])
        self.inverse_ = np.linalg.inv(cov)
        self.edge_ = 1.0
        self.edge_ = max(float(self.distance(train_atoms).max()), 1e-12)
        return self

    @classmethod
    def from_arrays(cls, mean: np.ndarray, scale: np.ndarray, inverse: np.ndarray, edge: float) -> Grader:
        """A fitted grader from stored attributes (as in the ``potential`` artifact)."""
        g = cls()
        g.mean_, g.scale_, g.inverse_, g.edge_ = np.asarray(mean), np.asarray(scale), np.asarray(inverse), float(edge)
        return g

    def distance(self, atoms: np.ndarray) -> np.ndarray:
        """Mahalanobis distance (n_atoms,) of descriptor rows from the training mean."""
        z = (np.asarray(atoms, float)[:, 1:] - self.mean_) / self.scale_
        return np.sqrt(np.einsum("ij,jk,ik->i", z, self.inverse_, z).clip(0))

    def grade(self, atoms: np.ndarray) -> np.ndarray:
        """Extrapolation grade (n_atoms,): distance / the largest training distance."""
        return self.distance(atoms) / self.edge_
