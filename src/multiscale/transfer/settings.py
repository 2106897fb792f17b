"""Settings of the transfer experiment (the ``transfer`` config section)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from multiscale.config import settings_from_dict
from multiscale.errors import ConfigError
from multiscale.material import Material

# The learning curves compared: the project's default prior and noise model; the default prior with the sources'
# noise model (which part of the gain is the noise model); the learned prior with the sources' noise model
PRIORS = ("default", "learned_noise", "learned")
PRIOR_LABELS = {"default": "default prior", "learned_noise": "default prior, learned noise model",
                "learned": "learned prior and noise model"}


@dataclass
class PoolSettings:
    """Each element's labelled configurations: an equation of state (``eos_points`` volumes within
    +-``eos_max_strain``: the element's length and energy scales, and every curve's first DFT calls), ``candidates``
    and ``test`` conventional cubic cells (``supercell`` repeats), each under a random strain (components uniform in
    +-``strain``) and rattled by a normal displacement of std drawn uniformly in ``rattle`` (Angstrom, scaled by
    the element's nearest-neighbour distance over 2.5 Angstrom, so every element is displaced alike)."""

    eos_points: int = 5
    eos_max_strain: float = 0.03
    candidates: int = 16
    test: int = 8
    supercell: list[int] = field(default_factory=lambda: [1, 1, 1])
    strain: float = 0.02
    rattle: list[float] = field(default_factory=lambda: [0.03, 0.12])
    seed: int = 5


@dataclass
class TransferSettings:
    """The ``transfer`` section: ``target`` (None: no transfer experiment) and the ``sources`` whose pools teach
    the prior, each element in its reference crystal at ASE's reference lattice constant as the EOS centre;
    ``dft``: the DFT settings every pool is labelled at (a partial ``dft`` section over the study's); SNAP
    band limit ``twojmax`` and cutoff ``cutoff_nn`` in nearest-neighbour distances of the reduced crystal;
    ``prior_shrinkage``: the learned covariance gets this fraction of each coefficient's spread as a diagonal
    width (squared), so directions the few sources do not span are not frozen;
    ``target_force_rmse`` (eV/Angstrom; None: 1.25 x the default prior's error after the whole pool) the error
    the DFT calls are counted to; ``bootstrap`` resamples of the test atoms for the RMSE intervals."""

    target: str | None = None
    sources: list[str] = field(default_factory=list)
    dft: dict[str, Any] = field(default_factory=lambda: {"ecut": 250.0, "kpt_density": 2.0, "smearing": 0.2,
                                                         "smearing_method": "marzari-vanderbilt"})
    pool: PoolSettings = field(default_factory=PoolSettings)
    twojmax: int = 6
    cutoff_nn: float = 1.7
    prior_shrinkage: float = 0.3
    target_force_rmse: float | None = None
    bootstrap: int = 200
    seed: int = 11

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TransferSettings:
        return settings_from_dict(cls, d, "transfer")

    @property
    def elements(self) -> list[str]:
        """The sources, then the target."""
        return [*self.sources, self.target] if self.target else []

    def check(self) -> None:
        """A target needs at least two sources (a prior's spread needs two), none of them the target, each an
        element whose reference crystal a study builds. Raises :class:`ConfigError` naming the key and fix."""
        if self.target is None:
            return
        if len(set(self.sources)) < 2:
            raise ConfigError(f"transfer.sources = {self.sources}: the prior's spread needs at least two source "
                              f"elements. Fix: list two or more, e.g. [Cu, Au, Pd]")
        if self.target in self.sources:
            raise ConfigError(f"transfer.sources contains the target {self.target}: a held-out element must not "
                              f"teach its own prior. Fix: remove it from transfer.sources")
        for key, element in [("target", self.target)] + [(f"sources[{i}]", e) for i, e in enumerate(self.sources)]:
            try:
                material_of(element).check()
            except ConfigError as exc:
                raise ConfigError(f"transfer.{key}: {exc}") from None


def material_of(element: str) -> Material:
    """The element in its reference crystal at ASE's reference lattice constant (``ase.data.reference_states``).
    Raises :class:`ConfigError` for an unknown element or one without a reference crystal."""
    from ase.data import atomic_numbers, reference_states

    if element not in atomic_numbers:
        raise ConfigError(f"'{element}' is not a chemical element. Fix: a chemical symbol, e.g. Cu")
    ref = reference_states[atomic_numbers[element]] or {}
    if "a" not in ref or "symmetry" not in ref:
        raise ConfigError(f"{element} has no cubic reference crystal in ase.data.reference_states. Fix: an fcc or "
                          f"bcc metal, e.g. Cu, Ag, Ta")
    return Material(element, str(ref["symmetry"]), float(ref["a"]))
